"""SOMP ``/mo`` through a real socket: received SMS and status reports, each
returned once, ``fs``, ``tf`` and the three reply formats, over the real
queue, line workers and simulated modems (whose status reports come by
themselves unless turned off)."""

from __future__ import annotations

import base64
import re
import urllib.parse
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest

from ..waiting import wait_until
from .somp_helpers import JSON, SOMP_CONFIG, TEXT, XML, auth, get, post, task_rows

STAMP = r"\d{14}"


@pytest.fixture
def api(make_api):
    return make_api(config_text=SOMP_CONFIG)


def poll(api, **more: str) -> list[str]:
    reply = get(api, "/mo", auth(**more))
    assert (reply.status, reply.headers["Content-Type"]) == (200, TEXT), reply.text
    return reply.text.split("\r\n") if reply.text else []


def fields(line: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(line, keep_blank_values=True))


def raw_sm(line: str) -> bytes:
    """The URL-decoded bytes of a line's ``sm``."""
    [value] = [pair[3:] for pair in line.split("&") if pair.startswith("sm=")]
    return urllib.parse.unquote_to_bytes(value)


def received(api, count: int) -> None:
    api.stack.wait_sql("SELECT COUNT(*) FROM smsserver_in WHERE type = 'I'", lambda rows: rows[0][0] >= count)


def journaled(api, kind: str, count: int) -> None:
    api.stack.wait_sql(f"SELECT COUNT(*) FROM journal WHERE kind = '{kind}'", lambda rows: rows[0][0] >= count,
                       timeout=10)


def send(api, query: str) -> int:
    reply = get(api, "/mt", query)
    assert reply.text.startswith("id="), reply.text
    return int(reply.text[3:])


def local(stored: str) -> str:
    return datetime.fromisoformat(stored).strftime("%Y%m%d%H%M%S")


# --- MOs -----------------------------------------------------------------------------------

def test_mo_line_has_every_field_and_is_returned_once(api):
    api.stack.sim[0].deliver("+8613700000001", "Hi 你好 😀")
    received(api, 1)
    [line] = poll(api)
    [row] = api.stack.store.reads.read_inbox("check")
    number = next(info.number for info in api.core.lines_view() if info.name == "sim1")
    hex_text = "Hi 你好 😀".encode("utf-16-be").hex().upper()
    assert number  # the simulated SIM knows its number (AT+CNUM)
    assert line == (f"op=mo&dc=8&pi=0&ec=0&sa=%2B8613700000001&da={urllib.parse.quote(number, safe='')}"
                    f"&mu=sim1&sm={hex_text}"
                    f"&sd={local(row['receive_date'])}")
    assert poll(api) == []
    assert get(api, "/mo", auth()).text == ""


def test_mo_tf_encodes_the_content(api):
    text = "tf 测试 & = +"
    for i in range(4):
        api.stack.sim[1].deliver(f"1370000000{i}", text)
    received(api, 4)
    got = [raw_sm(poll(api, tf=str(tf), fs="1")[0]) for tf in range(4)]
    ucs2 = text.encode("utf-16-be")
    assert got[0] == ucs2.hex().upper().encode()
    assert base64.b64decode(got[1]) == ucs2
    # tf 2 and 3: the line's URL-encoding is the transfer encoding.
    assert (got[2], got[3]) == (ucs2, text.encode("utf-8"))
    assert get(api, "/mo", auth(tf="9")).text == "r=9025"


def test_fs_bounds_each_read_and_the_rest_waits(api):
    for i in range(5):
        api.stack.sim[0].deliver(f"1370000000{i}", f"m{i}")
    received(api, 5)
    first = poll(api, fs="2")
    second = poll(api, fs="x")  # invalid: the server's size
    assert [fields(line)["sa"] for line in first + second] == [f"1370000000{i}" for i in range(5)]
    assert len(first) == 2 and poll(api, fs="0") == []


# --- status reports ------------------------------------------------------------------------

def test_reports_echo_id_ex_and_position_and_skip_rd0(api):
    task = send(api, auth(da="13800000001;13800000002", sm="6869", rd="1", ex="4242"))
    quiet = send(api, auth(da="13800000003", sm="6869"))  # rd=0: no report
    journaled(api, "receipt", 2)
    journaled(api, "result", 3)
    lines = poll(api)
    assert len(lines) == 2
    rows = {row["recipient"]: row for row in task_rows(api, task)}
    for di, line in enumerate(sorted(lines, key=lambda x: fields(x)["sa"]), start=1):
        recipient = f"1380000000{di}"
        pattern = (f"op=dr&sa={recipient}&id={task}&ex=4242&su=DELIVRD&sd=({STAMP})&dd=({STAMP})&rp=0"
                   f"&bi=1&di={di}")
        match = re.fullmatch(pattern, line)
        assert match, line
        assert match.group(1) == local(rows[recipient]["sent_date"])
        assert match.group(2) >= match.group(1)[:12] + "00"
    assert quiet != task and poll(api) == []


