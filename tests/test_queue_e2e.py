"""Queue -> router -> line workers -> simulated modems -> outcomes in the store."""

from __future__ import annotations

import datetime as dt
import threading
import time
from zoneinfo import ZoneInfo

import pytest

from dataclasses import replace

from agent.config import QueueConfig

from .conftest import FAST
from .queue_harness import Clock, Stack, msg, no_backoff
from .waiting import wait_until

SENT = lambda r: r["status"] == "S"  # noqa: E731
DONE = lambda r: r["status"] in ("S", "F")  # noqa: E731


@pytest.fixture
def stack(make_bank, tmp_path):
    stacks = []

    def make(profiles=("generic",) * 4, **kw):
        sim = make_bank(list(profiles))
        s = Stack(sim, tmp_path / f"agent{len(stacks)}.db", **kw)
        stacks.append(s)
        return s

    yield make
    for s in stacks:
        s.stop()


def test_round_robin_over_four_lines(stack):
    s = stack().start()
    ids = s.send(*(msg(text=f"m{i}") for i in range(8)))
    rows = s.wait_rows(ids, SENT)
    # The first four go to the idle lines in their order; every line sends two.
    assert [r["line"] for r in rows[:4]] == ["sim1", "sim2", "sim3", "sim4"]
    assert sorted(r["line"] for r in rows) == sorted(["sim1", "sim2", "sim3", "sim4"] * 2)
    for r in rows:
        assert r["gateway_id"] == r["line"] and r["ref_no"] and r["sent_date"] and r["errors"] == 0
    texts = [m.text for modem in s.sim.modems for m in modem.sent]
    assert sorted(texts) == sorted(f"m{i}" for i in range(8))


def test_a_line_that_sent_goes_to_the_back(stack):
    s = stack().start()
    first = s.wait_rows(s.send(msg(text="one")), SENT)[0]["line"]
    second = s.wait_rows(s.send(msg(text="two")), SENT)[0]["line"]
    third = s.wait_rows(s.send(msg(text="three")), SENT)[0]["line"]
    assert (first, second, third) == ("sim1", "sim2", "sim3")


def test_pinned_line_and_provider_groups(stack):
    s = stack(lines={"sim1": {"provider": "CMCC"}, "sim2": {"provider": "CMCC"}, "sim3": {"provider": "CU"},
                     "sim4": {"provider": "CU"}}).start()
    pinned = s.send(*(msg(text=f"pin{i}", gateway="sim4") for i in range(3)))
    cu = s.send(*(msg(text=f"cu{i}", provider="CU") for i in range(4)))
    assert {r["line"] for r in s.wait_rows(pinned, SENT)} == {"sim4"}
    assert {r["line"] for r in s.wait_rows(cu, SENT)} <= {"sim3", "sim4"}


def test_priority_then_age(stack):
    s = stack(profiles=("generic",))
    ids = s.send(msg(text="low1"), msg(text="low2"), msg(text="urgent", priority=5))
    s.start()
    s.wait_rows(ids, SENT)
    assert [m.text for m in s.sim[0].sent] == ["urgent", "low1", "low2"]


def test_daily_quota_counts_parts_and_resets_at_local_midnight(stack):
    tz = ZoneInfo("Asia/Shanghai")
    # 23:59:30 local time
    start = dt.datetime(2026, 11, 23, 23, 59, 30, tzinfo=tz).timestamp()
    clock = Clock(start)
    s = stack(profiles=("generic",), lines={"sim1": {"daily_limit": 4}}, tz=tz, clock=clock).start()
    long_text = "x" * 300  # 2 parts
    ids = s.send(msg(text=long_text), msg(text="third"), msg(text="fourth part"), msg(text="over the limit"))
    rows = s.wait_rows(ids[:3], SENT)
    assert [r["parts"] for r in rows] == [2, 1, 1]
    lines = s.store.sims.sim_counters([s.bank["sim1"].state.iccid])
    assert next(iter(lines.values())).daily_sent == 4
    s.router.wake()
    with pytest.raises(AssertionError):
        s.wait_rows(ids[3:], SENT, timeout=0.5)  # waits, is not failed
    assert s.row(ids[3])["status"] == "U"
    clock.advance(60)  # past local midnight (16:00 UTC)
    s.jobs.reset_daily()
    s.router.wake()
    s.wait_rows(ids[3:], SENT)


