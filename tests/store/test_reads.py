"""Reading received messages per consumer: each sees each message once; line filters hide nothing."""

import sqlite3

import pytest

from agent.model import NewMessage
from agent.store.queue import Store

from .conftest import deliver, report, send, sync_of_commit, traced


def receive(store, *specs):
    """Store one single-part message per (line, text); return their ids."""
    ids = []
    for line, text in specs:
        [sms] = deliver(text, line=line)
        ids.append(store.inbox.store_sms(sms))
    return ids


def texts(rows):
    return [r["text"] for r in rows]


def test_each_consumer_reads_each_message_once(store):
    receive(store, ("G1", "a"), ("G2", "b"))
    assert texts(store.reads.read_inbox("app1")) == ["a", "b"]
    assert store.reads.read_inbox("app1") == []
    assert texts(store.reads.read_inbox("app2")) == ["a", "b"]  # others keep theirs
    receive(store, ("G1", "c"))
    assert texts(store.reads.read_inbox("app1")) == ["c"]
    assert texts(store.reads.read_inbox("app2")) == ["c"]


def test_rows_are_whole_and_oldest_first_with_a_limit(store):
    receive(store, *[("G1", f"m{i}") for i in range(7)])
    first = store.reads.read_inbox("app", limit=3)
    assert texts(first) == ["m0", "m1", "m2"]
    assert {"id", "originator", "type", "encoding", "message_date", "receive_date", "text", "gateway_id"} <= set(first[0])
    assert first[0]["type"] == "I" and first[0]["gateway_id"] == "G1"
    assert texts(store.reads.read_inbox("app", limit=3)) == ["m3", "m4", "m5"]
    assert texts(store.reads.read_inbox("app", limit=3)) == ["m6"]


def test_status_reports_and_submits_are_not_read(store):
    [i] = send(store, NewMessage("13600000000"), refs=[[5]])
    assert store.inbox.store_report(report(5)) == i
    receive(store, ("G1", "hello"))
    assert texts(store.reads.read_inbox("app")) == ["hello"]


def test_a_line_filter_hides_nothing_from_a_later_read(store):
    receive(store, ("G1", "a1"), ("G2", "b1"), ("G1", "a2"), ("G2", "b2"))
    assert texts(store.reads.read_inbox("app", line="G2")) == ["b1", "b2"]
    receive(store, ("G2", "b3"), ("G1", "a3"))
    assert texts(store.reads.read_inbox("app")) == ["a1", "a2", "b3", "a3"]  # b1, b2 not again
    assert store.reads.read_inbox("app") == [] and store.reads.read_inbox("app", line="G1") == []
    # the set of ids read above the cursor folded away once the gap closed
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cursor_reads").fetchone()[0] == 0
        assert conn.execute("SELECT last_id FROM cursors WHERE consumer = 'app'").fetchone()[0] == 6


def test_filtered_reads_of_two_consumers_and_lines(store):
    receive(store, ("G1", "a1"), ("G2", "b1"), ("G3", "c1"))
    assert texts(store.reads.read_inbox("x", line="G1")) == ["a1"]
    assert texts(store.reads.read_inbox("y", line="G2")) == ["b1"]
    assert texts(store.reads.read_inbox("x", line="G3")) == ["c1"]
    assert texts(store.reads.read_inbox("x", line="G1")) == []
    assert texts(store.reads.read_inbox("x")) == ["b1"]
    assert texts(store.reads.read_inbox("y")) == ["a1", "c1"]
    assert store.reads.read_inbox("x", line="G9") == []


def test_a_read_is_durable_and_idle_polls_take_no_write_lock(store):
    receive(store, ("G1", "a"))
    with traced(store) as statements:
        store.reads.read_inbox("app")
    assert sync_of_commit(statements) == ["FULL"]
    with traced(store) as statements:
        assert store.reads.read_inbox("app") == []
    assert not [s for s in statements if s.upper().startswith("BEGIN")]


def test_reads_survive_a_reopen_and_purge(tmp_path, clock):
    path = tmp_path / "a.db"
    store = Store(path, clock=clock)
    store.open()
    receive(store, ("G1", "a1"), ("G2", "b1"))
    assert texts(store.reads.read_inbox("app", line="G2")) == ["b1"]
    store.close()
    again = Store(path, clock=clock)
    assert texts(again.reads.read_inbox("app", line="G2")) == []
    assert texts(again.reads.read_inbox("other", line="G2")) == ["b1"]
    clock.advance(40 * 86400)
    again.purge(30)  # both rows go, and the reads remembered of them
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cursor_reads").fetchone()[0] == 0
    receive(again, ("G1", "c1"))
    assert texts(again.reads.read_inbox("app")) == ["c1"] and texts(again.reads.read_inbox("other")) == ["c1"]


def test_bad_arguments(store):
    with pytest.raises(ValueError):
        store.reads.read_inbox("")
    with pytest.raises(ValueError):
        store.reads.read_inbox("app", limit=0)
