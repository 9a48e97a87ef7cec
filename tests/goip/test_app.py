"""GoIP lines in the whole agent: what the status page, /status.json, /metrics and the APIs
show of them, their quotas, a bank mixing modems and GoIP channels, and a stop mid-send."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter

from agent.model import NewMessage

from ..waiting import wait_until

LONG = "Three parts of GSM-7 text, sent by the box as one MSG. " * 8  # 440 characters: 3 parts


def _metric(text: str, name: str, line: str) -> float:
    m = re.search(rf'^{name}{{line="{line}"}} (\S+)$', text, re.M)
    assert m, f"{name} {line} not in /metrics"
    return float(m.group(1))


def test_status_json_metrics_and_apis_show_goip_lines(rig):
    box = rig.box
    status = json.loads(rig.get("/status.json"))
    lines = {line["name"]: line for line in status["lines"]}
    assert list(lines) == ["ch1", "ch2", "ch3", "ch4"]
    for i, name in enumerate(rig.names):
        line, spec = lines[name], rig.specs[i]
        assert line["device"] == f"goip:{spec.id}@127.0.0.1:{box.view(i).address[1]}"
        assert (line["model"], line["state"], line["online"], line["registered"], line["usable"]) == (
            "GoIP", "ready", True, True, True)
        assert (line["iccid_tail"], line["operator"], line["signal_dbm"]) == (
            spec.iccid[-6:], spec.operator, -113 + 2 * spec.signal)
    page = rig.get("/").decode()
    assert all(f">{name}<" in page for name in rig.names)
    assert [x["goip_line"] for x in rig.post_json("/goip/querylines/", {})] == rig.names

    ids = rig.core.submit([NewMessage("13800138001", "one", gateway="ch1"),
                           NewMessage("13800138002", LONG, gateway="ch1")], source="test").ids
    rig.wait_rows(ids, lambda r: r["status"] == "S")
    box.receive("goip01", "10086", "hello")
    wait_until(lambda: rig.sql("SELECT COUNT(*) FROM smsserver_in") == [(1,)], 5)
    box.fail_next("goip01", 21)
    [failed] = rig.core.submit([NewMessage("13800138003", "refused", gateway="ch1")], source="test").ids
    rig.wait_rows([failed], lambda r: r["status"] == "F")
    metrics = rig.get("/metrics").decode()
    assert _metric(metrics, "sms_agent_line_sent_parts_total", "ch1") == 4  # 1 + 3 parts, as the box splits
    assert _metric(metrics, "sms_agent_line_failed_parts_total", "ch1") == 1
    assert _metric(metrics, "sms_agent_line_received_parts_total", "ch1") == 1
    assert _metric(metrics, "sms_agent_line_sent_parts_total", "ch2") == 0
    line = {x["name"]: x for x in json.loads(rig.get("/status.json"))["lines"]}["ch1"]
    assert line["last_send_at"] and line["sent_today"] == 2 and line["failed_today"] == 1


def test_quotas_count_every_part_the_box_sends(rig):
    rig.core.set_quota("ch1", daily=5)
    [first] = rig.core.submit([NewMessage("13800138001", LONG, gateway="ch1")], source="test").ids
    [row] = rig.wait_rows([first], lambda r: r["status"] == "S")
    assert (row["parts"], row["sent_parts"]) == (3, 3)
    view = next(v for v in rig.core.lines_view() if v.name == "ch1")
    assert (view.daily_sent, view.daily_left) == (3, 2)
    [second] = rig.core.submit([NewMessage("13800138002", LONG, gateway="ch1")], source="test").ids
    assert not wait_until_or_none(lambda: rig.row(second)["status"] != "U", 0.5)  # 3 more parts would pass 5
    assert len(rig.box.ledger) == 1
    rig.core.set_quota("ch1", daily=6)
    rig.wait_rows([second], lambda r: r["status"] == "S")
    assert next(v for v in rig.core.lines_view() if v.name == "ch1").daily_sent == 6


def wait_until_or_none(predicate, timeout: float):
    """``predicate``'s value once truthy within ``timeout``, else None."""
    try:
        return wait_until(predicate, timeout)
    except AssertionError:
        return None


