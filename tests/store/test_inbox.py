"""The receive side: messages, long-message reassembly, reports, calls."""

import random
import sqlite3
import tempfile
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.codec import pdu
from agent.model import CallRecord, IncomingSms
from agent.model import NewMessage
from agent.store.queue import Store

from .conftest import SHANGHAI, Clock, deliver, report, send, sync_of_commit, traced


def inbox(store, where="1"):
    with sqlite3.connect(store.path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(f"SELECT * FROM smsserver_in WHERE {where} ORDER BY id")]


def test_single_message(store):
    [sms] = deliver("Hello there", scts=datetime(2024, 5, 1, 12, 0, 5, tzinfo=SHANGHAI))
    with traced(store) as statements:
        new_id = store.inbox.store_sms(sms)
    assert sync_of_commit(statements) == ["FULL"]
    [row] = inbox(store)
    assert row["id"] == new_id
    assert (row["type"], row["originator"], row["encoding"], row["text"], row["gateway_id"], row["line"]) == \
        ("I", "+8613800000001", "7", "Hello there", "G1", "G1")
    assert (row["message_date"], row["receive_date"], row["parts"], row["process"]) == \
        ("2024-05-01 12:00:05", "2024-05-01 12:00:00", 1, 0)
    assert row["pdu"] == sms.pdu and row["mo_key"].startswith("G1|+8613800000001|2024-05-01T12:00:05+08:00|")
    assert store.inbox.store_sms(sms) is None  # read again before it was deleted: stored once
    assert len(inbox(store)) == 1


def test_same_second_different_texts_are_both_kept(store):
    [a] = deliver("one")
    [b] = deliver("two")
    assert store.inbox.store_sms(a) and store.inbox.store_sms(b)
    [c] = deliver("one", line="G2")
    assert store.inbox.store_sms(c)
    assert [r["text"] for r in inbox(store)] == ["one", "two", "one"]


def test_encodings(store):
    for text, enc, want in (("中文", None, "U"), ("abc", "8bit", "8")):
        [sms] = deliver(text, encoding=enc)
        store.inbox.store_sms(sms)
        assert inbox(store)[-1]["encoding"] == want and inbox(store)[-1]["text"] == text


def test_multipart_in_any_order_with_repeats(store):
    text = "Long message " * 40  # 520 characters: 4 parts
    parts = deliver(text)
    assert len(parts) == 4
    assert store.inbox.store_sms(parts[2]) is None
    assert store.inbox.store_sms(parts[0]) is None
    assert store.inbox.store_sms(parts[2]) is None  # repeated part
    assert store.inbox.store_sms(parts[3]) is None
    new_id = store.inbox.store_sms(parts[1])
    [row] = inbox(store)
    assert (row["id"], row["text"], row["parts"], row["type"], row["error"]) == (new_id, text, 4, "I", None)
    assert row["pdu"] == ",".join(p.pdu for p in parts)
    for part in parts:  # a part read again after its message was assembled
        assert store.inbox.store_sms(part) is None
    assert len(inbox(store)) == 1
    assert store.inbox.flush_stale_parts(0) == 0


def test_reference_reused_by_another_sender_or_total_is_another_message(store):
    a = deliver("A" * 200, sender="111", ref=9)
    b = deliver("B" * 200, sender="222", ref=9)
    c = deliver("C" * 400, sender="111", ref=9)
    for sms in (a[0], b[0], c[0], c[1], a[1], b[1], c[2]):
        store.inbox.store_sms(sms)
    assert sorted(r["text"] for r in inbox(store)) == ["A" * 200, "B" * 200, "C" * 400]


def test_stale_parts_are_flushed_with_gaps(store, clock):
    parts = deliver("x" * 153 + "y" * 153 + "z" * 10)
    store.inbox.store_sms(parts[0])
    store.inbox.store_sms(parts[2])
    assert store.inbox.flush_stale_parts(60) == 0
    clock.advance(61)
    assert store.inbox.flush_stale_parts(60) == 1
    [row] = inbox(store)
    assert row["text"] == "x" * 153 + "…" + "z" * 10
    assert row["error"] == "incomplete: part(s) 2 of 3 missing" and row["parts"] == 3
    assert store.inbox.flush_stale_parts(0) == 0
    assert store.inbox.store_sms(parts[0]) is None  # already delivered in the partial row


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), min_size=161, max_size=400),
       data=st.data())
def test_any_interleaving_reassembles_exactly_once(text, data):
    parts = deliver(text, ref=200)
    order = data.draw(st.permutations(list(range(len(parts)))))
    repeats = data.draw(st.lists(st.integers(0, len(parts) - 1), max_size=6))
    sequence = list(order)
    for r in repeats:  # repeats land anywhere, also after completion
        sequence.insert(data.draw(st.integers(0, len(sequence))), r)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "p.db", timezone=SHANGHAI, clock=Clock())
        store.open()
        results = [store.inbox.store_sms(parts[i]) for i in sequence]
        rows = inbox(store)
        store.close()
    assert [r["text"] for r in rows] == [text]
    assert [x for x in results if x is not None] == [rows[0]["id"]]


