"""The router's side: candidates, U -> Q -> S/F/U, quotas, retries, recovery."""

import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pytest

from agent.store.dispatch import failure_cause
from agent.model import NewMessage
from agent.store.queue import Assignment, Outcome

from .conftest import SHANGHAI, send, sync_of_commit, traced

LINES = ["G1", "G2"]


def ids(cands):
    return [c.id for c in cands]


def raw(store, sql, params=()):
    with sqlite3.connect(store.path) as conn:
        return conn.execute(sql, params).lastrowid


def test_order_is_priority_then_id(store, clock):
    store.enqueue([NewMessage("1", priority=0), NewMessage("2", priority=5), NewMessage("3"),
                   NewMessage("4", priority=-1), NewMessage("5", priority=5)])
    assert ids(store.dispatch.candidates(now=clock(), lines=LINES, providers=[])) == [2, 5, 1, 3, 4]
    assert ids(store.dispatch.candidates(now=clock(), lines=LINES, providers=[], limit=2)) == [2, 5]


def test_schedule_and_backoff_hold_messages_back(store, clock):
    later = datetime.fromtimestamp(clock() + 600, SHANGHAI)
    store.enqueue([NewMessage("1", scheduled=later), NewMessage("2")])
    assert ids(store.dispatch.candidates(now=clock(), lines=LINES, providers=[])) == [2]
    assert store.dispatch.pending_wakeup(now=clock()) == clock() + 600
    assert ids(store.dispatch.candidates(now=clock() + 600, lines=LINES, providers=[])) == [1, 2]
    store.dispatch.mark_queued([Assignment(2, "G1", "sim1", 1)])
    store.dispatch.record_outcomes([Outcome(2, "G1", "sim1", "retry", error_code=38, retry_at=clock() + 60)])
    assert ids(store.dispatch.candidates(now=clock(), lines=LINES, providers=[])) == []
    assert store.dispatch.pending_wakeup(now=clock()) == clock() + 60
    [c] = store.dispatch.candidates(now=clock() + 60, lines=LINES, providers=[])
    assert (c.id, c.errors, c.not_before, c.last_line, c.gateway) == (2, 1, clock() + 60, "G1", "*")
    assert store.dispatch.pending_wakeup(now=clock() + 601) is None


def test_candidates_carry_their_create_date_quietly(store, clock, caplog):
    store.enqueue([NewMessage("1")])
    raw(store, "INSERT INTO smsserver_out (recipient, text, create_date) VALUES ('2', 'app', 'soon')")
    first, second = store.dispatch.candidates(now=clock(), lines=LINES, providers=[])
    assert first.created == int(clock())  # kept to the second
    assert second.created is None and "soon" not in caplog.text  # unreadable: not measured, not logged


def test_pins_and_providers(store, clock):
    store.enqueue([NewMessage("1", gateway="G2"), NewMessage("2", provider="cm"),
                   NewMessage("3", provider="cm", gateway="G1"), NewMessage("4")])
    assert ids(store.dispatch.candidates(now=clock(), lines=["G1"], providers=[])) == [3, 4]
    assert ids(store.dispatch.candidates(now=clock(), lines=["G1"], providers=["cm"])) == [2, 3, 4]
    assert ids(store.dispatch.candidates(now=clock(), lines=["G2"], providers=[])) == [1, 4]
    assert ids(store.dispatch.candidates(now=clock(), lines=[], providers=[])) == []


def test_expired_rows_are_included_whatever_the_lines(store, clock):
    past = datetime.fromtimestamp(clock() - 1, SHANGHAI)
    store.enqueue([NewMessage("1", gateway="G9", expires=past), NewMessage("2", expires=past + timedelta(hours=1))])
    [c] = store.dispatch.candidates(now=clock(), lines=[], providers=[])
    assert c.id == 1 and c.expires == clock() - 1
    assert store.dispatch.pending_wakeup(now=clock()) == clock() + 3599
    assert store.expire([1, 2, 99], cause="EXPIRED") == 2
    assert {(r["status"], r["failure_cause"]) for r in map(store.message, [1, 2])} == {("F", "EXPIRED")}


