"""Sending through GoIP channels: each accepted message goes out once (the box's ledger of
network sends), spread round robin, with and without loss and duplication of datagrams."""

from __future__ import annotations

from collections import Counter

from agent.model import NewMessage

from ..waiting import wait_until


def _messages(n: int, tag: str) -> list[NewMessage]:
    return [NewMessage(f"1391234{i:04d}", f"{tag} {i} 你好;a:b") for i in range(n)]


def test_40_messages_over_4_channels_each_sent_once_round_robin(make_rig):
    rig = make_rig(4, box={"send_delay": 0.05})
    msgs = _messages(40, "rr")
    ids = rig.core.submit(msgs, source="test").ids
    rows = rig.wait_rows(ids, lambda r: r["status"] == "S", timeout=30)
    assert rig.sent() == Counter({(m.recipient, m.text): 1 for m in msgs})  # every message once, nothing else
    assert Counter(r["line"] for r in rows) == {"ch1": 10, "ch2": 10, "ch3": 10, "ch4": 10}
    # Round robin: the first four go to four lines, and a line that sent goes to the back.
    assert len({r["line"] for r in rows[:4]}) == 4
    assert all(not r["in_doubt"] and r["errors"] == 0 for r in rows)
    # Each message's reference is the box's sms_no of that send (what its DELIVER will name).
    ledger = {(s.number, s.text): s for s in rig.box.ledger}
    channel = {f"ch{i}": f"goip0{i}" for i in range(1, 5)}
    for row, msg in zip(rows, msgs):
        sent = ledger[(msg.recipient, msg.text)]
        assert (sent.channel, row["ref_no"]) == (channel[row["line"]], str(sent.sms_no))
    assert sorted(s.sms_no for s in rig.box.ledger if s.channel == "goip01") == list(range(1, 11))


def test_loss_and_duplication_each_way_keep_exactly_once(make_rig):
    rig = make_rig(4, box={"send_delay": 0.05, "seed": 13})
    rig.box.loss(0.1, 0.1)
    rig.box.dup(0.1, 0.1)
    msgs = _messages(40, "lossy")
    ids = rig.core.submit(msgs, source="test").ids
    rows = rig.wait_rows(ids, lambda r: r["status"] == "S", timeout=60)
    faults = rig.box.faults
    assert all(faults[k] > 0 for k in ("dropped_in", "dropped_out", "duplicated_in", "duplicated_out")), faults
    sent = rig.sent()
    assert set(sent) == {(m.recipient, m.text) for m in msgs}  # every message went out, nothing else did
    by_text = {r["text"]: r for r in rows}
    twice = [text for (_, text), n in sent.items() if n > 1]
    # Only a message whose SEND the box never answered may go out again, and it is flagged.
    assert all(by_text[text]["in_doubt"] for text in twice), twice
    doubtful = [r for r in rows if r["in_doubt"]]
    assert len(doubtful) <= 2, [(r["id"], r["errors"]) for r in doubtful]
    assert len(twice) <= len(doubtful)
    assert Counter(r["line"] for r in rows).keys() == {"ch1", "ch2", "ch3", "ch4"}
    # DONE is sent again until the box echoes it: no session is left open on the box (it has five).
    wait_until(lambda: not any(rig.box.view(i).sessions for i in range(4)), 5,
               lambda: f"sessions left open: {[rig.box.view(i).sessions for i in range(4)]}")
