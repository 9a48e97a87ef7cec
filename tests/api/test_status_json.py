"""/status.json against its schema, /healthz, and the words behind the model
(CMS meanings, translations, the health rules)."""

from __future__ import annotations

import base64
import http.client
import json
import re
import sqlite3
import time
import urllib.request
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import bottle
import pytest

from agent.api import cms_errors, status_data
from agent.api.server import HttpServer
from agent.api.status import LoginThrottle
from agent.api.status import mount as mount_status
from agent.api.i18n import LANGUAGES, STRINGS, Translator
from agent.config import StatusConfig

from .status_helpers import (RECIPIENT, SENDER, Browser, five_lines, make_bank, serve_status, sim_setup,  # noqa: F401
                             text_of)

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """The JSON Schema keywords SCHEMA uses (type, enum, properties, required,
    additionalProperties, items, minimum, maximum, maxItems); return the errors."""
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_TYPES[k](value) for k in kinds):
            return [f"{path}: {value!r} is not {' or '.join(kinds)}"]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        errors += [f"{path}: {key!r} missing" for key in schema.get("required", ()) if key not in value]
        if schema.get("additionalProperties") is False:
            errors += [f"{path}: {key!r} not in the schema" for key in value if key not in props]
        for key, sub in props.items():
            if key in value:
                errors += validate(value[key], sub, f"{path}.{key}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
        for i, item in enumerate(value):
            errors += validate(item, schema.get("items", {}), f"{path}[{i}]")
    return errors


def test_the_validator_catches_mistakes():
    schema = status_data.SCHEMA
    assert validate({}, schema)  # everything missing
    assert any("not in the schema" in e for e in validate({"surprise": 1}, schema))
    assert any(e.startswith("$.lines[0]") for e in validate({"lines": [{"name": "x"}]}, schema))
    assert validate(True, {"type": "integer"}) and validate(3, {"type": "integer", "maximum": 2})
    assert not validate(None, {"type": ["string", "null"]})


def test_status_json_follows_its_schema_and_masks(make_api, sim_setup, serve_status):
    api = five_lines(make_api, sim_setup).api
    reply = api.get("/status.json")
    assert reply.status == 200 and reply.headers["Content-Type"] == "application/json; charset=utf-8"
    doc = reply.json()
    assert validate(doc, status_data.SCHEMA) == []
    assert doc["masked"] is True
    assert doc["health"]["level"] == "amber" and [r["code"] for r in doc["health"]["reasons"]] == ["some_unusable"]
    hints = {ln["name"]: (ln["hint"] or {}).get("code") for ln in doc["lines"]}
    assert hints == {"sim1": None, "sim2": "no_sim", "sim3": "daily_quota", "sim4": "no_network",
                     "sim5": "not_answering"}
    sim1 = doc["lines"][0]
    assert sim1["usable"] and sim1["level"] == "ok" and sim1["provider"] == "cmcc" and sim1["signal_bars"] >= 1
    assert sim1["last_error"]["code"] == 21 and sim1["last_error"]["meaning"] == "Short message transfer rejected"
    assert sim1["sent_today"] == 1 and sim1["failed_today"] == 1 and sim1["last_send_at"]
    assert doc["lines"][2]["daily_limit"] == 1 and doc["lines"][2]["daily_left"] == 0
    assert doc["queue"]["sent_today"] == 2 and doc["queue"]["failed_today"] == 1
    (received,) = doc["received"]
    assert received["originator"] == "+86*******8000" and received["text"] is None and received["line"] == "sim1"
    (failure,) = doc["failures"]
    assert failure["recipient"] == "+86*******5678" and failure["text"] is None
    assert failure["error_code"] == 21 and failure["error_meaning"] == "Short message transfer rejected"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", failure["at"])
    assert doc["box"]["id"] == "api-test" and doc["mqtt"] == {"configured": False, "connected": None,
                                                              "connected_since": None, "stats": {}}
    # With the admin credentials (HTTP Basic, for scripts) nothing is hidden.
    url = serve_status(api, StatusConfig(admin_password="pw"))
    for password, masked in (("wrong", True), ("pw", False)):
        auth = base64.b64encode(f"admin:{password}".encode()).decode()
        request = urllib.request.Request(url + "/status.json", headers={"Authorization": f"Basic {auth}"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            doc = json.loads(resp.read())
        assert doc["masked"] is masked
    assert doc["received"][0]["originator"] == SENDER and doc["received"][0]["text"] == "Meter 42 reading OK"
    assert doc["failures"][0]["recipient"] == RECIPIENT and doc["failures"][0]["text"] == "refused text"
    assert validate(doc, status_data.SCHEMA) == []


class FakeUplink:
    """The duck-typed MQTT uplink the status model reads."""

    def __init__(self, connected: bool, since: float | datetime | None, error: str | None = None) -> None:
        self.connected = connected
        self.connected_since = since
        self.error = error

    def stats(self) -> dict[str, Any]:
        return {"published": 12, "last_error": self.error, "broker": "127.0.0.1:1883", "ignored": object()}


def test_mqtt_push_backlog_and_clock_in_the_model(api):
    since = datetime.now().astimezone() - timedelta(seconds=90)  # as agent.uplink.mqtt gives it
    api.core.uplink = FakeUplink(True, since)  # type: ignore[attr-defined]
    doc = api.get("/status.json").json()
    assert doc["mqtt"]["configured"] and doc["mqtt"]["connected"]
    assert datetime.fromisoformat(doc["mqtt"]["connected_since"]) == since.replace(microsecond=0)
    assert doc["mqtt"]["stats"] == {"published": 12, "last_error": None, "broker": "127.0.0.1:1883"}
    assert "connected since" in api.get("/").text and doc["health"]["level"] == "green"
    api.core.uplink = FakeUplink(True, time.time() - 90)  # type: ignore[attr-defined]
    assert api.get("/status.json").json()["mqtt"]["connected_since"]  # an epoch works too
    api.core.uplink = FakeUplink(False, None, "connection refused")  # type: ignore[attr-defined]
    assert re.search(r"MQTT NOT connected ?: connection refused", text_of(api.get("/").text))
    old = time.time() - 3600
    api.stack.sql("INSERT INTO outbox (destination, kind, payload, created, next_attempt) VALUES (?, ?, ?, ?, ?)",
                  ("goip-mo", "mo", "{}", old, old))
    doc = api.get("/status.json").json()
    assert validate(doc, status_data.SCHEMA) == []
    assert doc["push"]["backlog"] == 1 and doc["push"]["destinations"][0]["name"] == "goip-mo"
    assert doc["push"]["oldest_age_seconds"] >= 3599
    assert [r["code"] for r in doc["health"]["reasons"]] == ["mqtt", "push"] and doc["health"]["level"] == "amber"
    assert "1 events wait to be pushed, the oldest for 1 h 0 min." in api.get("/").text
    # A box that booted without a clock: quotas would count the wrong days.
    ctx = status_data.Context(box_id="b", tz=timezone.utc, tz_name="UTC", started=0.0,
                              now=datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp())
    model = status_data.build(api.core, ctx)
    assert model["box"]["clock_ok"] is False
    assert any(r["code"] == "clock" and "2000-01-01" in r["text"] for r in model["health"]["reasons"])


def test_healthz_says_whether_the_database_is_writable(api):
    reply = api.get("/healthz")
    assert (reply.status, reply.text) == (200, "ok\n")
    locker = sqlite3.connect(api.stack.db, timeout=1)
    locker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        started = time.monotonic()
        reply = api.get("/healthz")
        assert reply.status == 503 and reply.text.startswith("database not writable: ")
        assert time.monotonic() - started < 5
    finally:
        locker.rollback()
        locker.close()
    assert api.get("/healthz").status == 200
    assert api.core.store.status.writable() == ""


@pytest.mark.parametrize("text, kind, code, words", [
    ("'AT+CMGS=23' failed: CMS 21", "CMS", 21, "Short message transfer rejected"),
    ("'AT+CMGS=23' failed: CMS 330", "CMS", 330, "SMSC address unknown"),
    ("'AT+CPIN?' failed: CME 10", "CME", 10, "SIM not inserted"),
    ("+CMS ERROR: 999", "CMS", 999, "unknown error 999"),
    ("'AT+CSQ': no final result within 0.5s", "", None, "the modem did not answer in time"),
    ("SIM not inserted", "", None, "SIM not inserted"),
    ("something new", "", None, "something new"),
])
def test_errors_in_words(text, kind, code, words):
    described = cms_errors.describe(text)
    assert described is not None and (described.kind, described.code, described.meaning) == (kind, code, words)


def test_error_words_in_chinese_and_none_for_no_error():
    assert cms_errors.describe("") is None
    assert cms_errors.describe("'AT+CMGS=9' failed: CMS 21", "zh").meaning == "短信被拒收"
    assert cms_errors.meaning("CMS", 143, "zh") == "Unspecified TP-PID error"  # English where no Chinese is kept
    assert cms_errors.CMS[316] == "SIM PUK required" and cms_errors.CMS[312] == "PH-SIM PIN necessary"


def test_every_string_in_both_languages_with_the_same_placeholders():
    for key, texts in STRINGS.items():
        assert len(texts) == len(LANGUAGES) and all(texts), key
        assert set(re.findall(r"{(\w+)}", texts[0])) == set(re.findall(r"{(\w+)}", texts[1])), key
    with pytest.raises(ValueError):
        Translator("fr")
    assert Translator("zh").duration(3 * 86400 + 7200) == "3 天 2 小时"


def test_masking():
    assert status_data.mask_number("+8613912345678") == "+86*******5678"
    assert status_data.mask_number("10086") == "***86"
    assert status_data.mask_number("1234") == "****"
    assert status_data.mask_number("") == ""


# --- HTTP Basic auth shares the login form's lockout ------------------------------------------


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def locked_page(make_api):
    """An agent's status routes served with ``[status] admin_password = right-pass``
    and a login throttle on a :class:`FakeClock`; yields (url, clock)."""
    api = make_api()
    clock = FakeClock()
    app = bottle.Bottle()
    mount_status(app, api.core, replace(api.config, status=StatusConfig(admin_password="right-pass")),
                 throttle=LoginThrottle(clock=clock))
    server = HttpServer(app, host="127.0.0.1", port=0)
    server.start()
    yield server.url, clock
    server.stop()


def _status_json(url: str, password: str | None, *, source: str = "127.0.0.1") -> tuple[int, dict[str, str], str]:
    """GET /status.json from the ``source`` address, with admin:``password`` by HTTP Basic (None: no header)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10, source_address=(source, 0))
    headers = {} if password is None else {
        "Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()}
    try:
        conn.request("GET", "/status.json", headers=headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode()
    finally:
        conn.close()


def _form_login(url: str, password: str) -> str:
    """Log in through the page's form as a browser does; return where it sends the browser."""
    browser = Browser(url)
    token = browser.csrf(browser.get("/")[1])
    return browser.post("/status/login", username="admin", password=password, csrf=token)[2]["Location"]


def test_basic_auth_locks_out_after_five_failures_even_for_the_right_password(locked_page):
    url, clock = locked_page
    for _ in range(5):
        status, _, body = _status_json(url, "guess")
        assert status == 200 and json.loads(body)["masked"] is True
    status, headers, body = _status_json(url, "right-pass")
    assert status == 429 and headers["Retry-After"] == "300", (status, body)
    assert "too many failed logins" in body and "right-pass" not in body
    # The form is locked out for that address too, and so are more guesses by Basic auth...
    assert "msg=throttled" in _form_login(url, "right-pass")
    assert _status_json(url, "guess")[0] == 429
    # ...but not the public, masked view, nor another address.
    status, _, body = _status_json(url, None)
    assert status == 200 and json.loads(body)["masked"] is True
    status, _, body = _status_json(url, "right-pass", source="127.0.0.2")
    assert status == 200 and json.loads(body)["masked"] is False
    clock.now += 299
    status, headers, _ = _status_json(url, "right-pass")
    assert status == 429 and headers["Retry-After"] == "1"
    clock.now += 1.5  # the oldest failure is five minutes old: the right password works again
    status, _, body = _status_json(url, "right-pass")
    assert status == 200 and json.loads(body)["masked"] is False


def test_login_form_failures_lock_out_basic_auth(locked_page):
    url, clock = locked_page
    for _ in range(5):
        assert "msg=login_failed" in _form_login(url, "guess")
    status, headers, _ = _status_json(url, "right-pass")
    assert status == 429 and int(headers["Retry-After"]) == 300
    clock.now += 301
    assert _status_json(url, "right-pass")[0] == 200
    # A success forgets the failures: four more misses do not lock the address out.
    for _ in range(4):
        assert _status_json(url, "guess")[0] == 200
    assert "msg=logged_in" in _form_login(url, "right-pass")
