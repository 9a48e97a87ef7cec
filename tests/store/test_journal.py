"""The journal: results, receipts and received messages, read once per consumer by the pull dialects."""

import sqlite3
from datetime import datetime

import pytest

from agent.model import CallRecord
from agent.model import NewMessage
from agent.store.queue import Assignment, Outcome, Store

from .conftest import SHANGHAI, deliver, report, send, sync_of_commit, traced


def sql(store, statement):
    with sqlite3.connect(store.path) as conn:
        return conn.execute(statement).fetchall()


def summary(items):
    return [(i.kind, i.payload.get("message_id", i.payload.get("id"))) for i in items]


def test_everything_is_journaled_even_with_no_push_destination(store):
    [a] = send(store, NewMessage("13600000000", client_ref="ex-1", status_report=False), refs=[[5]])
    [b] = send(store, NewMessage("13600000001"), outcome="failed")
    store.inbox.store_report(report(5))
    mo = store.inbox.store_sms(deliver("Hello")[0])
    store.inbox.store_call(CallRecord("G1", "+8613900000000", datetime(2024, 5, 1, 12, 30, tzinfo=SHANGHAI)))
    items = store.journal.read("c", ("result", "receipt", "mo"))
    assert summary(items) == [("result", a), ("result", b), ("receipt", a), ("mo", mo)]  # calls are not journaled
    assert items[0].payload["client_ref"] == "ex-1" and items[0].payload["status_report"] is False
    assert items[1].payload["status"] == "failed"
    assert items[2].payload["delivered"] is True
    assert items[3].payload["text"] == "Hello"
    assert sql(store, "SELECT COUNT(*) FROM outbox") == [(0,)]  # no destination: no outbox rows


def test_each_item_once_per_consumer_and_consumers_are_independent(store):
    ids = [store.inbox.store_sms(deliver(f"m{n}", ref=n, sender=f"+86138000000{n:02d}")[0]) for n in range(5)]
    assert [i.payload["id"] for i in store.journal.read("a", ("mo",), limit=2)] == ids[:2]
    assert [i.payload["id"] for i in store.journal.read("a", ("mo",), limit=10)] == ids[2:]
    assert store.journal.read("a", ("mo",)) == []
    assert [i.payload["id"] for i in store.journal.read("b", ("mo",))] == ids  # b has its own cursor
    more = store.inbox.store_sms(deliver("later", ref=99)[0])
    assert [i.payload["id"] for i in store.journal.read("a", ("mo",))] == [more]


def test_a_consumer_of_some_kinds_skips_the_others_for_good(store):
    [a] = send(store, NewMessage("13600000000"), refs=[[5]])
    mo = store.inbox.store_sms(deliver("Hello")[0])
    store.inbox.store_report(report(5))
    assert summary(store.journal.read("reports", ("receipt",))) == [("receipt", a)]
    assert summary(store.journal.read("mos", ("mo",))) == [("mo", mo)]
    assert store.journal.read("reports", ("receipt",)) == []


def test_a_full_page_stops_the_cursor_at_its_last_item(store):
    mos = [store.inbox.store_sms(deliver(f"m{n}", ref=n, sender=f"+86138000000{n:02d}")[0]) for n in range(3)]
    [a] = send(store, NewMessage("13600000000"), refs=[[5]])
    assert summary(store.journal.read("c", ("mo",), limit=3)) == [("mo", m) for m in mos]
    assert summary(store.journal.read("c", ("result", "mo"))) == [("result", a)]  # not skipped by the full page


def test_since_skips_older_items(store, clock):
    old = store.inbox.store_sms(deliver("old", ref=1)[0])
    clock.advance(3600)
    new = store.inbox.store_sms(deliver("new", ref=2, sender="+8613800000099")[0])
    assert [i.payload["id"] for i in store.journal.read("c", ("mo",), since=clock.t - 60)] == [new]
    assert store.journal.read("c", ("mo",)) == []  # the older one was passed for good
    assert old < new