def test_undecodable_is_kept_raw(store):
    sms = IncomingSms("G2", "07911326040000F0ZZ", None, error="PDU is not hex")
    new_id = store.inbox.store_sms(sms)
    [row] = inbox(store)
    assert (row["id"], row["type"], row["text"], row["encoding"], row["pdu"], row["error"], row["gateway_id"]) == \
        (new_id, "I", "", "8", "07911326040000F0ZZ", "PDU is not hex", "G2")
    assert store.inbox.store_sms(sms) is None


def test_submit_from_storage_is_kept_as_outbound(store):
    hex_ = pdu.encode_submit("13600000000", "draft").hex
    new_id = store.inbox.store_sms(IncomingSms("G1", hex_, pdu.decode(hex_)))
    [row] = inbox(store)
    assert (row["id"], row["type"], row["originator"], row["text"]) == (new_id, "O", "13600000000", "draft")
    assert store.inbox.store_sms(IncomingSms("G1", hex_, pdu.decode(hex_))) is None


def sent_message(store, refs, *, line="G1", recipient="13600000000"):
    [i] = send(store, NewMessage(recipient, "x" * (153 * len(refs))), line=line, refs=[tuple(refs)])
    return i


def test_report_matches_line_and_reference(store, clock):
    i = sent_message(store, [17])
    other = sent_message(store, [17], line="G2")
    assert store.inbox.store_report(report(18)) is None
    assert store.message(i)["delivery"] is None
    with traced(store) as statements:
        assert store.inbox.store_report(report(17)) == i
    assert sync_of_commit(statements) == ["FULL"]
    row = store.message(i)
    assert (row["delivery"], row["delivered_date"]) == ("delivered", "2024-05-01 12:01:30")
    assert store.message(other)["delivery"] is None
    r = inbox(store, "type = 'S' AND message_id IS NOT NULL")[0]
    assert (r["originator"], r["original_ref_no"], r["original_receive_date"], r["report_status"], r["text"]) == \
        ("13600000000", "17", "2024-05-01 12:01:30", 0, "delivered")
    assert store.inbox.store_report(report(17)) is None  # the same report again
    assert len(inbox(store, "type = 'S'")) == 2


def test_report_window_and_newest_wins(store, clock):
    old = sent_message(store, [5])
    clock.advance(3600)
    new = sent_message(store, [5])
    assert store.inbox.store_report(report(5)) == new
    clock.advance(73 * 3600)
    assert store.inbox.store_report(report(5, minute=2)) is None  # both outside 72 h
    assert store.inbox.store_report(report(5, minute=3), window_hours=100) == old  # new has its final report
    assert store.message(old)["delivery"] == "delivered"
    assert store.inbox.store_report(report(5, minute=4), window_hours=100) == new  # both final: the newest


def test_report_prefers_the_matching_recipient(store):
    mine = sent_message(store, [9], recipient="+8613600000001")
    sent_message(store, [9], recipient="13700000000")  # newer, same line and reference
    assert store.inbox.store_report(report(9, recipient="13600000001")) == mine


def test_multipart_delivery_is_final_when_every_part_is(store):
    ok = sent_message(store, [1, 2, 3])
    assert store.inbox.store_report(report(1)) == ok
    assert store.message(ok)["delivery"] == "pending"
    store.inbox.store_report(report(2, status=0x21))  # still trying: not final
    store.inbox.store_report(report(3))
    assert store.message(ok)["delivery"] == "pending"
    store.inbox.store_report(report(2, status=0x00, minute=5))
    assert store.message(ok)["delivery"] == "delivered"
    store.inbox.store_report(report(2, status=0x22, minute=6))  # a late 'still trying' does not undo it
    assert store.message(ok)["delivery"] == "delivered"
    bad = sent_message(store, [11, 12])
    store.inbox.store_report(report(11))
    store.inbox.store_report(report(12, status=0x41))
    assert store.message(bad)["delivery"] == "failed"


def test_status_report_read_as_a_message(store):
    i = sent_message(store, [40])
    r = report(40)
    new_id = store.inbox.store_sms(IncomingSms("G1", r.pdu, pdu.decode(r.pdu)))
    [row] = inbox(store, "type = 'S'")
    assert (row["id"], row["message_id"]) == (new_id, i)
    assert store.message(i)["delivery"] == "delivered"


def test_calls(store):
    started = datetime(2024, 5, 1, 13, 0, 0, tzinfo=SHANGHAI)
    a = store.inbox.store_call(CallRecord("G1", "+8613800000001", started, rings=3))
    b = store.inbox.store_call(CallRecord("G2", "", started))
    with sqlite3.connect(store.path) as conn:
        rows = conn.execute("SELECT id, call_date, gateway_id, caller_id, rings FROM smsserver_calls").fetchall()
    assert rows == [(a, "2024-05-01 13:00:00", "G1", "+8613800000001", 3), (b, "2024-05-01 13:00:00", "G2", "", 1)]


def test_random_arrival_of_many_messages(store):
    rng = random.Random(7)
    texts = [f"message {n} " * rng.randint(1, 60) for n in range(30)]
    smss = [sms for n, t in enumerate(texts) for sms in deliver(t, sender=f"+86138{n:08d}", ref=n)]
    rng.shuffle(smss)
    for sms in smss + smss[:10]:
        store.inbox.store_sms(sms)
    assert sorted(r["text"] for r in inbox(store)) == sorted(texts)
