"""Store and forward: the broker away, the agent restarted, the backlog replayed, the bounds."""

from __future__ import annotations

import signal
import time
from datetime import datetime

import pytest

from agent.model import CallRecord
from agent.uplink.forward import DESTINATION

from .conftest import mqtt_config, wait_until


def calls(agent, first: int, n: int) -> list[str]:
    """Record ``n`` incoming calls (each one ``call`` event in the outbox); return the callers."""
    callers = [f"1390000{i:04d}" for i in range(first, first + n)]
    for caller in callers:
        agent.store.inbox.store_call(CallRecord("x", caller, datetime.now()))
    agent.uplink.wake()
    return callers


def callers_of(messages) -> list[str]:
    return [m.json()["caller"] for m in messages]


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_broker_away_then_back_every_event_arrives_once_in_order(make_broker, make_agent, make_client, protocol):
    # Persistence and a durable session keep the centre's subscription across the
    # restart, so nothing the agent sends before the centre is back is missed.
    broker = make_broker(persistent=True)
    agent = make_agent(mqtt_config(broker, protocol=protocol))
    p = agent.prefix
    centre = make_client(broker, f"{p}/calls", protocol="3.1.1" if protocol == "5" else "5", durable=True)
    wait_until(lambda: agent.uplink.connected, what="the uplink to connect")
    before = calls(agent, 0, 5)
    centre.wait_count(f"{p}/calls", 5)
    wait_until(lambda: agent.uplink.stats()["backlog"] == 0, what="the first events acknowledged")

    broker.stop()
    wait_until(lambda: not agent.uplink.connected, what="the uplink to notice")
    meanwhile = calls(agent, 5, 60)
    assert agent.uplink.stats()["backlog"] == 60
    broker.start()

    # The broker itself may send the centre again (DUP) what it had not seen the
    # centre acknowledge before it stopped: that is its QoS 1 leg, not the agent's.
    wait_until(lambda: len([m for m in centre.on(f"{p}/calls") if not m.dup]) >= 65, 15, "65 events")
    everything = centre.on(f"{p}/calls")
    got = [m for m in everything if not m.dup]
    assert callers_of(got) == before + meanwhile  # all, once each, in order
    assert set(callers_of([m for m in everything if m.dup])) <= set(before)
    events = [m.json() for m in got]
    assert [e["replayed"] for e in events] == [False] * 5 + [True] * 60
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    wait_until(lambda: agent.uplink.stats()["backlog"] == 0, what="the outbox emptied")
    assert agent.uplink.stats()["dropped"] == 0


def test_agent_restarted_while_the_broker_is_away_keeps_its_backlog(broker, make_agent, make_client, tmp_path):
    db = tmp_path / "kept.db"
    broker.stop()
    first = make_agent(mqtt_config(broker), db=db)
    callers = calls(first, 0, 30)
    assert first.uplink.stats()["connected"] is False
    t0 = time.monotonic()
    first.stop()  # cannot say offline: no broker; must not hang for it
    assert time.monotonic() - t0 < 5

    broker.start()
    centre = make_client(broker, "sms-agent/box1/calls")
    second = make_agent(mqtt_config(broker), db=db)
    got = centre.wait_count("sms-agent/box1/calls", 30)
    assert callers_of(got) == callers
    wait_until(lambda: second.uplink.stats()["backlog"] == 0 and second.uplink.stats()["published"] == 30,
               what="the outbox emptied, 30 events acknowledged")


def test_live_events_are_not_held_behind_a_paced_replay(make_broker, make_agent, make_client):
    broker = make_broker(persistent=True)
    agent = make_agent(mqtt_config(broker, replay_rate=150.0))
    p = agent.prefix
    centre = make_client(broker, f"{p}/calls", durable=True)
    wait_until(lambda: agent.uplink.connected, what="the uplink to connect")
    broker.stop()
    wait_until(lambda: not agent.uplink.connected, what="the uplink to notice")
    backlog = calls(agent, 0, 150)
    broker.start()
    wait_until(lambda: agent.uplink.connected, what="the uplink to reconnect")
    t0 = time.monotonic()
    live = calls(agent, 1000, 5)

    got = centre.wait_count(f"{p}/calls", 155, timeout=15)
    elapsed = time.monotonic() - t0
    order = callers_of(got)
    assert [c for c in order if c in backlog] == backlog and [c for c in order if c in live] == live
    assert order.index(live[-1]) < order.index(backlog[-1])  # live went first, not after 150 others
    assert 0.5 < elapsed < 5  # 150 at 150/s: paced, about a second
    assert all(m.json()["replayed"] is (callers_of([m])[0] in backlog) for m in got)


