"""GoIP channels as lines: registration by keepalive, offline by keepalive age, GSM logout,
a SIM swap, and channels the agent does not know (unknown id, wrong password)."""

from __future__ import annotations

import dataclasses
import threading
import time

from agent.model import OFFLINE, READY, NewMessage
from agent.sim.goip_channel import channel_specs

from ..waiting import wait_until


def test_channels_register_and_show_their_sim(rig):
    box = rig.box
    for i, (name, spec) in enumerate(zip(rig.names, rig.specs)):
        state = rig.state(name)
        address = box.view(i).address
        assert (state.state, state.registered, state.can_send) == (READY, True, True)
        assert state.device == f"goip:{spec.id}@127.0.0.1:{address[1]}"
        assert (state.model, state.manufacturer, state.profile) == ("GoIP", "DBLTek", "goip")
        assert (state.iccid, state.imsi, state.imei, state.number) == (spec.iccid, spec.imsi, spec.imei, spec.num)
        assert (state.operator, state.rssi, state.signal_dbm) == (spec.operator, spec.signal, -113 + 2 * spec.signal)
        assert state.last_error == ""
        # The box got our reg: with the count of its keepalive, status 200.
        view = box.view(i)
        assert view.registered and view.regs and all(status == "200" for _, status in view.regs)


def test_a_channel_whose_keepalives_stop_goes_offline_after_offline_after(rig):
    box = rig.box
    box.loss(0.0, 1.0)  # nothing from the box reaches the agent any more
    cut = time.monotonic()
    # The last keepalive came at most one period (0.5 s) before the cut: never offline before 1.0 s.
    assert not threading.Event().wait(0.9)
    assert all(rig.state(n).state == READY for n in rig.names), [rig.state(n) for n in rig.names]
    wait_until(lambda: all(rig.state(n).state == OFFLINE for n in rig.names), 5,
               lambda: f"offline: {[rig.state(n).state for n in rig.names]}")
    assert time.monotonic() - cut < 1.5 + 2.5
    assert rig.state("ch1").last_error == "no keepalive for 2s"
    assert not any(view.online for view in rig.core.lines_view() if view.name.startswith("ch"))

    [waiting] = rig.submit("sent once the box is back")  # an offline line takes nothing; the message waits
    assert not threading.Event().wait(0.3)
    assert rig.row(waiting)["status"] == "U" and not box.ledger
    box.loss(0.0, 0.0)
    rig.wait_ready(timeout=5)
    rig.wait_rows([waiting], lambda r: r["status"] == "S")
    assert list(rig.sent().values()) == [1]


def test_logout_shows_not_registered_and_the_line_takes_nothing(rig):
    box = rig.box
    box.logout("goip02")
    wait_until(lambda: not rig.state("ch2").registered, 5, "ch2 not registered")
    state = rig.state("ch2")
    assert state.state == READY and not state.can_send  # online (keepalives come), not on the network
    assert "LOGOUT" in state.last_error
    view = next(v for v in rig.core.lines_view() if v.name == "ch2")
    assert (view.online, view.registered, view.usable) == (True, False, False)
    lines = {line["goip_line"]: line for line in rig.post_json("/goip/querylines/", {})}
    assert (lines["ch2"]["online"], lines["ch2"]["reg"]) == ("1", "LOGOUT")
    assert (lines["ch1"]["online"], lines["ch1"]["reg"]) == ("1", "LOGIN")

    ids = rig.submit(*(f"not on ch2 {i}" for i in range(6)))
    rows = rig.wait_rows(ids, lambda r: r["status"] == "S")
    assert "ch2" not in {r["line"] for r in rows}

    box.login("goip02")
    rig.wait_ready(["ch2"], timeout=5)
    [pinned] = rig.submit(NewMessage("13800138999", "on ch2 again", gateway="ch2"))
    assert rig.wait_rows([pinned], lambda r: r["status"] == "S")[0]["line"] == "ch2"


