"""The MQTT uplink against a real mosquitto: retained state, the will, events end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent import __version__
from agent.model import CallRecord

from .conftest import mqtt_config, wait_until


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_online_status_and_lines_are_retained(broker, make_agent, make_bank, make_client, protocol):
    agent = make_agent(mqtt_config(broker, protocol=protocol), sim=make_bank(["generic", "generic"]))
    wait_until(lambda: agent.uplink.connected, what="the uplink to connect")
    p = agent.prefix
    assert p == "sms-agent/box1"
    # A client arriving later gets the retained state at once.
    watcher = make_client(broker, f"{p}/online", f"{p}/status", f"{p}/lines/+", protocol=protocol)
    assert watcher.wait_for(f"{p}/online").payload == b"1"
    status = watcher.wait_for(f"{p}/status").json()
    assert status["box"] == "box1" and status["version"] == __version__
    assert set(status["queue"]) == {"unsent", "sending", "sent", "failed", "sent_today", "failed_today"}
    assert status["lines"]["total"] == 2
    assert status["outbox"]["mqtt"] == {"pending": 0, "dropped": 0}
    assert {"published", "backlog", "dropped", "connected_since"} <= set(status["mqtt"])
    watcher.wait_for(f"{p}/lines/sim2")
    late = make_client(broker, f"{p}/#", protocol=protocol)  # what is kept for a client arriving later:
    for topic in (f"{p}/online", f"{p}/status", f"{p}/lines/sim1", f"{p}/lines/sim2"):
        late.wait_for(topic, lambda m: m.retain)
    line = watcher.wait_for(f"{p}/lines/sim1", lambda m: m.json()["state"] == "ready").json()
    assert line["online"] is True and line["registered"] is True and line["registration"] in ("home", "roaming")
    assert isinstance(line["signal_dbm"], int) and line["operator"] and len(line["iccid_tail"]) == 6
    assert line["daily_left"] == -1 and line["total_left"] == -1 and line["last_error"] == ""

    # A change is published without waiting for the status interval.
    agent.core.set_line_enabled("sim2", False)
    watcher.wait_for(f"{p}/lines/sim2", lambda m: m.json()["state"] == "disabled")
    watcher.wait_for(f"{p}/status", lambda m: m.json()["lines"]["disabled"] == 1, timeout=10)

    agent.stop()  # a clean stop says offline, retained
    watcher.wait_for(f"{p}/online", lambda m: m.payload == b"0")
    last = make_client(broker, f"{p}/online", protocol=protocol)
    assert last.wait_for(f"{p}/online").payload == b"0"


# The agent as ``python -m agent run`` builds it (the MQTT uplink included), stopped by SIGTERM.
RUNNER = """
import signal, sys
from agent.app import App
from agent.config import load

