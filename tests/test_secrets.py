"""Secrets stay secret wherever the config is shown: every credential-like
config field is declared (a new one cannot slip through), the masked config
and ``check-config`` show none of a config's secret values, and the log
shows none either (the filter that ``logs.setup`` installs)."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from agent import logs, redact
from agent.config import Config, parse

REPO = Path(__file__).resolve().parent.parent

# One distinctive value per secret, so that a leak of any one of them is seen.
EVERY_SECRET_INI = """
[agent]
id = box1
state_dir = state
[auth]
username = admin
password = Auth-Secret-1
very_code = Very-Code-2
[goip]
password = Goip-Secret-3
result_url = http://gu:Goip-Url-Pass-4@app.local/result?token=Goip-Token-5&n=%number%
mo_url = http://app.local/mo?key=Goip-Key-6
[jindi]
password = Jindi-Secret-7
push_url = http://ju:Jindi-Url-Pass-8@app.local/push?pw=Jindi-Pw-9&text=%text%
[somp]
timestamp_window = 300
[batchsend]
password = Batch-Secret-11
push_password = Push-Pswd-12
report_url = http://app.local/report?pswd=Report-Pswd-13&x=1
mo_url = http://bu:Batch-Url-Pass-14@app.local/mo
[httpinterface]
password = Http-Secret-15
[status]
admin_password = Admin-Secret-16
[mqtt]
host = {mqtt_host}
port = {mqtt_port}
username = box-user
password = Mqtt-Secret-17
[line:sim1]
device = /dev/null
pin = 97315864
[line:goip1]
goip_id = goip01
goip_password = Goip-Channel-Pw-18
[goip_udp]
listen = 127.0.0.1:0
[smpp]
password = Smpp-S19
[cmpp]
password = Cmpp-Secret-20
"""


def every_secret_config(base_dir: Path, *, mqtt_host: str = "broker.invalid", mqtt_port: int = 1883) -> Config:
    """A config that sets every secret field (and every URL, with a password in
    it) to a distinctive value; fails when a secret field is left unset, so a
    new secret must be added to :data:`EVERY_SECRET_INI`."""
    config = parse(EVERY_SECRET_INI.format(mqtt_host=mqtt_host, mqtt_port=mqtt_port), base_dir=base_dir)
    # A field of the items of a list (the lines) counts as set when one item sets it: a modem
    # line cannot have a GoIP channel's password, nor a channel a SIM PIN.
    fields: dict[str, bool] = {}
    for path, how, value in _declared_values(config):
        if how in ("secret", "url"):
            key = re.sub(r"\[\d+\]", "[]", path)
            fields[key] = fields.get(key, False) or bool(value)
    unset = [path for path, is_set in fields.items() if not is_set]
    assert not unset, f"EVERY_SECRET_INI leaves these secret fields unset: {unset}"
    return config


def _declared_values(value: Any, path: str = "config") -> Iterator[tuple[str, str | None, Any]]:
    """(path, declared kind, value) of every leaf field of a config instance."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if dataclasses.is_dataclass(item) or isinstance(item, (tuple, list)):
                yield from _declared_values(item, f"{path}.{f.name}")
            else:
                yield f"{path}.{f.name}", redact.kind(f), item
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            yield from _declared_values(item, f"{path}[{i}]")


# --- every credential-like field is declared ------------------------------------------


def undeclared(cls: type, path: str = "") -> list[str]:
    """The fields of dataclass ``cls`` and of every dataclass its fields hold
    (through tuples, lists, dicts, unions), recursively, that look like a
    credential (:func:`redact.looks_secret`) or a URL but are not declared
    (``SECRET``/``NOT_SECRET``, and ``URL`` for a URL), as ``path.field``."""
    found: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        where = f"{path or cls.__name__}.{f.name}"
        inner = [t for t in _types_in(hints[f.name]) if dataclasses.is_dataclass(t)]
        if inner:
            for t in inner:
                found += undeclared(t, where)
            continue
        if f.name.lower().endswith("url") and redact.kind(f) != "url":
            found.append(f"{where} (a URL: declare metadata=URL)")
        elif redact.looks_secret(f.name) and redact.kind(f) is None:
            found.append(f"{where} (declare metadata=SECRET, or NOT_SECRET saying why)")
    return found


