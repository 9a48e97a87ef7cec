"""/metrics read by a real Prometheus text parser (prometheus_client, a test-only dependency)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from agent.api.metrics import RequestCounter, render

from ..conftest import FAST
from ..queue_harness import msg
from .status_helpers import RECIPIENT, wait_until


def scrape(api) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} from one scrape."""
    reply = api.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_lines_queue_and_requests(make_api):
    api = make_api(modems=replace(FAST, health_interval=1.0))
    api.stack.sim.by_name("sim2").set_state(registered=False)
    wait_until(lambda: not api.core.bank["sim2"].state.registered, what="sim2 losing the network")
    (sent,) = api.stack.send(msg(RECIPIENT, "x" * 200, gateway="sim1"))  # two parts
    api.stack.wait_rows([sent], lambda r: r["status"] == "S")
    api.stack.sim.by_name("sim1").fail_next_send(21)
    (failed,) = api.stack.send(msg(RECIPIENT, "no", gateway="sim1"))
    api.stack.wait_rows([failed], lambda r: r["status"] == "F")
    api.stack.sql("INSERT INTO smsserver_out (recipient, text, create_date, scheduled)"
                  " VALUES ('1', 'waiting', datetime('now'), '2099-01-01 00:00:00')")  # stays unsent
    api.post_json("/goip/sendsms", {"auth": {"username": "admin", "password": "nope"}})  # 401
    api.get("/send", password="jpass")  # Jindi answers 200 with its own error code
    api.get("/no/such/page")
    api.get("/")
    m = scrape(api)
    line = lambda name: (("line", name),)  # noqa: E731
    assert m["sms_agent_line_online"] == {line("sim1"): 1, line("sim2"): 1}
    assert m["sms_agent_line_registered"] == {line("sim1"): 1, line("sim2"): 0}
    assert m["sms_agent_line_usable"] == {line("sim1"): 1, line("sim2"): 0}
    assert -113 <= m["sms_agent_line_signal_dbm"][line("sim1")] <= -51
    assert m["sms_agent_line_sent_parts_total"][line("sim1")] == 2
    assert m["sms_agent_line_failed_parts_total"][line("sim1")] == 1
    assert m["sms_agent_line_sent_parts_total"][line("sim2")] == 0
    assert m["sms_agent_line_messages_today"][(("line", "sim1"), ("result", "failed"))] == 1
    assert m["sms_agent_line_state"][(("line", "sim1"), ("state", "ready"))] == 1
    assert m["sms_agent_line_daily_limit_parts"][line("sim1")] == -1
    assert m["sms_agent_queue_messages"] == {(("state", "unsent"),): 1, (("state", "sending"),): 0,
                                             (("state", "sent"),): 1, (("state", "failed"),): 1}
    assert m["sms_agent_messages_today"] == {(("result", "sent"),): 1, (("result", "failed"),): 1}
    assert m["sms_agent_mqtt_connected"] == {(): 0} and m["sms_agent_mqtt_configured"] == {(): 0}
    assert m["sms_agent_info"] == {(("box_id", "api-test"), ("version", "0.1.0")): 1}
    assert m["sms_agent_clock_ok"] == {(): 1}
    requests = m["sms_agent_http_requests_total"]
    assert requests[(("code", "401"), ("dialect", "goip"))] == 1
    assert requests[(("code", "200"), ("dialect", "jindi"))] == 1
    assert requests[(("code", "404"), ("dialect", "none"))] == 1
    assert requests[(("code", "200"), ("dialect", "status"))] == 1
    assert scrape(api)["sms_agent_http_requests_total"][(("code", "200"), ("dialect", "metrics"))] == 1


class Uplink:
    connected = True
    connected_since = time.time()

    def stats(self) -> dict[str, Any]:
        return {}


def test_outbox_backlog_and_mqtt(api):
    old = time.time() - 120
    for destination in ("goip-result", "goip-result", 'odd"name\\x'):
        api.stack.sql("INSERT INTO outbox (destination, kind, payload, created, next_attempt) VALUES (?, ?, ?, ?, ?)",
                      (destination, "result", "{}", old, old))
    api.core.uplink = Uplink()  # type: ignore[attr-defined]
    m = scrape(api)
    assert m["sms_agent_outbox_pending"] == {(("destination", "goip-result"),): 2,
                                             (("destination", 'odd"name\\x'),): 1}
    assert m["sms_agent_outbox_oldest_age_seconds"][(("destination", "goip-result"),)] >= 119
    assert m["sms_agent_outbox_dropped_total"][(("destination", "goip-result"),)] == 0
    assert m["sms_agent_mqtt_connected"] == {(): 1} and m["sms_agent_mqtt_configured"] == {(): 1}


def test_a_crashing_handler_counts_as_500(api, monkeypatch):
    def broken() -> list:
        raise RuntimeError("boom")

    monkeypatch.setattr(api.core.store.status, "recent_received", lambda limit=20: broken())
    assert api.get("/status.json").status == 500
    assert scrape(api)["sms_agent_http_requests_total"][(("code", "500"), ("dialect", "status"))] == 1


def test_request_counter_is_thread_safe_and_render_needs_no_server(api):
    counter = RequestCounter()
    threads = [threading.Thread(target=lambda: [counter.count("goip", 200) for _ in range(1000)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.snapshot() == {("goip", 200): 8000}
    text = render(api.core, counter, box_id="b", started=time.time() - 5)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["sms_agent_http_requests"].type == "counter"
    assert families["sms_agent_uptime_seconds"].samples[0].value >= 5
