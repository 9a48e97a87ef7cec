"""The outbox: events written with their data, per destination, and the delivery API."""

import sqlite3
from datetime import datetime

import pytest

from agent.model import CallRecord
from agent.model import NewMessage
from agent.store.queue import Assignment, Outcome, Store

from .conftest import SHANGHAI, T0, deliver, report, send

TARGETS = {"result": ["hook", "mqtt"], "receipt": ["hook"], "mo": ["hook", "mqtt"], "call": ["mqtt"]}


@pytest.fixture
def ostore(tmp_path, clock):
    s = Store(tmp_path / "agent.db", timezone=SHANGHAI, clock=clock, push_targets=TARGETS)
    s.open()
    yield s
    s.close()


def events(store, destination=None):
    """(destination, kind, payload) of every item, in id order."""
    out = []
    for name in [destination] if destination else sorted(store.outbox.stats()):
        out += [(i.destination, i.kind, i.payload) for i in store.outbox.next(name, 10_000)]
    return sorted(out, key=lambda e: (e[0], e[2].get("message_id", e[2].get("id"))))


def kinds(store, destination):
    return [(i.kind, i.payload.get("message_id", i.payload.get("id"))) for i in store.outbox.next(destination, 1000)]


def sql(store, statement):
    with sqlite3.connect(store.path) as conn:
        return conn.execute(statement).fetchall()


# --- what is written -------------------------------------------------------------------------


def test_a_sent_result_for_each_destination_wanting_it(ostore):
    acc = ostore.enqueue([NewMessage("13600000000", "hi", client_ref="c1")], task=True, source="goip")
    [i] = acc.ids
    send_queued(ostore, i, Outcome(i, "G1", "8986", "sent", (4,), 1))
    payload = {"message_id": i, "task_id": acc.task_id, "sub_task": f"{acc.task_id}.13600000000",
               "recipient": "13600000000", "line": "G1", "status": "sent", "error_code": None,
               "failure_cause": None, "client_ref": "c1", "in_doubt": False, "status_report": True, "at": "2024-05-01 12:00:00"}
    assert events(ostore) == [("hook", "result", payload), ("mqtt", "result", payload)]


def send_queued(store, i, outcome):
    store.dispatch.mark_queued([Assignment(i, "G1", "8986", store.message(i)["parts"])])
    store.dispatch.record_outcomes([outcome])


def test_results_of_failures_give_ups_and_expiry_but_not_retries(ostore, clock):
    a, b, c, d = ostore.enqueue([NewMessage(str(n)) for n in range(1, 5)]).ids
    send_queued(ostore, a, Outcome(a, "G1", "8986", "failed", error_code=1))
    send_queued(ostore, b, Outcome(b, "G1", "8986", "retry", error_code=38, retry_at=clock() + 60))
    assert kinds(ostore, "hook") == [("result", a)]
    clock.advance(61)
    send_queued(ostore, b, Outcome(b, "G1", "8986", "retry", error_code=38, give_up=True))
    assert ostore.expire([c, a]) == 1  # a is no longer waiting: no second result
    got = {e[2]["message_id"]: e[2] for e in events(ostore, "hook")}
    assert sorted(got) == [a, b, c]
    assert (got[a]["status"], got[a]["error_code"], got[a]["failure_cause"]) == ("failed", 1, "BAD_NUMBER")
    assert (got[b]["status"], got[b]["error_code"], got[b]["failure_cause"]) == ("failed", 38, "GATEWAY_FAILURE")
    assert (got[c]["status"], got[c]["failure_cause"], got[c]["line"]) == ("failed", "EXPIRED", None)
    assert d not in got


def test_a_row_the_router_fails_before_sending_has_its_result(ostore, clock):
    with sqlite3.connect(ostore.path) as conn:
        conn.execute("INSERT INTO smsserver_out (type, recipient, text) VALUES ('W', '1', 'x')")
    assert ostore.dispatch.candidates(now=clock(), lines=["G1"], providers=[]) == []
    [(_, kind, payload)] = events(ostore, "hook")
    assert (kind, payload["message_id"], payload["status"], payload["failure_cause"]) == \
        ("result", 1, "failed", "BAD_FORMAT")