def test_failed_send_is_a_dr_line_with_the_cms_code(api):
    api.stack.sim[0].fail_next_send(21)
    api.stack.sim[1].fail_next_send(21)
    task = send(api, auth(da="13800000009", sm="41", rd="1"))
    journaled(api, "result", 1)
    [line] = poll(api, rf="0")
    assert re.fullmatch(f"op=dr&sa=13800000009&id={task}&ex=0&su=REJECTD&sd={STAMP}&dd={STAMP}&rp=21&bi=1&di=1",
                        line), line


def test_undelivered_report_carries_the_tp_status(api):
    for sim in api.stack.sim:
        sim.auto_status_reports = False
    task = send(api, auth(da="13800000005", sm="41", rd="1", ex="-7"))
    wait_until(lambda: task_rows(api, task)[0]["status"] == "S", what="sent")
    row = task_rows(api, task)[0]
    sim = api.stack.sim[0] if row["line"] == "sim1" else api.stack.sim[1]
    sim.status_report(int(row["ref_no"]), 0x41)
    journaled(api, "receipt", 1)
    [line] = poll(api)
    assert (fields(line)["su"], fields(line)["rp"], fields(line)["ex"], fields(line)["id"]) == (
        "UNDELIV", "65", "-7", str(task))


def test_expired_row_inserted_with_sql_is_reported_by_its_message_id(api):
    # Rows an application inserts have no task: their report's id is the row id.
    api.stack.sql("INSERT INTO smsserver_out (type, recipient, text, encoding, create_date, status_report, expires)"
                  " VALUES ('O', '13800000006', 'late', '7', datetime('now', 'localtime', '-2 minutes'), 1,"
                  " datetime('now', 'localtime', '-1 minute'))")
    msg_id = api.stack.sql("SELECT MAX(id) FROM smsserver_out")[0][0]
    journaled(api, "result", 1)
    assert api.stack.row(msg_id)["failure_cause"] == "EXPIRED"
    [line] = poll(api)
    created = local(api.stack.row(msg_id)["create_date"])
    assert re.fullmatch(f"op=dr&sa=13800000006&id={msg_id}&ex=0&su=EXPIRED&sd={created}&dd={STAMP}&rp=9408"
                        "&bi=1&di=1", line), line


# --- reply formats -----------------------------------------------------------------------------

def test_xml_and_json_replies(api):
    api.stack.sim[0].deliver("+8613700000001", "<&>")
    api.stack.sim[0].deliver("+8613700000002", "x")
    received(api, 2)
    reply = get(api, "/mo", auth(rf="1", fs="1"))
    assert reply.headers["Content-Type"] == XML
    assert reply.text.startswith('<?xml version="1.0"?>\n<list>\n<item><op>mo</op><dc>8</dc>')
    [item] = ET.fromstring(reply.body).findall("item")
    assert [child.tag for child in item] == ["op", "dc", "pi", "ec", "sa", "da", "mu", "sm", "sd"]
    assert (item.findtext("sa"), item.findtext("sm")) == ("+8613700000001", "003C0026003E")
    reply = get(api, "/mo", auth(rf="2"))
    assert reply.headers["Content-Type"] == JSON
    body = reply.json()
    assert body["success"] is True and [r["sa"] for r in body["list"]] == ["+8613700000002"]
    assert list(body["list"][0]) == ["op", "dc", "pi", "ec", "sa", "da", "mu", "sm", "sd"]
    assert all(isinstance(v, str) for v in body["list"][0].values())
    assert get(api, "/mo", auth(rf="2")).text == '{"success": true, "list": []}'
    assert get(api, "/mo", auth(rf="1")).text == '<?xml version="1.0"?>\n<list>\n</list>'


def test_mo_post_and_refusals(api):
    api.stack.sim[0].deliver("13700000001", "posted")
    received(api, 1)
    for query, code in (("pw=123456", 9102), ("un=x&pw=123456", 9103), ("un=star&pw=no", 9101),
                        ("un=star&pw=123456&ts=20200101000000", 9101)):
        assert get(api, "/mo", query).text == f"r={code}"
        assert get(api, "/mo", query + "&rf=2").text == f'{{"r": "{code}"}}'
    reply = post(api, "/mo", auth(rf="1"))
    assert [i.findtext("sa") for i in ET.fromstring(reply.body).findall("item")] == ["13700000001"]