def test_total_limit(stack):
    s = stack(profiles=("generic", "generic"), lines={"sim1": {"total_limit": 1}}).start()
    ids = s.send(msg(text="a"), msg(text="b"), msg(text="c"))
    rows = s.wait_rows(ids, SENT)
    assert sum(r["line"] == "sim1" for r in rows) == 1


def test_scheduled_message_waits_for_its_time(stack):
    clock = Clock()
    s = stack(profiles=("generic",), clock=clock).start()
    later = dt.datetime.fromtimestamp(clock() + 3600).astimezone()
    (scheduled,) = s.send(msg(text="later", scheduled=later))
    (now,) = s.send(msg(text="now"))
    s.wait_rows([now], SENT)
    assert s.row(scheduled)["status"] == "U"
    clock.advance(3601)
    s.router.wake()
    s.wait_rows([scheduled], SENT)


def test_expired_message_is_failed_never_sent(stack):
    clock = Clock()
    s = stack(profiles=("generic",), clock=clock)
    (old,) = s.send(msg(text="too late", expires=dt.datetime.fromtimestamp(clock() - 1).astimezone()))
    s.start()
    row = s.wait_rows([old], DONE)[0]
    assert row["status"] == "F" and row["failure_cause"] == "EXPIRED"
    assert not s.sim[0].sent


def test_temporary_failure_is_retried_permanent_is_not(stack):
    s = stack(profiles=("generic",), queue=no_backoff()).start()
    modem = s.sim[0]
    modem.fail_next_send(38)
    (retried,) = s.send(msg(text="network trouble"))
    row = s.wait_rows([retried], SENT)[0]
    assert row["errors"] == 1
    modem.fail_next_send(21)
    (rejected,) = s.send(msg(text="rejected"))
    row = s.wait_rows([rejected], DONE)[0]
    assert row["status"] == "F" and row["error_code"] == 21 and row["errors"] == 0


def test_retries_are_bounded(stack):
    s = stack(profiles=("generic",), queue=no_backoff(max_retries=2)).start()
    s.sim[0].fail_next_send(500, count=5)
    (doomed,) = s.send(msg(text="never"))
    row = s.wait_rows([doomed], DONE)[0]
    assert row["status"] == "F" and row["error_code"] == 500 and row["errors"] == 3


def test_one_bad_destination_does_not_block_the_rest(stack):
    s = stack(profiles=("generic",), queue=QueueConfig(retry_backoff=3600, poll_interval=0.1)).start()
    s.sim[0].fail_next_send(38)
    (bad,) = s.send(msg(recipient="+100", text="backs off"))
    s.wait_rows([bad], lambda r: r["errors"] == 1)
    others = s.send(*(msg(text=f"o{i}") for i in range(5)))
    s.wait_rows(others, SENT)
    assert s.row(bad)["status"] == "U"


def test_plain_sql_insert_is_sent_and_written_back(stack):
    s = stack(profiles=("generic", "generic")).start()
    s.sql("INSERT INTO smsserver_out (type, recipient, text, encoding, create_date) "
          "VALUES ('O', '13601019694', '你好，世界', 'U', datetime('now','localtime'))")
    (msg_id,) = s.sql("SELECT max(id) FROM smsserver_out")[0]
    t0 = time.monotonic()
    row = s.wait_rows([msg_id], SENT, timeout=5)[0]
    assert time.monotonic() - t0 < 1.5
    status, sent_date, ref_no, gateway_id, errors = s.sql(
        "SELECT status, sent_date, ref_no, gateway_id, errors FROM smsserver_out WHERE id = ?", (msg_id,))[0]
    assert (status, errors) == ("S", 0) and sent_date and ref_no != "" and gateway_id in ("sim1", "sim2")
    sent = [m for modem in s.sim.modems for m in modem.sent]
    assert [(m.recipient, m.text, m.encoding) for m in sent] == [("13601019694", "你好，世界", "ucs2")]
    assert row["parts"] == 1


