"""Receipts of long messages, whatever the order of parts, reports and the outcome.

A line records each part as it leaves (``record_part``); status reports can
come before the router records the message's outcome, between parts, or
after.  Every order must end with the same delivery, one receipt, told after
the result, and the Jindi report rows joined to the message's ``ref_no``.
"""

from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.model import NewMessage
from agent.store.queue import Assignment, Outcome, Store

from .conftest import SHANGHAI, Clock, report

RECIPIENT = "13600000000"


def _queued(store: Store, parts: int) -> tuple[int, int]:
    [i] = store.enqueue([NewMessage(RECIPIENT, "y" * (153 * parts))]).ids
    row = store.message(i)
    assert row["parts"] == parts
    store.dispatch.mark_queued([Assignment(i, "G1", "8986001", parts)])
    return i, parts


def _events(store: Store) -> list[tuple[str, object]]:
    return [(item.kind, item.payload.get("delivered")) for item in store.journal.read("t", ("result", "receipt"))]


def _report_rows(store: Store) -> list[tuple]:
    with sqlite3.connect(store.path) as conn:
        return conn.execute("SELECT message_id, original_ref_no FROM smsserver_in WHERE type = 'S' ORDER BY id").fetchall()


@st.composite
def orders(draw: st.DrawFn) -> tuple[int, list[tuple[str, int]], int | None]:
    """A message of 2..10 parts and one possible order of its events: parts leave
    in sequence, each part's report comes any time after it left, the outcome
    any time after the last part left.  Optionally one part's report is a
    permanent failure."""
    n = draw(st.integers(2, 10))
    events: list[tuple[str, int]] = []
    pending_reports: list[int] = []
    for seq in range(1, n + 1):
        events.append(("part", seq))
        pending_reports.append(seq)
        # some reports come at once, between the parts
        while pending_reports and draw(st.booleans()):
            events.append(("report", pending_reports.pop(draw(st.integers(0, len(pending_reports) - 1)))))
    tail: list[tuple[str, int]] = [("report", s) for s in pending_reports] + [("outcome", 0)]
    tail = draw(st.permutations(tail))
    failing = draw(st.one_of(st.none(), st.integers(1, n)))
    return n, events + list(tail), failing


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=orders())
def test_any_order_of_parts_reports_and_outcome_gives_one_receipt(tmp_path_factory, case):
    n, events, failing = case
    store = Store(tmp_path_factory.mktemp("order") / "agent.db", timezone=SHANGHAI, clock=Clock())
    store.open()
    try:
        i, _ = _queued(store, n)
        refs = tuple(100 + seq for seq in range(1, n + 1))
        for kind, seq in events:
            if kind == "part":
                assert store.dispatch.record_part(i, seq, "G1", refs[seq - 1])
            elif kind == "report":
                status = 0x41 if seq == failing else 0
                assert store.inbox.store_report(report(refs[seq - 1], status=status, minute=seq)) == i
            else:
                store.dispatch.record_outcomes([Outcome(i, "G1", "8986001", "sent", refs, n)])
        row = store.message(i)
        assert row["status"] == "S" and row["ref_no"] == ",".join(map(str, refs))
        assert row["delivery"] == ("failed" if failing else "delivered")
        assert _events(store) == [("result", None), ("receipt", not failing)]
        assert _report_rows(store) == [(i, row["ref_no"])] * n
        # A report told again, or a late one, changes nothing and tells nothing.
        assert store.inbox.store_report(report(refs[0], status=0x20, minute=59)) == i
        assert store.message(i)["delivery"] == row["delivery"]
        assert _events(store) == []
    finally:
        store.close()


def test_a_report_before_the_outcome_waits_for_it(store):
    i, _ = _queued(store, 3)
    for seq, ref in enumerate((7, 8, 9), 1):
        store.dispatch.record_part(i, seq, "G1", ref)
        assert store.inbox.store_report(report(ref, minute=seq)) == i
    assert store.message(i)["delivery"] is None  # not sent yet: nothing final is told
    assert _events(store) == []
    store.dispatch.record_outcomes([Outcome(i, "G1", "8986001", "sent", (7, 8, 9), 3)])
    row = store.message(i)
    assert (row["delivery"], row["delivered_date"]) == ("delivered", "2024-05-01 12:00:00")
    assert _events(store) == [("result", None), ("receipt", True)]


def test_one_failed_part_fails_the_message_at_once(store):
    i, _ = _queued(store, 3)
    for seq, ref in enumerate((7, 8, 9), 1):
        store.dispatch.record_part(i, seq, "G1", ref)
    store.dispatch.record_outcomes([Outcome(i, "G1", "8986001", "sent", (7, 8, 9), 3)])
    assert store.inbox.store_report(report(7, minute=1)) == i
    assert store.message(i)["delivery"] == "pending"
    assert store.inbox.store_report(report(8, status=0x45, minute=2)) == i
    assert store.message(i)["delivery"] == "failed"
    assert store.inbox.store_report(report(9, minute=3)) == i
    assert store.message(i)["delivery"] == "failed"
    assert _events(store) == [("result", None), ("receipt", False)]


def test_a_part_is_recorded_only_while_its_message_is_being_sent(store):
    [i] = store.enqueue([NewMessage(RECIPIENT, "z")]).ids
    assert not store.dispatch.record_part(i, 1, "G1", 5)  # still waiting: not ours to record
    store.dispatch.mark_queued([Assignment(i, "G1", "8986001", 1)])
    assert store.dispatch.record_part(i, 1, "G1", 5)
    assert not store.dispatch.record_part(i, 1, "G1", 5)  # told twice: one row


def test_a_new_attempt_forgets_the_parts_of_the_last(store):
    i, _ = _queued(store, 2)
    store.dispatch.record_part(i, 1, "G1", 40)
    store.dispatch.record_outcomes([Outcome(i, "G1", "8986001", "retry", (40,), 2, retry_at=0.0)])
    store.dispatch.mark_queued([Assignment(i, "G2", "8986002", 2)])
    store.dispatch.record_part(i, 1, "G2", 50)
    store.dispatch.record_part(i, 2, "G2", 51)
    assert store.inbox.store_report(report(40, minute=1)) is None  # the first attempt's part is gone
    store.dispatch.record_outcomes([Outcome(i, "G2", "8986002", "sent", (50, 51), 2)])
    assert store.inbox.store_report(report(50, line="G2", minute=2)) == i
    assert store.inbox.store_report(report(51, line="G2", minute=3)) == i
    assert store.message(i)["delivery"] == "delivered"


def test_a_report_naming_another_recipient_is_not_attached(store):
    i, _ = _queued(store, 1)
    store.dispatch.record_part(i, 1, "G1", 12)
    assert store.inbox.store_report(report(12, recipient="13999999999")) is None
    assert store.inbox.store_report(report(12)) == i