def _types_in(hint: Any) -> Iterator[Any]:
    yield hint
    if isinstance(hint, (types.UnionType, types.GenericAlias)) or typing.get_origin(hint) is not None:
        for arg in typing.get_args(hint):
            if arg is not Ellipsis:
                yield from _types_in(arg)


def test_every_credential_like_config_field_is_declared():
    assert undeclared(Config) == []


@dataclasses.dataclass(frozen=True)
class _Api:
    api_token: str = ""
    tls_key: str = dataclasses.field(default="", metadata=redact.NOT_SECRET)
    hook_url: str = ""
    pin: str = dataclasses.field(default="", metadata=redact.SECRET)


@dataclasses.dataclass(frozen=True)
class _Outer:
    apis: tuple[_Api, ...] = ()
    maybe: _Api | None = None


def test_the_walk_finds_an_undeclared_secret_however_deep():
    assert undeclared(_Outer) == [
        "_Outer.apis.api_token (declare metadata=SECRET, or NOT_SECRET saying why)",
        "_Outer.apis.hook_url (a URL: declare metadata=URL)",
        "_Outer.maybe.api_token (declare metadata=SECRET, or NOT_SECRET saying why)",
        "_Outer.maybe.hook_url (a URL: declare metadata=URL)"]


def test_names_that_look_like_credentials():
    for name in ("password", "admin_password", "push_password", "passwd", "pswd", "pin", "very_code", "api_key",
                 "tls_key", "token", "client_secret", "verycode"):
        assert redact.looks_secret(name), name
    for name in ("username", "mapping", "spin_wait", "imei", "host", "signature", "timestamp_window", "prefix"):
        assert not redact.looks_secret(name), name


# --- the masked config --------------------------------------------------------------------


def test_masked_config_shows_no_secret_value_and_keeps_the_rest(tmp_path):
    config = every_secret_config(tmp_path)
    secrets = redact.secret_values(config)
    assert {"Auth-Secret-1", "Very-Code-2", "Push-Pswd-12", "Admin-Secret-16", "97315864", "Goip-Url-Pass-4",
            "Jindi-Pw-9", "Report-Pswd-13"} <= secrets
    shown = redact.masked(config)
    text = json.dumps(shown, ensure_ascii=False)
    assert [s for s in secrets if s in text] == []
    assert shown["status"]["admin_password"] == "***" and shown["httpinterface"]["very_code"] == "***"
    assert shown["batchsend"]["push_password"] == "***" and shown["lines"][0]["pin"] == "***"
    assert shown["goip"]["credentials"] == {"username": "admin", "password": "***"}
    assert shown["jindi"]["push_url"] == "http://ju:***@app.local/push?pw=***&text=%text%"
    assert shown["goip"]["result_url"] == "http://gu:***@app.local/result?token=***&n=%number%"
    assert shown["batchsend"]["report_url"] == "http://app.local/report?pswd=***&x=1"
    assert shown["mqtt"]["username"] == "box-user" and shown["mqtt"]["host"] == "broker.invalid"
    assert shown["lines"][0]["device"] == "/dev/null" and shown["agent"]["id"] == "box1"
    assert (shown["lines"][1]["goip_id"], shown["lines"][1]["goip_password"]) == ("goip01", "***")
    assert "Goip-Channel-Pw-18" in secrets
    # Not set is shown as not set.
    assert redact.masked(parse("", base_dir=tmp_path))["status"]["admin_password"] == ""