def test_one_receipt_when_every_part_has_a_final_report(ostore):
    [i] = ostore.enqueue([NewMessage("13600000000", "x" * 400)]).ids  # 3 parts
    send_queued(ostore, i, Outcome(i, "G1", "8986", "sent", (10, 11, 12), 3))
    ostore.inbox.store_report(report(10, status=0x20))  # still trying
    ostore.inbox.store_report(report(10, status=0))
    ostore.inbox.store_report(report(11, status=0))
    assert kinds(ostore, "hook") == [("result", i)]
    ostore.inbox.store_report(report(12, status=0, minute=2))
    [receipt] = [e[2] for e in events(ostore, "hook") if e[1] == "receipt"]
    assert receipt == {"message_id": i, "task_id": None, "sub_task": None, "recipient": "13600000000",
                       "line": "G1", "client_ref": None, "delivered": True, "status": 0, "status_report": True, "at": "2024-05-01 12:02:30"}
    ostore.inbox.store_report(report(12, status=0, minute=2))  # the same report again: nothing new
    assert len(kinds(ostore, "hook")) == 2


def test_a_failed_delivery_receipt_and_an_unmatched_report(ostore):
    [i] = send(ostore, NewMessage("13600000000"), refs=[[7]])
    ostore.inbox.store_report(report(99))  # matches nothing
    ostore.inbox.store_report(report(7, status=0x41))
    receipts = [e[2] for e in events(ostore, "hook") if e[1] == "receipt"]
    assert [(r["message_id"], r["delivered"], r["status"]) for r in receipts] == [(i, False, 0x41)]
    assert not [e for e in events(ostore, "mqtt") if e[1] == "receipt"]  # mqtt does not want receipts


def test_mo_events_for_complete_messages_only(ostore, clock):
    [one] = deliver("Hello", line="G2")
    first = ostore.inbox.store_sms(one)
    assert ostore.inbox.store_sms(one) is None  # read again: no second event
    parts = deliver("Long message " * 40, ref=9)  # 4 parts
    for p in parts[:3]:
        assert ostore.inbox.store_sms(p) is None
    assert [k for k, _ in kinds(ostore, "hook")] == ["mo"]
    long_id = ostore.inbox.store_sms(parts[3])
    partial = deliver("z" * 300, ref=10)
    ostore.inbox.store_sms(partial[0])
    clock.advance(3600)
    assert ostore.inbox.flush_stale_parts(600) == 1
    mos = [e[2] for e in events(ostore, "hook")]
    assert [m["id"] for m in mos] == [first, long_id, long_id + 1]
    assert mos[0] == {"id": first, "line": "G2", "originator": "+8613800000001", "text": "Hello", "encoding": "7",
                      "message_date": "2024-05-01 12:00:05", "receive_date": "2024-05-01 12:00:00", "parts": 1,
                      "error": None, "number": ""}
    assert mos[1]["text"] == "Long message " * 40 and mos[1]["parts"] == 4
    assert mos[2]["parts"] == 2 and "missing" in mos[2]["error"]
    assert [e[2]["id"] for e in events(ostore, "mqtt")] == [first, long_id, long_id + 1]


def test_call_events(ostore):
    started = datetime(2024, 5, 1, 12, 30, tzinfo=SHANGHAI)
    call_id = ostore.inbox.store_call(CallRecord("G3", "+8613900000000", started, rings=2))
    assert events(ostore, "mqtt") == [("mqtt", "call", {"id": call_id, "line": "G3", "caller": "+8613900000000",
                                                        "at": "2024-05-01 12:30:00", "rings": 2})]
    assert events(ostore, "hook") == []


def test_nothing_is_written_for_kinds_nobody_wants(tmp_path, clock):
    for targets in ({}, {"call": ["x"]}):
        s = Store(tmp_path / f"{len(targets)}.db", timezone=SHANGHAI, clock=clock, push_targets=targets)
        s.open()
        send(s, NewMessage("13600000000"), refs=[[3]])
        s.inbox.store_report(report(3))
        s.inbox.store_sms(deliver("hi")[0])
        assert sql(s, "SELECT COUNT(*) FROM outbox") == [(0,)]


