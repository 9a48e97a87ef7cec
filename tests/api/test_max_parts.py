"""``[modems] max_parts`` reaching every dialect, end to end: the agent is wired
from its configuration by :class:`agent.app.App` (real HTTP socket, real queue,
router, line workers, simulated modems; the MQTT dialects over a real mosquitto).

With ``max_parts = 12`` a text needing 11 SMS parts is accepted, stored with
``parts`` 11 and sent whole; one needing 13 is refused with the dialect's own
error and nothing is stored.  With the default (10) the 11-part text is refused,
so a dialect that ignored the setting (a hard-coded 10, or 255) fails here.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import pytest

from agent.codec.parts import split
from agent.config import parse

from ..uplink.conftest import broker, make_agent, make_client  # noqa: F401  (the MQTT fixtures)
from ..uplink.conftest import mqtt_config, wait_until
from .conftest import CONFIG as API_CONFIG

TEXT_11 = "汉" * 700  # UCS-2, 67 per part: 11 parts (and within HttpBatchSendSM's 700 characters)
TEXT_13 = "😀" * 420  # UCS-2 surrogate pairs, 33 per part: 13 parts in only 420 characters
NUMBER = "13800000001"
MAX_12 = "[modems]\nmax_parts = 12\n"

# GoIP and HttpBatchSendSM use [auth], Jindi [jindi]; SOMP and httpInterface need their sections.
SOMP_USER, SOMP_PASSWORD = "star", "123456"
HI_USER, HI_PASSWORD, SIGN = "JSM40001", "123456", "【江苏迅辰】"
CONFIG = API_CONFIG + f"""
[somp]
username = {SOMP_USER}
password = {SOMP_PASSWORD}
[httpinterface]
username = {HI_USER}
password = {HI_PASSWORD}
signature = {SIGN}
"""

JINDI_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
HI_DECL = '<?xml version="1.0" encoding="UTF-8"?>'
HI_PATH = "/service/httpService/httpInterface.do"
BATCH_REPLY = re.compile(r"(\d{14}),(\d+)(?:\n(\d+))?")


def needed_parts(text: str) -> int:
    return len(split(text, max_parts=255))


def test_the_texts_need_the_parts_they_claim():
    assert (needed_parts(TEXT_11), needed_parts(TEXT_13)) == (11, 13)
    assert (len(TEXT_11), len(TEXT_13)) == (700, 420)


# --- the HTTP dialects ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Dialect:
    """How a client sends ``text`` to ``number`` in one dialect; the exact reply of
    an acceptance (returning which id it names: ("task", n) or ("row", n)) and of
    a refusal for a text needing ``needed`` parts when ``maximum`` are allowed."""

    name: str
    send: Callable[[Any, str, str], Any]
    accepted: Callable[[Any], tuple[str, int]]
    refused: Callable[[Any, int, int], None]

    def __repr__(self) -> str:
        return self.name


def goip_send(api, number: str, text: str):
    return api.post_json("/goip/sendsms/", {"auth": {"username": "admin", "password": "s3cret"},
                                            "number": number, "content": text})


def goip_accepted(reply) -> tuple[str, int]:
    assert reply.status == 200, reply.text
    body = reply.json()
    assert set(body) == {"result", "taskID"} and body["result"] == "ACCEPT" and body["taskID"].isdigit(), body
    return "task", int(body["taskID"])


def goip_refused(reply, needed: int, maximum: int) -> None:
    assert reply.status == 400, reply.text
    assert reply.json() == {"result": "REJECT", "reason": "unknown",
                            "detail": f"content needs {needed} SMS parts, at most {maximum} allowed"}


def jindi_send(api, number: str, text: str):
    return api.get("/send", password="jpass", recipient=number, text=text)


def jindi_accepted(reply) -> tuple[str, int]:
    assert (reply.status, reply.headers["Content-Type"]) == (200, "text/xml; charset=UTF-8"), reply.text
    match = re.fullmatch(r"<send>\n<error>0</error>\n<message_status>UNSENT</message_status>\n"
                         r"<ref_no>null</ref_no>\n<msg_id>(\d+)</msg_id>\n<gateway>\*</gateway>\n</send>\n",
                         reply.text.removeprefix(JINDI_DECL))
    assert reply.text.startswith(JINDI_DECL) and match, reply.text
    return "row", int(match.group(1))


def jindi_refused(reply, needed: int, maximum: int) -> None:
    assert (reply.status, reply.headers["Content-Type"]) == (200, "text/xml; charset=UTF-8"), reply.text
    assert reply.text == (f"{JINDI_DECL}<send>\n<error>-9000</error>\n"
                          f"<error_description>Text too long: more than {maximum} SMS parts.</error_description>\n"
                          "<message_status>FAILED</message_status>\n<failure_cause>BAD_FORMAT</failure_cause>\n"
                          "<ref_no>null</ref_no>\n<gateway>*</gateway>\n</send>\n")


def somp_send(api, number: str, text: str):
    # tf=3: sm is the text itself, UTF-8 (URL-encoded in the form); rf absent: the text reply format.
    body = urllib.parse.urlencode({"un": SOMP_USER, "pw": SOMP_PASSWORD, "da": number, "dc": "8", "tf": "3",
                                   "sm": text})
    return api.request("POST", "/mt", body=body.encode("ascii"),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})


def somp_accepted(reply) -> tuple[str, int]:
    assert (reply.status, reply.headers["Content-Type"]) == (200, "text/plain; charset=utf-8"), reply.text
    match = re.fullmatch(r"id=([1-9][0-9]*)", reply.text)
    assert match, reply.text
    return "task", int(match.group(1))


def somp_refused(reply, needed: int, maximum: int) -> None:
    assert (reply.status, reply.headers["Content-Type"], reply.text) == (200, "text/plain; charset=utf-8",
                                                                         "r=9014")


def batch_send(api, number: str, text: str):
    # needstatus=true: the reply carries the msgid (the task id) on a second line.
    return api.post_form("/msg/HttpBatchSendSM", account="admin", pswd="s3cret", mobile=number, msg=text,
                         needstatus="true")


def batch_reply(reply) -> tuple[int, str | None]:
    assert (reply.status, reply.headers["Content-Type"]) == (200, "text/plain; charset=utf-8"), reply.text
    match = BATCH_REPLY.fullmatch(reply.text)
    assert match, reply.text
    assert abs(datetime.strptime(match.group(1), "%Y%m%d%H%M%S") - datetime.now()) < timedelta(seconds=30)
    return int(match.group(2)), match.group(3)


def batch_accepted(reply) -> tuple[str, int]:
    code, msgid = batch_reply(reply)
    assert code == 0 and msgid is not None, reply.text
    return "task", int(msgid)


def batch_refused(reply, needed: int, maximum: int) -> None:
    assert batch_reply(reply) == (106, None), reply.text


GOIP = Dialect("goip", goip_send, goip_accepted, goip_refused)
JINDI = Dialect("jindi", jindi_send, jindi_accepted, jindi_refused)
SOMP = Dialect("somp", somp_send, somp_accepted, somp_refused)
BATCHSEND = Dialect("batchsend", batch_send, batch_accepted, batch_refused)
# httpInterface.do cannot take TEXT_11 or TEXT_13 (300 characters at most): its own tests are below.
DIALECTS = [GOIP, JINDI, SOMP, BATCHSEND]


def counts(api) -> tuple[int, int]:
    return (api.stack.sql("SELECT COUNT(*) FROM smsserver_out")[0][0],
            api.stack.sql("SELECT COUNT(*) FROM tasks")[0][0])


def last_id(api) -> int:
    return api.stack.sql("SELECT COALESCE(MAX(id), 0) FROM smsserver_out")[0][0]


def new_rows(api, after: int) -> list[tuple]:
    return api.stack.sql("SELECT id, task_id, recipient, text, parts FROM smsserver_out WHERE id > ? ORDER BY id",
                         (after,))


def sent(sim) -> list[tuple[str, str, int, bool]]:
    return [(m.recipient, m.text, len(m.parts), m.complete) for modem in sim for m in modem.sent]


def assert_queued_and_sent(api, after: int, named: tuple[str, int], text: str, parts: int) -> None:
    """The acceptance stored one row, ``parts`` parts, the one its reply named; the
    line sends it whole (the line workers take max_parts from the same setting)."""
    [(row_id, task_id, recipient, stored, stored_parts)] = new_rows(api, after)
    assert (recipient, stored, stored_parts) == (NUMBER, text, parts)
    assert named == (("row", row_id) if named[0] == "row" else ("task", task_id))
    [row] = api.stack.wait_rows([row_id], lambda r: r["status"] in ("S", "F"), timeout=20)
    assert (row["status"], row["failure_cause"]) == ("S", None), row
    assert sent(api.stack.sim) == [(NUMBER, text, parts, True)]


@pytest.mark.parametrize("dialect", DIALECTS, ids=repr)
def test_max_parts_12_accepts_11_parts_and_refuses_13(make_api, dialect):
    api = make_api(config_text=CONFIG + MAX_12)
    before, after = counts(api), last_id(api)
    dialect.refused(dialect.send(api, NUMBER, TEXT_13), 13, 12)
    assert counts(api) == before, "a refused text stored something"
    named = dialect.accepted(dialect.send(api, NUMBER, TEXT_11))
    assert counts(api) == (before[0] + 1, before[1] + 1)
    assert_queued_and_sent(api, after, named, TEXT_11, 11)


def test_default_max_parts_refuses_11_parts_in_every_http_dialect(make_api):
    """No [modems] section: max_parts is 10, so the text the test above accepts is refused."""
    api = make_api(config_text=CONFIG)
    assert api.core.max_parts == 10
    before = counts(api)
    for dialect in DIALECTS:
        dialect.refused(dialect.send(api, NUMBER, TEXT_11), 11, 10)
        assert counts(api) == before, f"{dialect.name} stored a refused text"
    assert sent(api.stack.sim) == []


# --- httpInterface.do ----------------------------------------------------------------------------
# Its content is at most 300 characters and the signature is prefixed outside that count; the
# whole text must fit max_parts.  300 emoji (two UCS-2 units each) after the usual signature are
# 10 parts, the most a text can need there: that is the largest effect the dialect can show with
# an ordinary signature, so max_parts = 9 must refuse what the default (10) accepts.  A long
# configured signature takes the whole text to 11 parts (below), which only max_parts = 12 allows.

HI_CONTENT = "😀" * 300
LONG_SIGN = "【" + "汉" * 80 + "】"


def hi_send(api, content: str):
    body = urllib.parse.urlencode({"username": HI_USER, "password": HI_PASSWORD, "mobile": NUMBER,
                                   "content": content, "code": "utf-8"})
    return api.request("POST", f"{HI_PATH}?method=sendMsg", body=body.encode("ascii"),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})


def hi_status(reply) -> str:
    assert (reply.status, reply.headers["Content-Type"]) == (200, "text/xml; charset=UTF-8"), reply.text
    return reply.text


def hi_accepted(reply) -> tuple[str, int]:
    match = re.fullmatch(rf"{re.escape(HI_DECL)}\n<sms><mt><status>0</status><msgid>(\d+)</msgid></mt></sms>\n",
                         hi_status(reply))
    assert match, reply.text
    return "task", int(match.group(1))


def hi_refused(reply) -> None:
    assert hi_status(reply) == f"{HI_DECL}\n<sms><mt><status>105</status></mt></sms>\n"


def test_httpinterface_texts_need_the_parts_claimed():
    assert (len(HI_CONTENT), needed_parts(SIGN + HI_CONTENT), needed_parts(LONG_SIGN + HI_CONTENT)) == (300, 10, 11)


@pytest.mark.parametrize(("modems", "accepted"), [("", True), ("[modems]\nmax_parts = 9\n", False)],
                         ids=["default-10-accepts", "max_parts-9-refuses"])
def test_httpinterface_longest_text_follows_max_parts(make_api, modems, accepted):
    api = make_api(config_text=CONFIG + modems)
    before, after = counts(api), last_id(api)
    reply = hi_send(api, HI_CONTENT)
    if not accepted:
        hi_refused(reply)
        assert counts(api) == before and new_rows(api, after) == []
        return
    named = hi_accepted(reply)
    assert_queued_and_sent(api, after, named, SIGN + HI_CONTENT, 10)


@pytest.mark.parametrize(("modems", "accepted"), [(MAX_12, True), ("", False)],
                         ids=["max_parts-12-accepts", "default-10-refuses"])
def test_httpinterface_11_parts_with_a_long_signature(make_api, modems, accepted):
    api = make_api(config_text=CONFIG.replace(f"signature = {SIGN}\n", f"signature = {LONG_SIGN}\n") + modems)
    before, after = counts(api), last_id(api)
    reply = hi_send(api, HI_CONTENT)
    if not accepted:
        hi_refused(reply)
        assert counts(api) == before and new_rows(api, after) == []
        return
    named = hi_accepted(reply)
    assert_queued_and_sent(api, after, named, LONG_SIGN + HI_CONTENT, 11)


# --- MQTT: the sendsms command and the SOMP dialect ---------------------------------------------

def db_sql(db: Path, query: str, params: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(db, timeout=5)
    try:
        with con:
            return con.execute(query, params).fetchall()
    finally:
        con.close()


def mqtt_agent(broker, make_agent, make_bank, tmp_path, modems: str):
    config = parse("[agent]\nid = box1\n" + modems, base_dir=tmp_path)
    agent = make_agent(mqtt_config(broker), sim=make_bank(["generic"]), app_config=config)
    wait_until(lambda: agent.uplink.connected, what="the uplink to connect")
    return agent


def mqtt_counts(agent) -> tuple[int, int]:
    return (db_sql(agent.db, "SELECT COUNT(*) FROM smsserver_out")[0][0],
            db_sql(agent.db, "SELECT COUNT(*) FROM tasks")[0][0])


def mqtt_row_sent(agent, task_id: int, text: str, parts: int) -> None:
    """The task's one row holds ``text`` in ``parts`` parts, and the line sends it whole."""
    rows = db_sql(agent.db, "SELECT id, recipient, text, parts FROM smsserver_out WHERE task_id = ?", (task_id,))
    assert [r[1:] for r in rows] == [(NUMBER, text, parts)]
    row_id = rows[0][0]
    wait_until(lambda: db_sql(agent.db, "SELECT status FROM smsserver_out WHERE id = ?", (row_id,))[0][0] in "SF",
               20, "the row sent or failed")
    assert db_sql(agent.db, "SELECT status, failure_cause FROM smsserver_out WHERE id = ?", (row_id,)) == [("S", None)]
    assert sent(agent.sim) == [(NUMBER, text, parts, True)]