def test_the_tls_key_path_is_shown_not_masked(tmp_path):
    (tmp_path / "client.key").write_text("-----BEGIN PRIVATE KEY-----\n")
    config = parse("[mqtt]\nhost = h\ntls_key = client.key\n", base_dir=tmp_path)
    assert redact.masked(config)["mqtt"]["tls_key"] == str(tmp_path / "client.key")


def test_urls_keep_their_placeholders_and_lose_their_credentials():
    assert redact.mask_url("https://a:b%40c@h:8443/p?receiver=r&pswd=x%26y&password=&secret_key=k#f") == \
        "https://a:***@h:8443/p?receiver=r&pswd=***&password=&secret_key=***#f"
    assert redact.mask_url("http://h/p?text=%text%&from=%originator%") == "http://h/p?text=%text%&from=%originator%"
    assert redact.mask_url("not a url") == "not a url"


def test_check_config_prints_no_secret(tmp_path):
    config = every_secret_config(tmp_path)
    (tmp_path / "config.ini").write_text(EVERY_SECRET_INI.format(mqtt_host="broker.invalid", mqtt_port=1883))
    proc = subprocess.run([sys.executable, "-m", "agent", "--config", str(tmp_path / "config.ini"), "check-config"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [s for s in redact.secret_values(config) if s in proc.stdout + proc.stderr] == []


# --- the log --------------------------------------------------------------------------------


@pytest.fixture
def agent_log(capsys):
    """logs.setup(...) for the test (writing to the captured stderr); the root
    logger's handlers and level are put back afterwards.  Returns a function
    that gives what was logged so far."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)

    def setup(**kw: Any) -> Any:
        logs.setup("DEBUG", journal=False, **kw)
        return lambda: capsys.readouterr().err

    yield setup
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_the_log_shows_no_secret_value_in_any_spelling(tmp_path, agent_log):
    config = every_secret_config(tmp_path)
    logged = agent_log(secrets=redact.secret_values(config))
    push = f"http://app.local/report?receiver=admin&pswd={quote('Push-Pswd-12')}&msgid=7"
    logging.getLogger("agent.uplink.push").warning("batchsend-report: push to %s failed (%s)", push, "HTTP 500")
    logging.getLogger("agent.modem.channel").debug("%s -> %r", "sim1", b'AT+CPIN="97315864"\r')
    logging.getLogger("agent.api.server").info("GET /send?password=%s&recipient=13800138000",
                                               quote_plus("Jindi-Secret-7"))
    logging.getLogger("agent.uplink.mqtt").info("mqtt: connect as %s", {"password": "Mqtt-Secret-17"})
    try:
        raise ConnectionError(f"refused for http://ju:Jindi-Url-Pass-8@app.local ({config.status.admin_password})")
    except ConnectionError:
        logging.getLogger("agent.uplink.push").exception("push round failed")
    text = logged()
    assert [s for s in redact.secret_values(config) if s in text] == [], text
    # What is not secret is still there to read.
    assert "receiver=admin&pswd=***&msgid=7" in text and "(HTTP 500)" in text
    assert "sim1 -> b'AT+CPIN=\"***\"\\r'" in text and "recipient=13800138000" in text
    assert "http://ju:***@app.local" in text and "Traceback" in text and "ConnectionError" in text


def test_a_short_pin_is_hidden_but_longer_numbers_that_contain_it_are_kept(agent_log):
    logged = agent_log(secrets={"4711"})
    logging.getLogger("agent").info('AT+CPIN="4711" then message 47110 to +8613947111234')
    assert 'AT+CPIN="***" then message 47110 to +8613947111234' in logged()


def test_url_credentials_are_hidden_even_when_no_secret_was_given(agent_log):
    logged = agent_log()
    logging.getLogger("agent").info("push to http://u:pw@h/r?pswd=ab&password=cd&user=u failed")
    assert "push to http://u:***@h/r?pswd=***&password=***&user=u failed" in logged()