def test_a_sim_swap_shows_the_new_iccid_and_counts_on_the_new_sim(make_rig):
    rig = make_rig(2)
    old = rig.specs[0]
    [first] = rig.submit(NewMessage("13800138001", "on the old SIM", gateway="ch1"))
    rig.wait_rows([first], lambda r: r["status"] == "S")
    wait_until(lambda: next(v for v in rig.core.lines_view() if v.name == "ch1").daily_sent == 1, 5)

    # The SIM of channel 1 is swapped: the box restarts (new source ports) with another ICCID/IMSI/number.
    new = dataclasses.replace(old, iccid="89860000999999999990", imsi="460009999999999", num="+8613999999999")
    rig.box.stop()
    rig.start_box([new, rig.specs[1]])
    wait_until(lambda: rig.state("ch1").iccid == new.iccid, 5, lambda: f"new ICCID: {rig.state('ch1')}")
    state = rig.state("ch1")
    assert (state.imsi, state.number) == (new.imsi, new.num)
    assert state.device == f"goip:{new.id}@127.0.0.1:{rig.box.view(0).address[1]}"
    rig.wait_ready()
    view = next(v for v in rig.core.lines_view() if v.name == "ch1")
    assert (view.iccid, view.daily_sent) == (new.iccid, 0)  # quotas are kept per SIM
    [second] = rig.submit(NewMessage("13800138002", "on the new SIM", gateway="ch1"))
    rig.wait_rows([second], lambda r: r["status"] == "S")
    assert rig.row(second)["iccid"] == new.iccid and rig.row(first)["iccid"] == old.iccid
    counters = rig.core.store.sims.sim_counters([old.iccid, new.iccid])
    assert {k: (v.daily_sent, v.total_sent) for k, v in counters.items()} == {old.iccid: (1, 1),
                                                                                  new.iccid: (1, 1)}


def test_unknown_ids_and_wrong_passwords_are_refused_and_never_become_lines(make_rig):
    configured = channel_specs(2)
    wrong = dataclasses.replace(configured[1], password="not-its-password")
    stranger = dataclasses.replace(channel_specs(9)[8], password="pw09")  # goip09: no line names it
    rig = make_rig(configured, box_specs=[configured[0], wrong, stranger], box={"status_ok": ("200",)}, start=False)
    rig.start(wait=False)
    rig.wait_ready(["ch1"])
    box = rig.box
    wait_until(lambda: len(box.view(1).regs) >= 2 and len(box.view(2).regs) >= 2, 5, "keepalives answered")
    for i in (1, 2):  # refused: reg status 404 (a box that reads it shows SMS_LOGIN N)
        view = box.view(i)
        assert {status for _, status in view.regs} == {"404"} and not view.registered
    state = rig.state("ch2")
    assert (state.state, state.registered, state.iccid) == (OFFLINE, False, "")
    assert state.last_error == "waiting for the first keepalive"
    assert rig.app.goip.stats["refused"] >= 4

    names = [v.name for v in rig.core.lines_view()]
    assert names == ["ch1", "ch2"]
    assert sorted(n for (n,) in rig.sql("SELECT name FROM lines")) <= ["ch1", "ch2"]
    assert [line["goip_line"] for line in rig.post_json("/goip/querylines/", {})] == ["ch1", "ch2"]
    status = __import__("json").loads(rig.get("/status.json"))
    assert [line["name"] for line in status["lines"]] == ["ch1", "ch2"]
    assert "goip09" not in rig.get("/status.json").decode()

    # Its password changed on the box after registering: refused from then on, offline after offline_after.
    box.wrong_password("goip01", "changed")
    wait_until(lambda: rig.state("ch1").state == OFFLINE, 5, "ch1 offline")
    [waiting] = rig.submit("waits for a channel that is ours")
    assert not threading.Event().wait(0.3) and rig.row(waiting)["status"] == "U"
    box.wrong_password("goip01", None)
    rig.wait_ready(["ch1"], timeout=5)
    rig.wait_rows([waiting], lambda r: r["status"] == "S")
    assert rig.sql("SELECT COUNT(*) FROM smsserver_in") == [(0,)]
