"""The pure routing rule, table-tested."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.routing import Candidate, LineSlot, remaining, retry_delay, route

NOW = 1_800_000_000.0
L1, L2, L3, L4 = (LineSlot(f"L{i}", provider="CMCC" if i <= 2 else "CU") for i in range(1, 5))


def names(plan):
    return [(m.id, line.name) for m, line in plan.assignments]


@pytest.mark.parametrize(
    "msgs, idle, expected",
    [
        # round robin: messages take idle lines in the order the lines wait
        ([Candidate(1, "a"), Candidate(2, "b"), Candidate(3, "c")], [L3, L1, L2], [(1, "L3"), (2, "L1"), (3, "L2")]),
        # more messages than lines: the rest wait
        ([Candidate(i, "x") for i in range(1, 6)], [L1, L2], [(1, "L1"), (2, "L2")]),
        # priority first, then oldest
        ([Candidate(1, "a"), Candidate(2, "b", priority=5), Candidate(3, "c", priority=5)], [L1, L2],
         [(2, "L1"), (3, "L2")]),
        # pinned line
        ([Candidate(1, "a", gateway="L2"), Candidate(2, "b")], [L1, L2], [(1, "L2"), (2, "L1")]),
        # pinned to a busy line: waits, does not block others
        ([Candidate(1, "a", gateway="L4"), Candidate(2, "b")], [L1], [(2, "L1")]),
        # provider group
        ([Candidate(1, "a", provider="CU"), Candidate(2, "b", provider="CMCC")], [L1, L3], [(1, "L3"), (2, "L1")]),
        # pin wins over provider
        ([Candidate(1, "a", gateway="L1", provider="CU")], [L3, L1], [(1, "L1")]),
        # unknown provider: nothing fits, waits
        ([Candidate(1, "a", provider="CT")], [L1, L3], []),
        # quota: a line without room for every part is skipped
        ([Candidate(1, "a", parts=3)], [LineSlot("Q", daily_left=2), L2], [(1, "L2")]),
        ([Candidate(1, "a", parts=3)], [LineSlot("Q", total_left=2)], []),
        ([Candidate(1, "a", parts=2)], [LineSlot("Q", daily_left=2, total_left=5)], [(1, "Q")]),
        # a retried message avoids the line that failed it when it can
        ([Candidate(1, "a", last_line="L1")], [L1, L2], [(1, "L2")]),
        ([Candidate(1, "a", last_line="L1")], [L1], [(1, "L1")]),
        # not yet due: scheduled or backing off
        ([Candidate(1, "a", scheduled=NOW + 60), Candidate(2, "b", not_before=NOW + 1), Candidate(3, "c")], [L1, L2],
         [(3, "L1")]),
        ([Candidate(1, "a", scheduled=NOW - 60, not_before=NOW)], [L1], [(1, "L1")]),
        # no idle line
        ([Candidate(1, "a")], [], []),
    ],
)
def test_route(msgs, idle, expected):
    assert names(route(msgs, idle, NOW)) == expected


def test_expired_messages_are_failed_never_sent_late():
    plan = route([Candidate(1, "a", expires=NOW), Candidate(2, "b", expires=NOW + 1)], [L1], NOW)
    assert [m.id for m in plan.expired] == [1]
    assert names(plan) == [(2, "L1")]


def test_expiry_is_found_even_with_no_idle_line():
    plan = route([Candidate(1, "a", expires=NOW - 5)], [], NOW)
    assert [m.id for m in plan.expired] == [1]


@given(
    st.lists(st.tuples(st.integers(-2, 2), st.sampled_from(["*", "L1", "L2", "L9"]), st.sampled_from(["", "CMCC", "CU"]),
                       st.integers(1, 4)), max_size=30),
    st.permutations([L1, L2, L3, L4]),
    st.integers(0, 4),
)
def test_route_invariants(specs, lines, n_idle):
    msgs = [Candidate(i + 1, "x", gateway=g, provider=p, priority=pr, parts=parts)
            for i, (pr, g, p, parts) in enumerate(specs)]
    idle = lines[:n_idle]
    plan = route(msgs, idle, NOW)
    used = [line.name for _, line in plan.assignments]
    assert len(used) == len(set(used))  # one message per line
    for msg, line in plan.assignments:
        assert line in idle
        if msg.gateway != "*":
            assert line.name == msg.gateway
        elif msg.provider:
            assert line.provider == msg.provider
    # no message that fits a line left idle was skipped for a lower-ranked one
    left = [line for line in idle if line.name not in used]
    chosen = {m.id for m, _ in plan.assignments}
    for msg in msgs:
        if msg.id not in chosen:
            for line in left:
                assert not (msg.gateway in ("*", line.name) and (msg.gateway != "*" or not msg.provider
                                                                  or msg.provider == line.provider))


def test_retry_delay_doubles_and_caps():
    assert [retry_delay(e, base=10, maximum=60) for e in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


def test_remaining():
    assert remaining(-1, 500) is None
    assert remaining(100, 40) == 60
    assert remaining(100, 140) == 0
