"""USSD and the line reset on GoIP channels, through the same Core calls (and MQTT commands)
as modem lines: ``USSD <sendid> <pw> <code>`` and ``svr_reboot_module``."""

from __future__ import annotations

import threading

import pytest

from agent.errors import CommandError, CommandTimeout, LineOffline
from agent.model import OFFLINE

from ..uplink.conftest import Broker, Client
from ..waiting import wait_until


def test_ussd_balance_through_the_core(rig):
    reply = rig.core.ussd("ch1", "*100#", timeout=3)
    assert (reply.line, reply.code, reply.status, reply.text) == ("ch1", "*100#", 0, "Balance 12.34")  # '@' padding cut
    assert rig.box.view("goip01").ussd_network == ("*100#",)  # sent once, without a newline
    # Each new request has a larger send id, so the box asks the network again instead of its cache.
    rig.box.set_ussd("*100#", "Balance 1.00")
    assert rig.core.ussd("ch1", "*100#", timeout=3).text == "Balance 1.00"
    assert rig.box.view("goip01").ussd_network == ("*100#", "*100#")
    assert rig.box.view("goip02").ussd_network == ()


def test_ussd_failures(rig):
    with pytest.raises(CommandError) as info:
        rig.core.ussd("ch2", "*199#", timeout=3)  # the sim's network does not know it: "USSD send failed!"
    assert "send failed" in str(info.value)
    rig.box.logout("goip02")  # no network: USSDERROR
    wait_until(lambda: not rig.state("ch2").registered, 5)
    with pytest.raises(CommandError):
        rig.core.ussd("ch2", "*100#", timeout=3)
    rig.box.login("goip02")
    rig.box.silent("goip01")  # no answer at all: a timeout, after one resend with the same send id
    with pytest.raises(CommandTimeout):
        rig.core.ussd("ch1", "*100#", timeout=1.5)
    assert rig.box.view("goip01").ussd_network == ("*100#",)  # the resend was answered from the cache
    rig.box.silent("goip01", False)
    assert rig.core.ussd("ch1", "*100#", timeout=3).text == "Balance 12.34"


def test_commands_to_an_offline_channel_fail_at_once(rig):
    rig.box.loss(0.0, 1.0)
    wait_until(lambda: rig.state("ch1").state == OFFLINE, 5)
    with pytest.raises(LineOffline):
        rig.core.ussd("ch1", "*100#", timeout=3)
    with pytest.raises(LineOffline):
        rig.core.reset_modem("ch1", timeout=3)


def test_line_reset_reboots_the_channels_module(rig):
    seen_logout = threading.Event()
    watching = threading.Event()

    def watch() -> None:  # the reboot logs the module out for reboot_time (0.5 s)
        while not watching.wait(0.01):
            if not rig.state("ch1").registered:
                seen_logout.set()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    rig.core.reset_modem("ch1", timeout=5)  # svr_reboot_module <sendid> <pw>, answered "... ok"
    assert seen_logout.wait(3), "the channel never logged out"
    watching.set()
    rig.wait_ready(["ch1"], timeout=5)
    assert rig.state("ch2").registered
    assert rig.box.view("goip01").unknown == ()  # the box understood every command it got


def test_ussd_and_reset_as_mqtt_commands(make_rig, tmp_path):
    broker = Broker(tmp_path / "broker").start()
    client = None
    try:
        rig = make_rig(2, extra=f"[mqtt]\nhost = 127.0.0.1\nport = {broker.port}\n")
        client = Client(broker, "5").connect()
        prefix = "sms-agent/goip-test"
        r = client.request(prefix, "ussd", {"id": "u1", "line": "ch2", "code": "*100#"})
        assert r["ok"] and r["result"]["line"] == "ch2" and r["result"]["text"] == "Balance 12.34", r
        r = client.request(prefix, "line", {"id": "r1", "line": "ch2", "action": "reset"}, timeout=10)
        assert r["ok"] and r["result"]["line"] == "ch2", r
        rig.wait_ready(timeout=5)
        lines = client.request(prefix, "querylines", {"id": "q1"})["result"]
        assert [(x["goip_line"], x["online"], x["reg"]) for x in lines] == [("ch1", "1", "LOGIN"),
                                                                            ("ch2", "1", "LOGIN")]
    finally:
        if client is not None:
            client.close()
        broker.stop()


def test_a_malformed_ussd_code_is_refused_and_the_line_goes_on(rig):
    for code in ("hello world", "*100#\n", "", "*1;0#"):
        with pytest.raises(ValueError):
            rig.core.ussd("ch1", code, timeout=2)
    assert rig.box.view("goip01").ussd_network == ()
    assert rig.core.ussd("ch1", "*100#", timeout=3).text == "Balance 12.34"
