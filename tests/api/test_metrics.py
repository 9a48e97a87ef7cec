"""/metrics read by prometheus_client's own parsers, after known sends through the real App."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from ..conftest import FAST
from ..queue_harness import Clock, msg
from .status_helpers import RECIPIENT, wait_until

GOIP_AUTH = {"username": "admin", "password": "s3cret"}

# Every family of ours: its type and its labels (the histograms' le aside).
FAMILIES = {
    "sms_agent_info": ("gauge", {"box_id", "version"}),
    "sms_agent_clock_ok": ("gauge", set()),
    "sms_agent_line_online": ("gauge", {"line"}),
    "sms_agent_line_registered": ("gauge", {"line"}),
    "sms_agent_line_usable": ("gauge", {"line"}),
    "sms_agent_line_state": ("gauge", {"line", "state"}),
    "sms_agent_line_signal_dbm": ("gauge", {"line"}),
    "sms_agent_line_sent_parts": ("counter", {"line"}),
    "sms_agent_line_failed_parts": ("counter", {"line"}),
    "sms_agent_line_received_parts": ("counter", {"line"}),
    "sms_agent_line_daily_sent_parts": ("gauge", {"line"}),
    "sms_agent_line_daily_limit_parts": ("gauge", {"line"}),
    "sms_agent_line_send_duration_seconds": ("histogram", {"line"}),
    "sms_agent_queue_depth": ("gauge", set()),
    "sms_agent_queue_messages": ("gauge", {"state"}),
    "sms_agent_queue_to_sent_seconds": ("histogram", set()),
    "sms_agent_messages": ("counter", {"result"}),
    "sms_agent_outbox_pending": ("gauge", {"destination"}),
    "sms_agent_outbox_oldest_age_seconds": ("gauge", {"destination"}),
    "sms_agent_outbox_dropped": ("counter", {"destination"}),
    "sms_agent_mqtt_configured": ("gauge", set()),
    "sms_agent_mqtt_connected": ("gauge", set()),
    "sms_agent_http_requests": ("counter", {"dialect", "code"}),
    "sms_agent_http_accept_duration_seconds": ("histogram", {"dialect"}),
    "sms_agent_door_submits": ("counter", {"door", "status"}),  # no sample while no door is configured
    "sms_agent_door_accept_duration_seconds": ("histogram", {"door"}),
    "sms_agent_door_sessions": ("gauge", {"door"}),
}


@dataclass
class Scrape:
    text: str
    types: dict[str, str] = field(default_factory=dict)  # family name -> type
    labels: dict[str, set[str]] = field(default_factory=dict)  # family name -> label names of its samples
    samples: dict[str, dict[tuple, float]] = field(default_factory=dict)  # sample name -> {label items: value}

    def __getitem__(self, name: str) -> dict[tuple, float]:
        return self.samples[name]

    def value(self, name: str, **labels: str) -> float:
        return self.samples[name][tuple(sorted(labels.items()))]

    def histogram(self, name: str, **labels: str) -> tuple[dict[str, float], float, float]:
        """({le: cumulative count}, count, sum) of one series."""
        key = tuple(sorted(labels.items()))
        buckets = {dict(k)["le"]: v for k, v in self.samples[name + "_bucket"].items()
                   if tuple(sorted((n, x) for n, x in k if n != "le")) == key}
        return buckets, self.samples[name + "_count"][key], self.samples[name + "_sum"][key]


def scrape(api) -> Scrape:
    reply = api.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    out = Scrape(reply.text)
    for family in text_string_to_metric_families(reply.text):
        out.types[family.name] = family.type
        out.labels[family.name] = {n for s in family.samples for n in s.labels if n != "le"}
        for sample in family.samples:
            out.samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def line(name: str) -> tuple:
    return (("line", name),)


def check_histogram(m: Scrape, name: str, **labels: str) -> tuple[float, float]:
    """The series' buckets are cumulative and end at +Inf = count; return (count, sum)."""
    buckets, count, total = m.histogram(name, **labels)
    values = [v for _, v in sorted(buckets.items(), key=lambda kv: float(kv[0]))]
    assert values == sorted(values) and buckets["+Inf"] == count, buckets
    return count, total