def test_unknown_kinds_are_refused(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        Store(tmp_path / "a.db", push_targets={"results": ["x"]})


# --- atomic with the data ----------------------------------------------------------------------


def test_the_event_commits_or_rolls_back_with_its_data(ostore):
    [i] = ostore.enqueue([NewMessage("1")]).ids
    ostore.dispatch.mark_queued([Assignment(i, "G1", "8986", 1)])
    with sqlite3.connect(ostore.path) as conn:
        conn.execute("CREATE TRIGGER boom BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(Exception, match="boom"):
        ostore.dispatch.record_outcomes([Outcome(i, "G1", "8986", "sent", (1,), 1)])
    assert ostore.message(i)["status"] == "Q"  # the result was not written without its event
    with pytest.raises(Exception, match="boom"):
        ostore.inbox.store_sms(deliver("hi")[0])
    assert sql(ostore, "SELECT COUNT(*) FROM smsserver_in") == [(0,)]  # stays on the SIM, read again later
    with sqlite3.connect(ostore.path) as conn:
        conn.execute("DROP TRIGGER boom")
    ostore.dispatch.record_outcomes([Outcome(i, "G1", "8986", "sent", (1,), 1)])
    assert ostore.message(i)["status"] == "S" and kinds(ostore, "hook") == [("result", i)]


# --- delivery API ---------------------------------------------------------------------------------


def test_next_in_order_with_limit_and_done(ostore):
    ids = [ostore.inbox.store_sms(deliver(f"m{n}", ref=n, sender=f"+86138000000{n:02d}")[0]) for n in range(5)]
    items = ostore.outbox.next("hook", limit=3)
    assert [i.payload["id"] for i in items] == ids[:3]
    assert [i.id for i in items] == sorted(i.id for i in items)
    assert (items[0].destination, items[0].kind, items[0].attempts, items[0].created) == ("hook", "mo", 0, T0)
    assert ostore.outbox.done([items[0].id, items[1].id]) == 2
    assert [i.payload["id"] for i in ostore.outbox.next("hook")] == ids[2:]
    assert len(ostore.outbox.next("mqtt")) == 5  # the other destination keeps its own


def test_a_retried_item_holds_back_the_later_ones(ostore, clock):
    for n in range(3):
        ostore.inbox.store_sms(deliver(f"m{n}", sender=f"+8613800000{n:03d}")[0])
    head = ostore.outbox.next("hook")[0]
    ostore.outbox.retry(head.id, clock() + 30, "HTTP 500")
    assert ostore.outbox.next("hook") == []
    assert ostore.outbox.next_attempt("hook") == clock() + 30
    assert len(ostore.outbox.next("mqtt")) == 3
    clock.advance(30)
    again = ostore.outbox.next("hook")
    assert [i.id for i in again][0] == head.id and len(again) == 3
    assert (again[0].attempts, again[0].last_error, again[0].next_attempt) == (1, "HTTP 500", clock())


def test_expire_and_drop_are_counted_and_kept(tmp_path, clock):
    path = tmp_path / "a.db"
    s = Store(path, clock=clock, push_targets=TARGETS)
    s.open()
    s.inbox.store_sms(deliver("old")[0])
    clock.advance(3600)
    s.inbox.store_sms(deliver("new")[0])
    assert s.outbox.expire("hook", 1800) == 1
    assert s.outbox.expire("hook", 1800) == 0
    assert s.outbox.drop([s.outbox.next("hook")[0].id], "formatter failed") == 1
    stats = s.outbox.stats()
    assert stats["hook"] == {"pending": 0, "dropped": 2, "oldest": None}
    assert stats["mqtt"] == {"pending": 2, "dropped": 0, "oldest": T0}
    s.close()
    reopened = Store(path, clock=clock)  # no targets configured any more: counters and items remain
    assert reopened.outbox.stats() == {"hook": {"pending": 0, "dropped": 2, "oldest": None},
                                       "mqtt": {"pending": 2, "dropped": 0, "oldest": T0}}
    clock.advance(31 * 86400)
    reopened.purge(30)  # items for a destination nobody serves are given up at the purge age
    assert reopened.outbox.stats()["mqtt"] == {"pending": 0, "dropped": 2, "oldest": None}


# --- the migration ------------------------------------------------------------------------------------


def test_a_version_1_database_upgrades(tmp_path, clock):
    from agent.store.db import MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as conn:  # the file as the first release left it
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
                     " applied REAL NOT NULL)")
        for statement in MIGRATIONS[0][1]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (1, 'v1', 0)")
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO smsserver_out (recipient, text, client_ref) VALUES ('1', 'kept', 'r')")
        conn.execute("INSERT INTO outbox (topic, payload, created) VALUES ('mo', '{}', 5)")
    s = Store(path, clock=clock, push_targets=TARGETS)
    s.open()
    assert sql(s, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert s.message(1)["text"] == "kept"
    assert sql(s, "SELECT destination, kind, payload, created, next_attempt FROM outbox") == [("", "mo", "{}", 5, 5)]
    assert not s.enqueue([NewMessage("2")], source="x", client_ref="r").duplicate
    assert s.enqueue([NewMessage("2")], source="x", client_ref="r").duplicate
    s.inbox.store_sms(deliver("hi")[0])
    assert [k for k, _ in kinds(s, "hook")] == ["mo"]