def test_reads_are_durable_and_a_poll_with_nothing_new_writes_nothing(store):
    store.inbox.store_sms(deliver("Hello")[0])
    with traced(store) as statements:
        assert len(store.journal.read("c", ("mo",))) == 1
    assert sync_of_commit(statements) == ["FULL"]
    with traced(store) as statements:
        assert store.journal.read("c", ("mo",)) == []
    assert sync_of_commit(statements) == []


def test_the_journal_commits_or_rolls_back_with_its_data(store):
    with sqlite3.connect(store.path) as conn:
        conn.execute("CREATE TRIGGER no_in BEFORE INSERT ON smsserver_in BEGIN SELECT RAISE(ABORT, 'full'); END")
    with pytest.raises(Exception, match="full"):
        store.inbox.store_sms(deliver("hi")[0])
    assert sql(store, "SELECT COUNT(*) FROM journal") == [(0,)]


def test_purge_removes_old_entries(store, clock):
    store.inbox.store_sms(deliver("old")[0])
    clock.advance(40 * 86400)
    store.inbox.store_sms(deliver("new", ref=3, sender="+8613800000055")[0])
    store.purge(30)
    assert [i.payload["text"] for i in store.journal.read("c", ("mo",))] == ["new"]


def test_bad_reads_are_refused(store):
    for consumer, kinds, limit in (("", ("mo",), 5), ("c", ("mo",), 0), ("c", ("call",), 5), ("c", (), 5)):
        with pytest.raises(ValueError):
            store.journal.read(consumer, kinds, limit=limit)


def test_a_retry_is_not_journaled(store):
    [i] = store.enqueue([NewMessage("13600000000")]).ids
    store.dispatch.mark_queued([Assignment(i, "G1", "8986", 1)])
    store.dispatch.record_outcomes([Outcome(i, "G1", "8986", "retry", retry_at=0.0)])
    assert store.journal.read("c", ("result",)) == []


def test_an_old_database_gains_the_journal(tmp_path):
    path = tmp_path / "old.db"
    s = Store(path)
    s.open()
    s.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE journal")
        conn.execute("DROP TABLE journal_cursors")
        conn.execute("DROP INDEX sent_parts_part")  # and what version 6 added
        conn.execute("ALTER TABLE submissions DROP COLUMN fingerprint")
        conn.execute("ALTER TABLE smsserver_out DROP COLUMN stored")
        conn.execute("DROP TABLE door_parts")  # and what version 7 added
        conn.execute("DELETE FROM schema_migrations WHERE version >= 5")
        conn.execute("PRAGMA user_version = 4")
    s = Store(path)
    s.open()
    s.inbox.store_sms(deliver("hi")[0])
    assert len(s.journal.read("c", ("mo",))) == 1
    s.close()


def test_sent_results_can_be_left_out_in_sql(store):
    sent = send(store, *(NewMessage(f"1360000000{n}") for n in range(3)))
    [failed] = send(store, NewMessage("13600000009"), outcome="failed")
    assert summary(store.journal.read("reports", ("result",), sent_results=False)) == [("result", failed)]
    assert summary(store.journal.read("all", ("result",))) == [("result", i) for i in (*sent, failed)]


def test_a_poll_moves_past_a_long_run_of_unwanted_entries_without_fsync(store, monkeypatch):
    from agent.store import journal

    monkeypatch.setattr(journal, "SKIP_AHEAD", 5)
    send(store, *(NewMessage(f"136000000{n:02d}") for n in range(4)))
    with traced(store) as statements:
        assert store.journal.read("reports", ("result",), sent_results=False) == []
    assert sync_of_commit(statements) == []  # 4 unwanted entries ahead: rescanning them is cheap
    send(store, *(NewMessage(f"137000000{n:02d}") for n in range(4)))
    with traced(store) as statements:
        assert store.journal.read("reports", ("result",), sent_results=False) == []
    assert sync_of_commit(statements) == ["NORMAL"]  # 8 ahead: the cursor moves past them
    assert sql(store, "SELECT last_id FROM journal_cursors WHERE consumer = 'reports'") == [(8,)]
    [failed] = send(store, NewMessage("13600000099"), outcome="failed")
    assert summary(store.journal.read("reports", ("result",), sent_results=False)) == [("result", failed)]
