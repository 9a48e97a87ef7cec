"""Purge, line snapshots, and several threads and processes writing at once."""

import sqlite3
import threading
from datetime import datetime

from agent.model import CallRecord, LineState
from agent.model import NewMessage
from agent.store.queue import Assignment, Outcome, Store

from .conftest import SHANGHAI, deliver, send


def count(store, table):
    with sqlite3.connect(store.path) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_purge_removes_old_finished_rows_only(store, clock):
    old_sent = send(store, NewMessage("1"), NewMessage("2"))
    old_failed = send(store, NewMessage("3"), outcome="failed")
    [old_waiting] = store.enqueue([NewMessage("4")]).ids
    store.inbox.store_sms(deliver("old")[0])
    store.inbox.store_call(CallRecord("G1", "1", datetime.fromtimestamp(clock(), SHANGHAI)))
    parts = deliver("p" * 300, ref=3)
    store.inbox.store_sms(parts[0])
    store.inbox.store_sms(parts[1])
    clock.advance(31 * 86400)
    recent = send(store, NewMessage("5"))
    store.inbox.store_sms(deliver("new")[0])
    assert count(store, "sent_parts") == 3
    assert store.purge(30) == 3 + 2 + 1  # out rows, received rows (old + long), calls
    left = {r: store.message(r) is not None for r in [*old_sent, *old_failed, old_waiting, *recent]}
    assert left == {1: False, 2: False, 3: False, old_waiting: True, recent[0]: True}
    assert count(store, "sent_parts") == 1  # went with their messages
    assert count(store, "smsserver_in") == 1 and count(store, "smsserver_calls") == 0
    assert count(store, "mo_parts") == 0
    assert store.purge(30) == 0


def test_line_snapshots(store, clock):
    store.sims.update_line(LineState("G2", "/dev/ttyUSB1", "ready", registered=True, signal_dbm=-71, operator="CMCC",
                                iccid="8986", imei="86", imsi="46000", number="+86138", model="SIM7600"),
                      provider="cm")
    store.sims.update_line(LineState("G1", "/dev/ttyUSB0", "offline", last_error="port gone"))
    rows = store.sims.lines()
    assert [r["name"] for r in rows] == ["G1", "G2"]
    assert rows[1] == {"name": "G2", "device": "/dev/ttyUSB1", "state": "ready", "signal_dbm": -71,
                       "registered": True, "operator": "CMCC", "iccid": "8986", "imei": "86", "imsi": "46000",
                       "number": "+86138", "model": "SIM7600", "provider": "cm", "last_error": "",
                       "updated": clock()}
    assert rows[0]["last_error"] == "port gone" and rows[0]["registered"] is False
    # another process (the CLI) reads the same snapshot
    other = Store(store.path, timezone=SHANGHAI)
    assert [r["state"] for r in other.sims.lines()] == ["offline", "ready"]
    other.close()


def test_concurrent_writers_lose_nothing(store, clock):
    """Submitters, an application's SQL, a receiving line and the router all at once."""
    errors: list[BaseException] = []
    done = threading.Event()
    n_threads, batches, per_batch, raw_rows = 4, 15, 10, 40

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)
        return run

    def submitter(k):
        for b in range(batches):
            store.enqueue([NewMessage(f"{k}{b:03d}{i:02d}", f"t{k}") for i in range(per_batch)], task=True)

    def application():
        conn = sqlite3.connect(store.path, timeout=5)
        for i in range(raw_rows):
            with conn:
                conn.execute("INSERT INTO smsserver_out (recipient, text) VALUES (?, 'app')", (f"9{i:04d}",))
        conn.close()

    def receiver():
        for n in range(20):
            for sms in deliver(f"mo {n} " * 40, sender=f"+8613{n:09d}", ref=n, line="G9"):
                store.inbox.store_sms(sms)

    def router():
        while True:
            finished = done.is_set()
            cands = store.dispatch.candidates(now=clock(), lines=["G1", "G2"], providers=[], limit=50)
            if cands:
                queued = store.dispatch.mark_queued([Assignment(c.id, "G1", "sim", c.parts) for c in cands])
                store.dispatch.record_outcomes([Outcome(i, "G1", "sim", "sent", (i % 256,), 1) for i in queued])
            elif finished:
                return

    workers = [threading.Thread(target=guarded(lambda k=k: submitter(k))) for k in range(n_threads)]
    workers += [threading.Thread(target=guarded(application)), threading.Thread(target=guarded(receiver))]
    router_thread = threading.Thread(target=guarded(router))
    router_thread.start()
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    done.set()
    router_thread.join(30)
    assert not errors, errors
    total = n_threads * batches * per_batch + raw_rows
    assert store.queue_depths() == {"U": 0, "Q": 0, "S": total, "F": 0, "sent_today": total, "failed_today": 0}
    assert count(store, "sent_parts") == total
    assert count(store, "tasks") == n_threads * batches
    assert store.sims.sim_counters(["sim"])["sim"].total_sent == total
    assert count(store, "smsserver_in") == 20
    with sqlite3.connect(store.path) as conn:  # every task's ids are consecutive
        gaps = conn.execute("SELECT task_id FROM smsserver_out WHERE task_id IS NOT NULL GROUP BY task_id"
                            " HAVING MAX(id) - MIN(id) + 1 != COUNT(*)").fetchall()
    assert gaps == []