def test_the_outbox_is_bounded_while_the_broker_is_away(make_broker, make_agent, make_client):
    broker = make_broker(persistent=True)
    # Subscribed with a kept session before the broker goes: it misses nothing the agent
    # publishes once the broker is back, however quickly the agent reconnects.
    centre = make_client(broker, "sms-agent/box1/calls", durable=True)
    broker.stop()
    agent = make_agent(mqtt_config(broker, outbox_max_events=100), housekeeping=0.05)
    callers = calls(agent, 0, 130)
    wait_until(lambda: agent.uplink.stats()["dropped"] == 30, what="the oldest 30 given up")
    assert agent.uplink.stats()["backlog"] == 100
    broker.start()
    got = centre.wait_count("sms-agent/box1/calls", 100, timeout=30)
    assert callers_of(got) == callers[30:]  # the newest kept, in order
    assert agent.core.store.outbox.stats()[DESTINATION]["dropped"] == 30


def test_events_older_than_the_age_bound_are_given_up(broker, make_agent):
    broker.stop()
    agent = make_agent(mqtt_config(broker, outbox_max_age_hours=0.3 / 3600), housekeeping=0.05)
    calls(agent, 0, 10)
    wait_until(lambda: agent.uplink.stats()["dropped"] == 10, what="old events given up")
    assert agent.uplink.stats()["backlog"] == 0


ACL = """
user centre
topic readwrite #

user box
topic readwrite sms-agent/box1/#
topic deny sms-agent/box1/calls
"""


def test_a_refused_event_is_retried_and_credentials_are_used(make_broker, make_agent, make_client):
    broker = make_broker(users={"box": "box-secret", "centre": "centre-secret"}, acl=ACL)
    centre = make_client(broker, "sms-agent/box1/#", username="centre", password="centre-secret")

    wrong = make_agent(mqtt_config(broker, username="box", password="wrong"), box_id="box1")
    wait_until(lambda: "refused" in (wrong.uplink.stats()["last_error"] or ""), what="the refusal")
    assert not wrong.uplink.connected
    wrong.stop()

    agent = make_agent(mqtt_config(broker, username="box", password="box-secret"), box_id="box1")
    wait_until(lambda: agent.uplink.connected, what="the uplink to connect")
    calls(agent, 0, 1)  # the broker refuses this topic to the box: PUBACK "Not authorized"
    wait_until(lambda: "refused" in (agent.uplink.stats()["last_error"] or ""), what="the PUBACK refusal")
    rows = agent.store.outbox.after(DESTINATION, 0, 10)
    assert len(rows) == 1 and "PUBACK" in (rows[0].last_error or "")
    assert centre.on("sms-agent/box1/calls") == []

    (broker.folder / "acl").write_text(ACL.replace("topic deny sms-agent/box1/calls\n", ""))
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGHUP)  # mosquitto reloads its ACL
    assert callers_of([centre.wait_for("sms-agent/box1/calls", timeout=10)]) == ["13900000000"]
    wait_until(lambda: agent.uplink.stats()["backlog"] == 0, what="the outbox emptied")


def make_certificates(folder) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, with openssl."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the TLS certificates")
    folder.mkdir(exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test CA")
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        (folder / f"{name}.ext").write_text(extra + "\n")
        run("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return {k: str(folder / v) for k, v in (("ca", "ca.pem"), ("cert", "client.pem"), ("key", "client.key"),
                                             ("server_cert", "server.pem"), ("server_key", "server.key"))}


def test_tls_with_a_client_certificate(make_broker, make_agent, make_client, tmp_path):
    certs = make_certificates(tmp_path / "certs")
    broker = make_broker(tls={"cafile": certs["ca"], "certfile": certs["server_cert"], "keyfile": certs["server_key"]})
    watcher = make_client(broker, "sms-agent/+/online")

    without = make_agent(mqtt_config(broker, port=broker.tls_port, tls_ca=certs["ca"]), box_id="nocert")
    agent = make_agent(mqtt_config(broker, port=broker.tls_port, tls_ca=certs["ca"], tls_cert=certs["cert"],
                                   tls_key=certs["key"]), box_id="tls")
    wait_until(lambda: agent.uplink.connected, what="the uplink over TLS")
    assert watcher.wait_for("sms-agent/tls/online").payload == b"1"
    wait_until(lambda: without.uplink.stats()["last_error"], what="the refusal of a client without certificate")
    assert not without.uplink.connected