config = load(sys.argv[1])
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
app = App(config)
app.start()
signal.sigwait({signal.SIGTERM, signal.SIGINT})
app.stop()
"""


def test_the_will_says_offline_when_the_agent_is_killed(broker, make_client, tmp_path):
    """The agent as a process (the simulated bank and the uplink), killed with SIGKILL."""
    cfg = tmp_path / "agent.ini"
    cfg.write_text(textwrap.dedent(f"""
        [agent]
        id = killed
        state_dir = state
        [http]
        port = 0
        [simulator]
        lines = 1
        send_delay = 0
        [mqtt]
        host = 127.0.0.1
        port = {broker.port}
        protocol = 5
    """))
    watcher = make_client(broker, "sms-agent/killed/online")
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    proc = subprocess.Popen([sys.executable, str(runner), str(cfg)],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        watcher.wait_for("sms-agent/killed/online", lambda m: m.payload == b"1", timeout=20)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        watcher.wait_for("sms-agent/killed/online", lambda m: m.payload == b"0", timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        if proc.stderr:
            proc.stderr.close()


def test_mo_dr_and_calls_end_to_end(broker, make_agent, make_bank, make_client):
    sim = make_bank(["generic"])
    agent = make_agent(mqtt_config(broker), sim=sim)
    p = agent.prefix
    watcher = make_client(broker, f"{p}/mo", f"{p}/dr", f"{p}/calls", f"{p}/somp/receive/+")
    wait_until(lambda: agent.uplink.connected, what="the uplink to connect")

    reply = watcher.request(p, "sendsms", {"id": "e2e-1", "number": "13800000001", "content": "hello"})
    assert reply["ok"], reply
    task = reply["result"]["taskID"]
    result = watcher.wait_for(f"{p}/dr", lambda m: m.json()["kind"] == "result").json()
    assert result["status"] == "sent" and result["task_id"] == int(task)
    assert result["sub_task"] == f"{task}.13800000001" and result["client_ref"] == "e2e-1"
    assert result["line"] == "sim1" and result["replayed"] is False
    receipt = watcher.wait_for(f"{p}/dr", lambda m: m.json()["kind"] == "receipt").json()
    assert receipt["delivered"] is True and receipt["sub_task"] == f"{task}.13800000001"
    assert receipt["seq"] > result["seq"]
    assert watcher.wait_for(f"{p}/somp/receive/R13800000001").payload == b"DELIVRD"

    sim[0].deliver("+8613912345678", "你好, box")
    mo = watcher.wait_for(f"{p}/mo").json()
    assert mo["text"] == "你好, box" and mo["originator"] == "+8613912345678" and mo["line"] == "sim1"
    assert watcher.wait_for(f"{p}/somp/receive/M8613912345678").payload.decode() == "你好, box"

    sim[0].ring("+8613700000000", times=1)
    call = watcher.wait_for(f"{p}/calls").json()
    assert call["caller"] == "+8613700000000" and call["line"] == "sim1"
    # Each acknowledged event left the outbox.
    # (the counter moves just after the rows are deleted: wait for both)
    wait_until(lambda: agent.uplink.stats()["backlog"] == 0 and agent.uplink.stats()["published"] == 4,
               what="an empty outbox and four events acknowledged")


def test_somp_dialect_sends_a_text(broker, make_agent, make_bank, make_client):
    sim = make_bank(["generic"])
    agent = make_agent(mqtt_config(broker, protocol="3.1.1"), sim=sim)
    p = agent.prefix
    watcher = make_client(broker, f"{p}/somp/receive/+", protocol="3.1.1")
    wait_until(lambda: agent.uplink.connected, what="the uplink to connect")
    watcher.publish(f"{p}/somp/13612345678", "短信测试【测试】".encode())
    watcher.publish(f"{p}/somp/not-a-number", b"refused")  # logged, nothing queued
    wait_until(lambda: [m for m in sim[0].sent if m.recipient == "13612345678"], what="the SOMP text sent")
    assert watcher.wait_for(f"{p}/somp/receive/R13612345678").payload == b"DELIVRD"
    sent = [m for m in sim[0].sent]
    assert len(sent) == 1 and sent[0].text == "短信测试【测试】"


def test_stats_and_events_carry_the_outbox_order(broker, make_agent, make_client):
    agent = make_agent(mqtt_config(broker))
    p = agent.prefix
    watcher = make_client(broker, f"{p}/calls")
    wait_until(lambda: agent.uplink.connected, what="the uplink to connect")
    for i in range(20):
        agent.store.inbox.store_call(CallRecord("x", f"100{i:02d}", _now()))
    agent.uplink.wake()
    got = [m.json() for m in watcher.wait_count(f"{p}/calls", 20)]
    assert [g["caller"] for g in got] == [f"100{i:02d}" for i in range(20)]
    assert [g["seq"] for g in got] == sorted(g["seq"] for g in got)
    def settled():
        s = agent.uplink.stats()
        return s["published"] == 20 and s["backlog"] == 0 and s["connected"] and s["last_error"] is None and s
    stats = wait_until(settled, what=lambda: f"20 acknowledged, none left; stats {agent.uplink.stats()}")
    assert json.dumps(stats)


def _now():
    from datetime import datetime

    return datetime.now()