def test_rows_from_applications_are_completed_or_failed(store, clock):
    raw(store, "INSERT INTO smsserver_out (recipient, text, gateway_id, encoding) VALUES ('1', 'hi', 'G2', 'u')")
    raw(store, "INSERT INTO smsserver_out (recipient, text, encoding) VALUES ('2', '中文', '8')")
    raw(store, "INSERT INTO smsserver_out (type, recipient, text) VALUES ('W', '3', 'wap')")
    raw(store, "INSERT INTO smsserver_out (recipient, text) VALUES ('', 'x')")
    raw(store, "INSERT INTO smsserver_out (recipient, text) VALUES ('5', NULL)")
    assert ids(store.dispatch.candidates(now=clock(), lines=["G1"], providers=[])) == [5]
    [c1, c5] = store.dispatch.candidates(now=clock(), lines=LINES, providers=[])
    assert (c1.id, c1.gateway, c1.encoding, c1.parts, c5.text) == (1, "G2", "U", 1, "")
    causes = {i: (store.message(i)["status"], store.message(i)["failure_cause"]) for i in (2, 3, 4)}
    assert causes == {2: ("F", "BAD_FORMAT"), 3: ("F", "BAD_FORMAT"), 4: ("F", "BAD_NUMBER")}
    # the application's gateway survives being used and retried
    store.dispatch.mark_queued([Assignment(1, "G2", "sim", 1)])
    assert store.message(1)["gateway_id"] == "G2"
    store.dispatch.record_outcomes([Outcome(1, "G2", "sim", "retry", retry_at=clock())])
    assert (store.message(1)["gateway_id"], store.message(1)["requested_gateway"]) == ("G2", "G2")


def test_life_of_a_message_and_its_quota(store, clock):
    [i] = store.enqueue([NewMessage("13600000000", "x" * 400)]).ids  # 3 parts
    with traced(store) as statements:
        assert store.dispatch.mark_queued([Assignment(i, "G1", "sim1", 3), Assignment(999, "G1", "sim1", 1)]) == [i]
    assert sync_of_commit(statements) == ["FULL"]
    row = store.message(i)
    assert (row["status"], row["line"], row["gateway_id"], row["iccid"]) == ("Q", "G1", "G1", "sim1")
    assert store.sims.sim_counters(["sim1"])["sim1"].daily_sent == 3
    assert store.dispatch.mark_queued([Assignment(i, "G2", "sim2", 3)]) == []  # not 'U' any more
    with traced(store) as statements:
        store.dispatch.record_outcomes([Outcome(i, "G1", "sim1", "sent", (17, 18, -1), 3)])
    assert sync_of_commit(statements) == ["NORMAL"]
    row = store.message(i)
    assert (row["status"], row["ref_no"], row["sent_parts"], row["sent_date"]) == ("S", "17,18,-1", 3,
                                                                                   "2024-05-01 12:00:00")
    with sqlite3.connect(store.path) as conn:
        parts = conn.execute("SELECT seq, line, reference, sent_at FROM sent_parts WHERE message_id = ?",
                             (i,)).fetchall()
    assert parts == [(1, "G1", 17, clock()), (2, "G1", 18, clock()), (3, "G1", None, clock())]
    c = store.sims.sim_counters(["sim1", "unknown"])
    assert list(c) == ["sim1"] and (c["sim1"].daily_sent, c["sim1"].total_sent) == (3, 3)
    store.dispatch.record_outcomes([Outcome(i, "G1", "sim1", "sent", (1,), 1)])  # not 'Q' any more: ignored
    assert store.message(i)["ref_no"] == "17,18,-1"