def sendsms(client, agent, text: str) -> tuple[str, dict]:
    request_id = uuid.uuid4().hex
    return request_id, client.request(agent.prefix, "sendsms", {"id": request_id, "number": NUMBER,
                                                                "content": text})


def sendsms_refused(reply: tuple[str, dict], needed: int, maximum: int) -> None:
    request_id, body = reply
    assert body == {"id": request_id, "command": "sendsms", "ok": False, "error": "bad_request",
                    "detail": f"content needs {needed} SMS parts, at most {maximum} allowed"}


def test_mqtt_sendsms_with_max_parts_12(broker, make_agent, make_bank, make_client, tmp_path):
    agent = mqtt_agent(broker, make_agent, make_bank, tmp_path, MAX_12)
    client = make_client(broker)  # MQTT 5: connected once subscribed to its reply topic
    before = mqtt_counts(agent)
    sendsms_refused(sendsms(client, agent, TEXT_13), 13, 12)
    assert mqtt_counts(agent) == before
    request_id, body = sendsms(client, agent, TEXT_11)
    assert body["ok"] is True and body["result"]["taskID"].isdigit(), body
    assert body == {"id": request_id, "command": "sendsms", "ok": True,
                    "result": {"result": "ACCEPT", "taskID": body["result"]["taskID"]}}
    assert mqtt_counts(agent) == (before[0] + 1, before[1] + 1)
    mqtt_row_sent(agent, int(body["result"]["taskID"]), TEXT_11, 11)