def test_names_types_labels_and_values_after_known_sends(make_api):
    api = make_api(modems=replace(FAST, health_interval=1.0), lines={"sim1": {"daily_limit": 50}})
    api.stack.sim.by_name("sim2").set_state(registered=False)
    wait_until(lambda: not api.core.bank["sim2"].state.registered, what="sim2 losing the network")
    (sent,) = api.stack.send(msg(RECIPIENT, "x" * 200, gateway="sim1"))  # two parts
    api.stack.wait_rows([sent], lambda r: r["status"] == "S")
    api.stack.sim.by_name("sim1").fail_next_send(21)
    (failed,) = api.stack.send(msg(RECIPIENT, "no", gateway="sim1"))
    api.stack.wait_rows([failed], lambda r: r["status"] == "F")
    (late,) = api.stack.send(msg(RECIPIENT, "late", expires=dt.datetime.fromtimestamp(time.time() - 1).astimezone()))
    api.stack.wait_rows([late], lambda r: r["status"] == "F")
    api.stack.sim.by_name("sim1").deliver("10086", "y" * 200)  # two parts in
    wait_until(lambda: api.core.bank["sim1"].state.received == 2, what="both parts read")
    api.stack.sql("INSERT INTO smsserver_out (recipient, text, create_date, scheduled)"
                  " VALUES ('1', 'waiting', datetime('now'), '2099-01-01 00:00:00')")  # stays unsent
    api.post_json("/goip/sendsms", {"auth": {"username": "admin", "password": "nope"}})  # 401
    api.get("/send", password="jpass")  # Jindi answers 200 with its own error code
    api.get("/no/such/page")
    api.get("/")
    m = scrape(api)
    ours = {name: kind for name, kind in m.types.items() if name.startswith("sms_agent_")}
    assert ours == {name: kind for name, (kind, _) in FAMILIES.items()}
    for name, (_, labels) in FAMILIES.items():
        assert m.labels[name] <= labels and (m.labels[name] == labels or not m.samples.get(name)), name
    assert not [(n, k) for n, s in m.samples.items() for k, v in s.items() if v < 0 and not n.endswith("_dbm")]
    assert m["sms_agent_line_online"] == {line("sim1"): 1, line("sim2"): 1}
    assert m["sms_agent_line_registered"] == {line("sim1"): 1, line("sim2"): 0}
    assert m["sms_agent_line_usable"] == {line("sim1"): 1, line("sim2"): 0}
    assert -113 <= m["sms_agent_line_signal_dbm"][line("sim1")] <= -51
    assert m["sms_agent_line_sent_parts_total"] == {line("sim1"): 2, line("sim2"): 0}
    assert m["sms_agent_line_failed_parts_total"] == {line("sim1"): 1, line("sim2"): 0}
    assert m["sms_agent_line_received_parts_total"] == {line("sim1"): 2, line("sim2"): 0}
    assert m["sms_agent_line_daily_sent_parts"] == {line("sim1"): 2, line("sim2"): 0}
    assert m["sms_agent_line_daily_limit_parts"] == {line("sim1"): 50}  # sim2 has none: no series, no -1
    assert m.value("sms_agent_line_state", line="sim1", state="ready") == 1
    assert m.value("sms_agent_line_state", line="sim1", state="busy") == 0
    assert m["sms_agent_queue_depth"] == {(): 1}  # the scheduled one; sent and failed rows are history
    assert m["sms_agent_queue_messages"] == {(("state", "unsent"),): 1, (("state", "sending"),): 0}
    assert m["sms_agent_messages_total"] == {(("result", "sent"),): 1, (("result", "failed"),): 1,
                                             (("result", "expired"),): 1}
    assert check_histogram(m, "sms_agent_line_send_duration_seconds", line="sim1")[0] == 2  # sent and refused
    assert check_histogram(m, "sms_agent_line_send_duration_seconds", line="sim2") == (0, 0)
    assert check_histogram(m, "sms_agent_queue_to_sent_seconds")[0] == 1
    assert m["sms_agent_mqtt_connected"] == {(): 0} and m["sms_agent_mqtt_configured"] == {(): 0}
    assert m["sms_agent_info"] == {(("box_id", "api-test"), ("version", "0.1.0")): 1}
    assert m["sms_agent_clock_ok"] == {(): 1}
    requests = m["sms_agent_http_requests_total"]
    assert requests[(("code", "401"), ("dialect", "goip"))] == 1
    assert requests[(("code", "200"), ("dialect", "jindi"))] == 1
    assert requests[(("code", "404"), ("dialect", "none"))] == 1
    assert requests[(("code", "200"), ("dialect", "status"))] == 1
    assert scrape(api)["sms_agent_http_requests_total"][(("code", "200"), ("dialect", "metrics"))] == 1
    for gone in ("sms_agent_uptime_seconds", "sms_agent_messages_today", "sms_agent_line_messages_today",
                 "sms_agent_line_received_total"):
        assert gone not in m.samples and gone not in m.types


def test_process_metrics_on_a_private_registry(api):
    m = scrape(api)
    assert m.types["process_start_time_seconds"] == "gauge"
    assert time.time() - 3 * 86400 < m["process_start_time_seconds"][()] <= time.time()
    assert m.types["process_cpu_seconds"] == "counter" and m["process_cpu_seconds_total"][()] > 0
    assert m["process_resident_memory_bytes"][()] > 0 and m["process_open_fds"][()] > 0
    assert m.types["python_info"] == "gauge"
    assert b"sms_agent_" not in generate_latest(REGISTRY)  # the library's global registry is not ours