def test_quota_follows_what_really_left(store, clock):
    a, b, c = store.enqueue([NewMessage("1", "x" * 400)] * 3).ids
    store.dispatch.mark_queued([Assignment(m, "G1", "sim1", 3) for m in (a, b, c)])
    assert store.sims.sim_counters(["sim1"])["sim1"].daily_sent == 9
    store.dispatch.record_outcomes([
        Outcome(a, "G1", "sim1", "retry", (5,), 3, error_code=500, in_doubt=True, retry_at=clock()),  # 1 left
        Outcome(b, "G1", "sim1", "failed", (), 3, error_code=21),  # none left
        Outcome(c, "G1", "sim1", "sent", (1, 2, 3), 3),
    ])
    s = store.sims.sim_counters(["sim1"])["sim1"]
    assert (s.daily_sent, s.total_sent) == (4, 4)
    ra, rb = store.message(a), store.message(b)
    assert (ra["status"], ra["errors"], ra["in_doubt"], ra["error_code"], ra["failure_cause"]) == \
        ("U", 1, 1, 500, "GATEWAY_FAILURE")
    assert (rb["status"], rb["error_code"], rb["failure_cause"], rb["errors"]) == ("F", 21, "BAD_NUMBER", 0)
    store.dispatch.mark_queued([Assignment(a, "G2", "sim2", 3)])
    store.dispatch.record_outcomes([Outcome(a, "G2", "sim2", "sent", (9, 10, 11), 3)])
    ra = store.message(a)
    assert (ra["status"], ra["in_doubt"], ra["line"], ra["failure_cause"], ra["error_code"]) == \
        ("S", 1, "G2", None, None)
    assert store.sims.sim_counters(["sim2"])["sim2"].total_sent == 3


def test_retries_until_the_budget_is_spent(store, clock):
    [i] = store.enqueue([NewMessage("1", gateway="*")]).ids
    for n in range(1, 4):
        store.dispatch.mark_queued([Assignment(i, "G1", "", 1)])
        assert store.message(i)["gateway_id"] == "G1"
        give_up = n == 3
        store.dispatch.record_outcomes([Outcome(i, "G1", "", "retry", retry_at=clock() + n, give_up=give_up)])
        row = store.message(i)
        assert row["errors"] == n and row["gateway_id"] == ("G1" if give_up else "*")
        assert row["status"] == ("F" if give_up else "U")
    assert store.message(i)["failure_cause"] == "GATEWAY_FAILURE"
    assert store.sims.sim_counters([""]) == {}  # no ICCID known: nothing counted


@pytest.mark.parametrize("code, cause", [(1, "BAD_NUMBER"), (21, "BAD_NUMBER"), (28, "BAD_NUMBER"),
                                         (96, "BAD_NUMBER"), (304, "BAD_FORMAT"), (38, "GATEWAY_FAILURE"),
                                         (42, "GATEWAY_FAILURE"), (310, "GATEWAY_FAILURE"),
                                         (500, "GATEWAY_FAILURE"), (8, "GATEWAY_FAILURE"), (69, "UNKNOWN"),
                                         (None, "UNKNOWN")])
def test_failure_causes(code, cause):
    assert failure_cause(code) == cause


def test_outcome_may_name_its_cause(store):
    [i] = store.enqueue([NewMessage("1")]).ids
    store.dispatch.mark_queued([Assignment(i, "G1", "s", 1)])
    store.dispatch.record_outcomes([Outcome(i, "G1", "s", "failed", error="cannot encode", cause="BAD_FORMAT")])
    assert store.message(i)["failure_cause"] == "BAD_FORMAT"


def test_requeue_in_flight_flags_in_doubt(store, clock):
    a, b, c = store.enqueue([NewMessage("1"), NewMessage("2", gateway="G2"), NewMessage("3")]).ids
    store.dispatch.mark_queued([Assignment(a, "G1", "s", 1), Assignment(b, "G2", "s", 1)])
    assert store.requeue_in_flight() == 2
    rows = [store.message(i) for i in (a, b, c)]
    assert [(r["status"], r["in_doubt"], r["gateway_id"]) for r in rows] == \
        [("U", 1, "*"), ("U", 1, "G2"), ("U", 0, "*")]
    cands = store.dispatch.candidates(now=clock(), lines=LINES, providers=[])
    assert [x.in_doubt for x in cands] == [True, True, False]
    assert store.requeue_in_flight() == 0


