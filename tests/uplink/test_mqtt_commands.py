"""Remote management over MQTT 5 (response topic + correlation data) and 3.1.1 (``reply/<id>``)."""

from __future__ import annotations

import json
import uuid

import pytest

from agent import redact

from ..test_secrets import every_secret_config
from .conftest import mqtt_config, wait_until

PROTOCOLS = ["5", "3.1.1"]


@pytest.fixture
def setup(broker, make_agent, make_bank, make_client):
    """setup(protocol, **bank_kw) -> (agent, client): two simulated lines, a client of that protocol."""
    def make(protocol: str, **bank_kw):
        agent = make_agent(mqtt_config(broker, protocol=protocol), sim=make_bank(["generic", "generic"], **bank_kw))
        client = make_client(broker, f"{agent.prefix}/lines/+", protocol=protocol)
        wait_until(lambda: agent.uplink.connected, what="the uplink to connect")
        return agent, client
    return make


def rid() -> str:
    return uuid.uuid4().hex


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sendsms_querysms_querylines(setup, protocol):
    agent, client = setup(protocol)
    p = agent.prefix
    reply = client.request(p, "sendsms", {"id": rid(), "number": "13800000001, 13800000002,13800000001",
                                          "content": "hi", "goip_line": "sim2"})
    assert reply["ok"] and reply["command"] == "sendsms" and reply["result"]["result"] == "ACCEPT", reply
    task = reply["result"]["taskID"]

    def statuses():
        r = client.request(p, "querysms", {"id": rid(), "taskID": task})
        assert r["ok"], r
        return r["result"]
    done = wait_until(lambda: (s := statuses()) and all(x["send"] == "succeeded" for x in s) and s, 10, "sent")
    assert [s["taskID"] for s in done] == [f"{task}.13800000001", f"{task}.13800000002"]
    assert {s["goip_line"] for s in done} == {"sim2"}
    one = client.request(p, "querysms", {"id": rid(), "taskID": f"{task}.13800000002"})["result"]
    assert [s["taskID"] for s in one] == [f"{task}.13800000002"]
    assert client.request(p, "querysms", {"id": rid(), "taskID": "999999"})["result"] == []

    lines = client.request(p, "querylines", {"id": rid()})
    assert lines["ok"] and [x["goip_line"] for x in lines["result"]] == ["sim1", "sim2"]
    assert lines["result"][0] == {"goip_line": "sim1", "online": "1", "reg": "LOGIN", "remain_sms": "-1",
                                  "day_remain_sms": "-1"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_line_quota_and_ussd(setup, protocol):
    agent, client = setup(protocol)
    p = agent.prefix
    r = client.request(p, "set_quota", {"id": rid(), "line": "sim1", "daily": 5, "total": 100})
    assert r["ok"] and r["result"] == {"line": "sim1", "daily": 5, "total": 100, "daily_left": 5, "total_left": 100}
    client.wait_for(f"{p}/lines/sim1", lambda m: m.json()["daily_left"] == 5)
    r = client.request(p, "set_quota", {"id": rid(), "line": "sim1", "daily": -1, "reset_daily": True,
                                        "reset_total": True})
    assert r["ok"] and r["result"]["daily"] == -1 and r["result"]["total"] == 100

    r = client.request(p, "line", {"id": rid(), "line": "sim2", "action": "disable"})
    assert r["ok"] and r["result"]["state"] == "disabled", r
    client.wait_for(f"{p}/lines/sim2", lambda m: m.json()["state"] == "disabled")
    r = client.request(p, "line", {"id": rid(), "line": "sim2", "action": "enable"})
    assert r["ok"], r
    client.wait_for(f"{p}/lines/sim2", lambda m: m.json()["state"] == "ready", timeout=10)

    r = client.request(p, "line", {"id": rid(), "line": "sim2", "action": "provider", "provider": "branch-A"})
    assert r["ok"] and r["result"]["provider"] == "branch-A", r
    assert agent.core.lines_view()[1].provider == "branch-A"
    assert client.request(p, "line", {"id": rid(), "line": "sim2", "action": "provider"})["error"] == "bad_request"

    resets = sum(c.upper().startswith("AT+CFUN=1,1") for c in agent.sim[0].commands)
    r = client.request(p, "line", {"id": rid(), "line": "sim1", "action": "reset"}, timeout=20)
    assert r["ok"] and r["result"]["line"] == "sim1", r
    assert sum(c.upper().startswith("AT+CFUN=1,1") for c in agent.sim[0].commands) == resets + 1

    r = client.request(p, "ussd", {"id": rid(), "line": "sim2", "code": "*100#"})
    assert r["ok"], r
    assert r["result"]["line"] == "sim2" and r["result"]["code"] == "*100#"
    assert "balance" in r["result"]["text"].lower()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_refusal_is_an_error_reply_and_nothing_is_done(setup, protocol):
    agent, client = setup(protocol)
    p = agent.prefix
    before = agent.store.queue_depths()

    def error(command, body):
        r = client.request(p, command, body)
        assert r["ok"] is False and r["command"] == command and r["detail"] is not None, r
        return r["error"]

    assert error("reboot", {"id": rid()}) == "unknown_command"
    assert error("sendsms", b'{"id": "x1", "number": ') == "bad_json"
    assert error("sendsms", b'["an", "array"]') == "bad_json"
    assert error("sendsms", {"id": rid(), "content": "no number"}) == "bad_request"
    assert error("sendsms", {"id": rid(), "number": "12ab", "content": "x"}) == "bad_request"
    assert error("sendsms", {"id": rid(), "number": "13800000001", "content": ""}) == "bad_request"
    assert error("sendsms", {"id": rid(), "number": "13800000001", "content": "x", "goip_line": "G9"}) == "none_line"
    assert error("sendsms", {"id": rid(), "number": "13800000001", "content": "x", "provider": "x"}) == "none_provider"
    assert error("querysms", {"id": rid()}) == "bad_request"
    assert error("set_quota", {"id": rid(), "line": "sim1"}) == "bad_request"
    assert error("set_quota", {"id": rid(), "line": "sim1", "daily": -5}) == "bad_request"
    assert error("set_quota", {"id": rid(), "line": "sim1", "daily": True}) == "bad_request"
    assert error("set_quota", {"id": rid(), "line": "nope", "daily": 1}) == "not_found"
    assert error("line", {"id": rid(), "line": "sim1"}) == "bad_request"
    assert error("line", {"id": rid(), "line": "sim1", "action": "explode"}) == "bad_request"
    assert error("line", {"id": rid(), "action": "disable"}) == "bad_request"
    assert error("ussd", {"id": rid(), "line": "sim1"}) == "bad_request"
    assert error("ussd", {"id": rid(), "line": "sim1", "code": "hello"}) == "bad_request"
    assert error("ussd", {"id": rid(), "line": "sim9", "code": "*100#"}) == "not_found"
    assert error("status", {"id": ["not", "a", "string"]}) == "bad_request"
    assert error("status", {"id": "a/b"}) == "bad_request"
    assert agent.store.queue_depths() == before
    assert agent.core.limits.get("sim1") == (-1, -1)
    assert [s.state for s in agent.bank.states()] == ["ready", "ready"]


def test_replies_without_an_id_or_a_response_topic(setup):
    agent, client = setup("3.1.1")
    p = agent.prefix
    client.subscribe(f"{p}/reply/#")
    client.publish(f"{p}/cmd/status", b"not json")  # no id to be read: the reply goes to reply
    r = client.wait_for(f"{p}/reply").json()
    assert r == {"id": None, "command": "status", "ok": False, "error": "bad_json",
                 "detail": r["detail"]} and "JSON" in r["detail"]
    client.publish(f"{p}/cmd/status", json.dumps({"id": "s-1"}))
    assert client.wait_for(f"{p}/reply/s-1").json()["result"]["box"] == "box1"
    client.publish(f"{p}/cmd/status", json.dumps({"id": 42}))  # an integer id is fine
    assert client.wait_for(f"{p}/reply/42").json()["id"] == "42"
    # Another box's topics are not listened to: nothing answers there.
    client.publish("sms-agent/other/cmd/status", json.dumps({"id": "o-1"}))
    client.publish(f"{p}/cmd/status", json.dumps({"id": "s-2"}))
    client.wait_for(f"{p}/reply/s-2")
    assert client.on("sms-agent/other/#") == [] and client.on(f"{p}/reply/o-1") == []


def test_mqtt5_reply_carries_the_correlation_data(setup):
    agent, client = setup("5")
    p = agent.prefix
    r = client.request(p, "status", {})  # no id: the response topic is enough
    assert r["ok"] and r["id"] is None and r["result"]["lines"]["total"] == 2
    reply = client.on("test/replies/#")[-1]
    assert reply.properties.ContentType == "application/json"


def test_state_changing_commands_are_idempotent_by_request_id(setup):
    agent, client = setup("5")
    p = agent.prefix
    body = {"id": "same-1", "number": "13800000009", "content": "once"}
    first = client.request(p, "sendsms", body)
    again = client.request(p, "sendsms", body)
    assert first == again and first["ok"]
    assert len(agent.store.messages_by_task(int(first["result"]["taskID"]))) == 1
    assert agent.store.queue_depths()["U"] + agent.store.queue_depths()["Q"] + agent.store.queue_depths()["S"] == 1

    resets = sum(c.upper().startswith("AT+CFUN=1,1") for c in agent.sim[1].commands)
    reset = {"id": "reset-1", "line": "sim2", "action": "reset"}
    assert client.request(p, "line", reset, timeout=20) == client.request(p, "line", reset, timeout=20)
    assert sum(c.upper().startswith("AT+CFUN=1,1") for c in agent.sim[1].commands) == resets + 1

    # A refused request is not remembered: corrected, the same id goes through.
    assert client.request(p, "set_quota", {"id": "q-1", "line": "sim1", "daily": "x"})["error"] == "bad_request"
    assert client.request(p, "set_quota", {"id": "q-1", "line": "sim1", "daily": 7})["result"]["daily"] == 7


def test_a_reused_id_with_another_request_is_a_conflict_and_nothing_is_done(setup):
    agent, client = setup("5")
    p = agent.prefix

    def rows() -> int:
        depths = agent.store.queue_depths()
        return sum(depths[s] for s in "UQSF")

    body = {"id": "dup-1", "number": "13800000009", "content": "once"}
    first = client.request(p, "sendsms", body)
    assert first["ok"], first
    before = rows()
    for changed in ({"content": "twice"}, {"number": "13800000008"}, {"goip_line": "sim1"}):
        r = client.request(p, "sendsms", {**body, **changed})
        assert (r["ok"], r["error"], r["id"]) == (False, "conflict", "dup-1"), r
    # The queue keeps the key too (a restart forgets the replies, not the submissions):
    # another id carrying the first one's client_ref is checked there.
    r = client.request(p, "sendsms", {"id": "dup-2", "client_ref": "dup-1", "number": "13800000009", "content": "x"})
    assert (r["ok"], r["error"]) == (False, "conflict"), r
    r = client.request(p, "sendsms", {"id": "dup-3", "client_ref": "dup-1", "number": "13800000009",
                                      "content": "once"})
    assert r["ok"] and r["result"] == first["result"], r
    assert client.request(p, "sendsms", body) == first
    assert rows() == before

    quota = {"id": "q-9", "line": "sim1", "daily": 7}
    assert client.request(p, "set_quota", quota)["ok"]
    r = client.request(p, "set_quota", {**quota, "daily": 9})
    assert (r["ok"], r["error"]) == (False, "conflict"), r
    assert agent.core.limits.get("sim1") == (7, -1)
    assert client.request(p, "set_quota", {"line": "sim1", "daily": 7, "id": "q-9"})["ok"]  # key order is no change


def test_a_slow_command_does_not_hold_the_others(setup):
    agent, client = setup("5", ussd_delay=3.0)
    p = agent.prefix
    import threading

    slow: dict = {}
    thread = threading.Thread(target=lambda: slow.update(client.request(p, "ussd", {"id": "u-1", "line": "sim1",
                                                                                    "code": "*100#"}, timeout=20)))
    thread.start()
    fast = client.request(p, "status", {"id": "st-1"}, timeout=2.5)  # answered while the USSD waits
    assert fast["ok"] and not slow
    thread.join(20)
    assert slow["ok"], slow


def test_config_is_shown_with_secrets_masked(broker, make_agent, make_client, tmp_path):
    # A config that sets every secret (the helper fails if a new one is left out).
    cfg = every_secret_config(tmp_path, mqtt_host=broker.host, mqtt_port=broker.port)
    agent = make_agent(cfg.mqtt, app_config=cfg)
    client = make_client(broker)
    wait_until(lambda: agent.uplink.connected, what="the uplink to connect")
    r = client.request(agent.prefix, "config", {"id": "c-1"})
    assert r["ok"], r
    reply = json.dumps(r, ensure_ascii=False) + json.dumps(r)
    leaked = sorted(s for s in redact.secret_values(cfg) if s in reply)
    assert leaked == [], f"the config command shows {leaked}"
    shown = r["result"]
    assert shown["status"]["admin_password"] == "***" and shown["httpinterface"]["very_code"] == "***"
    assert shown["batchsend"]["push_password"] == "***" and shown["lines"][0]["pin"] == "***"
    assert shown["goip"]["credentials"] == {"username": "admin", "password": "***"}
    assert shown["jindi"]["password"] == "***" and shown["mqtt"]["password"] == "***"
    assert shown["jindi"]["push_url"] == "http://ju:***@app.local/push?pw=***&text=%text%"
    assert shown["batchsend"]["report_url"] == "http://app.local/report?pswd=***&x=1"
    assert shown["mqtt"]["host"] == broker.host and shown["mqtt"]["username"] == "box-user"
    assert shown["agent"]["id"] == "box1"