def test_counters_survive_midnight(make_api):
    tz = ZoneInfo("Asia/Shanghai")
    clock = Clock(dt.datetime(2026, 11, 23, 23, 59, 30, tzinfo=tz).timestamp())
    api = make_api(tz=tz, clock=clock, lines={"sim1": {"daily_limit": 10}})
    (first,) = api.stack.send(msg(RECIPIENT, "x" * 200, gateway="sim1"))
    api.stack.wait_rows([first], lambda r: r["status"] == "S")
    before = scrape(api)
    assert before.value("sms_agent_line_sent_parts_total", line="sim1") == 2
    assert before.value("sms_agent_line_daily_sent_parts", line="sim1") == 2
    clock.advance(60)  # past local midnight
    api.stack.jobs.reset_daily()
    after = scrape(api)
    assert after.value("sms_agent_line_daily_sent_parts", line="sim1") == 0  # the quota gauge starts again
    assert after.value("sms_agent_line_sent_parts_total", line="sim1") == 2  # the counter does not
    assert after.value("sms_agent_messages_total", result="sent") == 1
    (second,) = api.stack.send(msg(RECIPIENT, "one", gateway="sim1"))
    api.stack.wait_rows([second], lambda r: r["status"] == "S")
    m = scrape(api)
    assert m.value("sms_agent_line_sent_parts_total", line="sim1") == 3
    assert m.value("sms_agent_line_daily_sent_parts", line="sim1") == 1
    assert m.value("sms_agent_messages_total", result="sent") == 2


def test_histograms_after_a_send_through_http(make_api):
    api = make_api()
    reply = api.post_json("/goip/sendsms", {"auth": GOIP_AUTH, "number": RECIPIENT, "content": "hi"})
    assert reply.status == 200 and reply.json()["result"] == "ACCEPT", reply.text
    wait_until(lambda: scrape(api).value("sms_agent_messages_total", result="sent") == 1, what="the send")
    api.post_json("/goip/querysms", {"auth": GOIP_AUTH, "taskID": reply.json()["taskID"]})  # not a send: not timed
    m = scrape(api)
    count, total = check_histogram(m, "sms_agent_http_accept_duration_seconds", dialect="goip")
    assert count == 1 and 0 < total < 10
    (sender,) = [dict(k)["line"] for k, v in m["sms_agent_line_sent_parts_total"].items() if v == 1]
    count, total = check_histogram(m, "sms_agent_line_send_duration_seconds", line=sender)
    assert count == 1 and 0 < total < 10
    count, total = check_histogram(m, "sms_agent_queue_to_sent_seconds")
    assert count == 1 and 0 <= total < 10


def test_queue_to_sent_measures_from_create_date(make_api):
    clock = Clock()
    api = make_api(clock=clock)
    (later,) = api.stack.send(msg(RECIPIENT, "later", scheduled=dt.datetime.fromtimestamp(clock() + 100).astimezone()))
    clock.advance(101)
    api.stack.router.wake()
    api.stack.wait_rows([later], lambda r: r["status"] == "S")
    buckets, count, total = scrape(api).histogram("sms_agent_queue_to_sent_seconds")
    assert count == 1 and 100 <= total < 110  # create_date is kept to the second
    assert buckets["60.0"] == 0 and buckets["120.0"] == 1


def test_only_sending_requests_are_timed(api):
    api.post_json("/goip/sendsms", {"auth": {"username": "admin", "password": "nope"}})  # a refused send: timed
    api.post_json("/goip/querylines", {"auth": GOIP_AUTH})
    api.get("/send", password="jpass")
    api.get("/sendstatus", password="jpass")
    hi = "/service/httpService/httpInterface.do"
    api.get(hi, method="sendMsg", username="admin", password="nope", mobile=RECIPIENT, content="x")
    api.get(hi, method="getAmount", username="admin", password="s3cret")
    api.get("/")
    m = scrape(api)
    timed = {dict(k)["dialect"]: v for k, v in m["sms_agent_http_accept_duration_seconds_count"].items()}
    assert timed == {"goip": 1, "jindi": 1, "httpinterface": 1}


def test_openmetrics_when_the_scraper_asks(api):
    reply = api.request("GET", "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert reply.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert reply.text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(reply.text)}
    assert families["sms_agent_line_sent_parts"].type == "counter"
    assert {s.name for s in families["sms_agent_line_sent_parts"].samples} == {"sms_agent_line_sent_parts_total"}
    assert families["sms_agent_queue_to_sent_seconds"].type == "histogram"


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
    assert m.value("sms_agent_outbox_oldest_age_seconds", destination="goip-result") >= 119
    assert m.value("sms_agent_outbox_dropped_total", destination="goip-result") == 0
    assert m["sms_agent_mqtt_connected"] == {(): 1} and m["sms_agent_mqtt_configured"] == {(): 1}


def test_a_crashing_handler_counts_as_500(api, monkeypatch):
    def broken() -> list:
        raise RuntimeError("boom")

    monkeypatch.setattr(api.core.store.status, "recent_received", lambda limit=20: broken())
    assert api.get("/status.json").status == 500
    assert scrape(api).value("sms_agent_http_requests_total", code="500", dialect="status") == 1