def test_daily_counter_turns_at_local_midnight(store, clock):
    # 15:59 UTC is 23:59 in Shanghai: the day turns at 16:00 UTC
    clock.t = datetime(2024, 5, 1, 15, 59, tzinfo=timezone.utc).timestamp()
    send(store, NewMessage("1", "x" * 200), iccid="sim1")  # 2 parts
    [late] = store.enqueue([NewMessage("1", "x" * 400)]).ids
    store.dispatch.mark_queued([Assignment(late, "G1", "sim1", 3)])  # reserved on May 1st
    c = store.sims.sim_counters(["sim1"])["sim1"]
    assert (c.daily_sent, c.total_sent, c.day) == (5, 5, "2024-05-01")
    clock.t += 120  # 16:01 UTC, 00:01 on May 2nd in Shanghai
    c = store.sims.sim_counters(["sim1"])["sim1"]
    assert (c.daily_sent, c.total_sent, c.day) == (0, 5, "2024-05-02")
    store.dispatch.record_outcomes([Outcome(late, "G1", "sim1", "sent", (1, 2, 3), 3)])  # left today
    c = store.sims.sim_counters(["sim1"])["sim1"]
    assert (c.daily_sent, c.total_sent) == (3, 5)
    assert store.sims.reset_daily() == 0  # already today's
    clock.t += 86400
    assert store.sims.reset_daily() == 1
    assert store.sims.reset_daily() == 0
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT daily_sent, daily_day, total_sent FROM sims").fetchone() == (0, "2024-05-03", 5)


def test_counters_follow_the_sim_across_lines(store):
    from agent.model import LineState
    store.sims.update_line(LineState("G1", "/dev/a", "ready", iccid="sim1", imsi="460001", imei="861"), provider="cm")
    send(store, NewMessage("1"), line="G1", iccid="sim1")
    store.sims.update_line(LineState("G1", "/dev/a", "offline"))
    store.sims.update_line(LineState("G2", "/dev/b", "ready", iccid="sim1", imei="862"), provider="cu")
    send(store, NewMessage("2", "x" * 200), line="G2", iccid="sim1")
    c = store.sims.sim_counters(["sim1"])["sim1"]
    assert (c.daily_sent, c.total_sent) == (3, 3)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT imsi, imei_last, line_last, provider FROM sims").fetchone() == \
            ("460001", "862", "G2", "cu")
    store.sims.set_sim_counters("sim1", daily_sent=10)
    counters = store.sims.sim_counters(["sim1"])["sim1"]
    assert (counters.daily_sent, counters.total_sent) == (10, 3)
    store.sims.set_sim_counters("sim1", total_sent=0)
    assert store.sims.sim_counters(["sim1"])["sim1"].total_sent == 0
    lines = {r["name"]: r for r in store.sims.lines()}
    assert (lines["G1"]["state"], lines["G1"]["iccid"], lines["G2"]["registered"]) == ("offline", "", False)


def test_queue_depths(store, clock):
    send(store, NewMessage("1"), NewMessage("2"))
    send(store, NewMessage("3"), outcome="failed")
    queued, _ = store.enqueue([NewMessage("4"), NewMessage("5")]).ids
    store.dispatch.mark_queued([Assignment(queued, "G1", "", 1)])
    assert store.queue_depths() == {"U": 1, "Q": 1, "S": 2, "F": 1, "sent_today": 2, "failed_today": 1}
    clock.advance(86400)
    assert store.queue_depths()["sent_today"] == 0


def test_record_outcomes_of_1000_rows(store, clock, capsys):
    got = store.enqueue([NewMessage(f"136{i:08d}", "hello") for i in range(1000)]).ids
    store.dispatch.mark_queued([Assignment(i, f"G{i % 8}", f"sim{i % 8}", 1) for i in got])
    started = time.perf_counter()
    store.dispatch.record_outcomes([Outcome(i, f"G{i % 8}", f"sim{i % 8}", "sent", (i % 256,), 1) for i in got])
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nrecord_outcomes(1,000): {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0
    assert store.queue_depths()["S"] == 1000
    assert sum(c.total_sent for c in store.sims.sim_counters([f"sim{i}" for i in range(8)]).values()) == 1000