def test_status_report_marks_the_message_delivered(stack):
    s = stack(profiles=("generic",)).start()
    (msg_id,) = s.send(msg(text="report me " * 20))  # 2 parts: delivered once both are
    s.wait_rows([msg_id], lambda r: r["delivery"] == "delivered")
    reports = s.sql("SELECT type, original_ref_no, gateway_id FROM smsserver_in WHERE type = 'S'")
    assert len(reports) == 2 and all(r[2] == "sim1" for r in reports)


def test_incoming_sms_and_calls_are_stored(stack):
    s = stack(profiles=("generic",)).start()
    modem = s.sim[0]
    modem.deliver("+8613700000001", "余额不足")
    modem.deliver("+447700900123", "A long incoming message. " * 12)
    modem.ring("+8613811112222")
    query = "SELECT originator, text, encoding, gateway_id FROM smsserver_in WHERE type = 'I' ORDER BY id"
    rows = s.wait_sql(query, lambda rows: len(rows) == 2)
    calls = s.wait_sql("SELECT caller_id, gateway_id FROM smsserver_calls", bool)
    assert rows == [("+8613700000001", "余额不足", "U", "sim1"),
                    ("+447700900123", "A long incoming message. " * 12, "7", "sim1")]
    assert calls == [("+8613811112222", "sim1")]
    assert modem.wait_for(lambda m: not m.storage, 5)


def test_duplicate_mo_is_stored_once(stack):
    s = stack(profiles=("generic",)).start()
    pdu = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
    s.sim[0].deliver_pdu(pdu)
    s.sim[0].deliver_pdu(pdu)
    assert s.sim[0].wait_for(lambda m: not m.storage and sum(c.startswith("AT+CMGD") for c in m.commands) >= 2, 5)
    assert s.sql("SELECT text FROM smsserver_in WHERE type = 'I'") == [("How are you?",)]


# The ladder's waits made long (a minute of backoff, five of quarantine): a modem
# that comes back must not wait for them.
LONG_WAITS = replace(FAST, health_interval=2.0, reopen_backoff=30.0, reopen_backoff_max=60.0, quarantine_retry=300.0)


@pytest.mark.parametrize("trouble", ["unplug", "hang"])
def test_a_modem_back_from_quarantine_sends_the_queue_within_seconds(stack, trouble):
    # In quarantine after the first failed reopen (unplugged: after the immediate one and the next).
    quarantine_after = 2 if trouble == "unplug" else 1
    s = stack(profiles=("generic",), modems=replace(LONG_WAITS, quarantine_after=quarantine_after)).start()
    modem, line = s.sim[0], s.bank["sim1"]
    s.wait_rows(s.send(msg(text="before")), SENT)
    modem.unplug() if trouble == "unplug" else modem.hang()
    wait_until(lambda: line.state.recovery_step == "quarantine", 20, lambda: f"quarantine: {line.state}")
    assert line.state.state == "offline"
    ids = s.send(*(msg(text=f"queued {i}") for i in range(3)))
    threading.Event().wait(1.5)  # into the 300 s of quarantine
    assert all(s.row(i)["status"] == "U" for i in ids)
    modem.replug() if trouble == "unplug" else modem.unhang()
    since = time.monotonic()
    rows = s.wait_rows(ids[:1], SENT, timeout=10)
    elapsed = time.monotonic() - since
    assert elapsed <= 10 and rows[0]["line"] == "sim1"
    s.wait_rows(ids, SENT)
    print(f"\n{trouble} -> the first queued message sent {elapsed:.2f}s after the modem came back")