def test_mqtt_sendsms_default_refuses_11_parts(broker, make_agent, make_bank, make_client, tmp_path):
    agent = mqtt_agent(broker, make_agent, make_bank, tmp_path, "")
    client = make_client(broker)  # MQTT 5: connected once subscribed to its reply topic
    before = mqtt_counts(agent)
    sendsms_refused(sendsms(client, agent, TEXT_11), 11, 10)
    assert mqtt_counts(agent) == before and sent(agent.sim) == []


def somp_publish(client, agent, text: str) -> None:
    client.publish(f"{agent.prefix}/somp/{NUMBER}", text.encode("utf-8"))


def somp_refusal_logged(caplog, needed: int, maximum: int) -> None:
    """The dialect has no reply: a refused text is one warning in the log (waited for, as
    the request runs on the uplink's pool), and nothing is queued."""
    line = f"mqtt: SOMP send to {NUMBER} refused: text needs {needed} SMS parts, at most {maximum} allowed"
    wait_until(lambda: any(r.getMessage() == line for r in caplog.records), 10, f"the log line {line!r}")


@pytest.fixture
def somp_log(caplog):
    caplog.set_level(logging.WARNING, logger="agent.api.somp_mqtt")
    return caplog


def test_mqtt_somp_with_max_parts_12(broker, make_agent, make_bank, make_client, tmp_path, somp_log):
    agent = mqtt_agent(broker, make_agent, make_bank, tmp_path, MAX_12)
    client = make_client(broker, f"{agent.prefix}/somp/receive/+", protocol="3.1.1")  # (connected once subscribed)
    before = mqtt_counts(agent)
    somp_publish(client, agent, TEXT_13)
    somp_refusal_logged(somp_log, 13, 12)
    assert mqtt_counts(agent) == before
    somp_publish(client, agent, TEXT_11)
    [(task_id,)] = wait_until(lambda: db_sql(agent.db, "SELECT task_id FROM smsserver_out"), 10, "the text queued")
    assert mqtt_counts(agent) == (before[0] + 1, before[1] + 1)
    assert db_sql(agent.db, "SELECT source FROM tasks WHERE id = ?", (task_id,)) == [("somp-mqtt",)]
    mqtt_row_sent(agent, task_id, TEXT_11, 11)
    # The dialect's own report of it: one DELIVRD, and none for the refused text.
    assert client.wait_for(f"{agent.prefix}/somp/receive/R{NUMBER}").payload == b"DELIVRD"
    assert [m.payload for m in client.on(f"{agent.prefix}/somp/receive/+")] == [b"DELIVRD"]


def test_mqtt_somp_default_refuses_11_parts(broker, make_agent, make_bank, make_client, tmp_path, somp_log):
    agent = mqtt_agent(broker, make_agent, make_bank, tmp_path, "")
    client = make_client(broker, f"{agent.prefix}/somp/receive/+", protocol="3.1.1")  # (connected once subscribed)
    before = mqtt_counts(agent)
    somp_publish(client, agent, TEXT_11)
    somp_refusal_logged(somp_log, 11, 10)
    assert mqtt_counts(agent) == before and sent(agent.sim) == []