def test_a_bank_of_modems_and_goip_channels_in_one_agent(make_rig, make_bank):
    sim = make_bank(["simcom", "huawei"], send_delay=0.1)
    modems = {m.name: m.path for m in sim.modems}
    rig = make_rig(2, modems=modems, names=["goipA", "goipB"], box={"send_delay": 0.1})
    assert rig.app.wait_ready(10)
    names = [v.name for v in rig.core.lines_view()]
    assert names == [*modems, "goipA", "goipB"]
    states = {s.name: s for s in rig.app.bank.states()}
    assert all(states[n].can_send for n in names), states
    assert states["goipA"].model == "GoIP" and states[sim.modems[0].name].device == sim.modems[0].path

    msgs = [NewMessage(f"1380013{i:04d}", f"mixed bank {i}") for i in range(20)]
    ids = rig.core.submit(msgs, source="test").ids
    rows = rig.wait_rows(ids, lambda r: r["status"] == "S", timeout=30)
    spread = Counter(r["line"] for r in rows)
    assert spread.keys() == set(names) and min(spread.values()) >= 3, spread  # round robin over both kinds
    by_modem = Counter(m.text for modem in sim.modems for m in modem.sent)
    by_box = Counter(s.text for s in rig.box.ledger)
    assert by_modem + by_box == Counter(m.text for m in msgs)  # each sent once, by exactly one of them
    # USSD through the same call on both kinds of line.
    assert "12.34" in rig.core.ussd("goipA", "*100#", timeout=3).text
    assert rig.core.ussd(sim.modems[0].name, "*100#", timeout=5).text


def _spy_send(rig, channel_id: str):
    """An Event set once ``channel_id`` of the box got a SEND (the message may go out from then on)."""
    got = threading.Event()
    channel = rig.box.channel(channel_id)
    handle = channel.handle

    def spy(data: bytes, addr: tuple[str, int]) -> None:
        handle(data, addr)
        if data.startswith(b"SEND "):
            got.set()

    channel.handle = spy
    return got


def test_a_stop_while_the_box_is_slow_lets_the_send_finish_and_nothing_goes_twice(make_rig):
    rig = make_rig(2, box={"send_delay": 1.0})
    sent = _spy_send(rig, "goip01")
    first = NewMessage("13800138001", "slow but recorded", gateway="ch1")
    [msg_id] = rig.core.submit([first], source="test").ids
    assert sent.wait(5)
    rig.app.stop(5)  # the send in flight gets the budget: the box answers OK after 1 s
    assert rig.row_after_stop(msg_id)["status"] == "S"
    rig.restart()
    [later] = rig.core.submit([NewMessage("13800138002", "after the restart", gateway="ch1")], source="test").ids
    rig.wait_rows([later], lambda r: r["status"] == "S")  # the router took it: the first was not resent
    assert rig.sent() == Counter({(first.recipient, first.text): 1, ("13800138002", "after the restart"): 1})
    assert not rig.row(msg_id)["in_doubt"]


def test_a_stop_that_cuts_a_send_short_leaves_it_in_doubt_and_flagged(make_rig, caplog):
    rig = make_rig(2, box={"send_delay": 1.0})
    sent = _spy_send(rig, "goip01")
    cut = NewMessage("13800138003", "cut short by the stop", gateway="ch1")
    untouched = NewMessage("13800138004", "not begun", gateway="ch1")
    [cut_id] = rig.core.submit([cut], source="test").ids
    assert sent.wait(5)
    [untouched_id] = rig.core.submit([untouched], source="test").ids  # ch1 is busy: it waits
    rig.app.stop(0.4)  # less than the box needs: the send is cut short
    assert any("cut its send on ch1 short" in r.getMessage() for r in caplog.records)
    assert rig.row_after_stop(cut_id)["status"] == "Q"  # settled at the next start
    assert rig.row_after_stop(untouched_id)["status"] == "U"
    wait_until(lambda: rig.box.ledger, 5, "the box finished the send on its own")
    rig.box.set_send_delay(0.0)
    rig.restart()
    rows = rig.wait_rows([cut_id, untouched_id], lambda r: r["status"] == "S")
    # The one cut short may have gone out: sent again, flagged; the other went once, unflagged.
    assert [r["in_doubt"] for r in rows] == [1, 0]
    assert rig.sent() == Counter({(cut.recipient, cut.text): 2, (untouched.recipient, untouched.text): 1})
