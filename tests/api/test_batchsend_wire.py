"""The HttpBatchSendSM wire helpers and push formatters, without a socket."""

from __future__ import annotations

import re
import urllib.parse
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.api import batchsend
from agent.api import batchsend_wire as wire
from agent.config_dialects import BatchSendConfig
from agent.config_net import Credentials
from agent.errors import Refused

CONFIG = BatchSendConfig(credentials=Credentials("admin", "pw"), report_url="http://127.0.0.1:8090/sms/report",
                         mo_url="http://127.0.0.1:8090/sms/mo?k=v", receiver="rcv", push_password="ppw")
RESULT = {"message_id": 41, "task_id": 7, "sub_task": "7.13900210021", "recipient": "13900210021", "line": "sim1",
          "status": "failed", "error_code": 21, "failure_cause": "GATEWAY_FAILURE", "client_ref": None,
          "in_doubt": False, "status_report": True, "at": "2010-12-24 10:02:33"}
RECEIPT = {"message_id": 41, "task_id": 7, "sub_task": "7.13900210021", "recipient": "13900210021", "line": "sim1",
           "client_ref": None, "delivered": True, "status": 0, "status_report": True, "at": "2010-12-24 10:02:59"}
MO = {"id": 3, "line": "sim1", "originator": "13800210021", "text": "hello", "encoding": "7",
      "message_date": "2012-08-21 22:05:01", "receive_date": "2012-08-21 22:05:09", "parts": 1, "error": None,
      "number": "1065751600001"}


def test_the_seeds_examples_are_what_the_formatters_make():
    fmts = batchsend.formatters(CONFIG)
    assert set(fmts) == {"batch-report", "batch-mo"}
    request = fmts["batch-report"]("receipt", RECEIPT)
    assert request is not None and (request.method, request.body) == ("GET", None)
    assert request.url == ("http://127.0.0.1:8090/sms/report?receiver=rcv&pswd=ppw&msgid=7&reportTime=1012241002"
                           "&mobile=13900210021&status=DELIVRD")
    mo = fmts["batch-mo"]("mo", MO)
    assert mo is not None and mo.url == ("http://127.0.0.1:8090/sms/mo?k=v&receiver=rcv&pswd=ppw&moTime=1208212205"
                                         "&destcode=1065751600001&mobile=13800210021&msg=hello")


@pytest.mark.parametrize("kind, changes, status", [
    ("receipt", {}, "DELIVRD"),
    ("receipt", {"delivered": False, "status": 0x46}, "EXPIRED"),
    ("receipt", {"delivered": False, "status": 0x47}, "DELETED"),
    ("receipt", {"delivered": False, "status": 0x48}, "DELETED"),
    ("receipt", {"delivered": False, "status": 0x42}, "REJECTD"),
    ("receipt", {"delivered": False, "status": 0x63}, "REJECTD"),
    ("receipt", {"delivered": False, "status": 0x45}, "UNDELIV"),
    ("receipt", {"delivered": False, "status": 0x65}, "UNDELIV"),
    ("receipt", {"delivered": False, "status": None}, "UNDELIV"),
    ("result", {}, "CMS:21"),
    ("result", {"error_code": None, "failure_cause": "EXPIRED"}, "EXPIRED"),
    ("result", {"error_code": None, "failure_cause": "BAD_NUMBER"}, "BAD_NUMBER"),
    ("result", {"error_code": None, "failure_cause": None}, "UNKNOWN"),
])
def test_report_status_words(kind, changes, status):
    payload = {**(RECEIPT if kind == "receipt" else RESULT), **changes}
    request = batchsend.formatters(CONFIG)["batch-report"](kind, payload)
    assert request is not None
    assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query))["status"] == status


@pytest.mark.parametrize("kind, changes", [
    ("result", {"status": "sent", "error_code": None}),  # a send is reported by its delivery report
    ("result", {"status_report": False}),  # needstatus=false
    ("receipt", {"status_report": False}),
    ("mo", {}),
    ("call", {}),
])
def test_events_not_reported(kind, changes):
    payload = {**(RECEIPT if kind == "receipt" else RESULT), **changes}
    assert batchsend.formatters(CONFIG)["batch-report"](kind, payload) is None
    assert batchsend.formatters(CONFIG)["batch-mo"]("result", RESULT) is None


def test_a_message_without_a_task_reports_its_own_id_and_defaults():
    fmts = batchsend.formatters(BatchSendConfig(credentials=Credentials("admin", "pw"),
                                                report_url="http://h/r?a=1&"))
    assert set(fmts) == {"batch-report"}
    request = fmts["batch-report"]("receipt", {**RECEIPT, "task_id": None})
    assert request is not None and request.url.startswith("http://h/r?a=1&receiver=admin&pswd=pw&msgid=41&")
    assert batchsend.formatters(BatchSendConfig()) == {}


def test_push_url_joins_and_encodes():
    assert wire.push_url("http://h/p", {"a": "x y&z", "b": "汉"}) == "http://h/p?a=x%20y%26z&b=%E6%B1%89"
    assert wire.push_url("http://h/p?", {"a": "1"}) == "http://h/p?a=1"
    assert wire.push_url("http://h/p?q=1", {"a": "+"}) == "http://h/p?q=1&a=%2B"
    assert wire.push_url("http://h/p", {"m": "\ud800"}) == "http://h/p?m=%3F"  # a lone surrogate cannot be UTF-8


def test_short_time_of_a_stored_time_a_datetime_or_now():
    assert wire.short_time("2012-08-21 22:05:09") == "1208212205"
    assert wire.short_time(datetime(2012, 8, 21, 22, 5, 9)) == "1208212205"
    zone = ZoneInfo("Pacific/Kiritimati")  # UTC+14: never the test machine's local time
    before = datetime.now(zone).strftime("%y%m%d%H%M")
    now = wire.short_time("not a time", zone)
    assert now in (before, datetime.now(zone).strftime("%y%m%d%H%M"))


@settings(max_examples=40, deadline=None)
@given(text=st.text(), originator=st.text(max_size=30), number=st.text(max_size=20))
def test_mo_push_carries_any_text_back_exactly(text, originator, number):
    request = batchsend.formatters(CONFIG)["batch-mo"]("mo", {**MO, "text": text, "originator": originator,
                                                              "number": number})
    assert request is not None
    query = urllib.parse.urlsplit(request.url).query
    assert query.startswith("k=v&") and " " not in request.url
    got = dict(urllib.parse.parse_qsl(query, keep_blank_values=True, errors="strict"))
    clean = lambda s: s.encode("utf-8", "replace").decode("utf-8")  # noqa: E731
    assert (got["msg"], got["mobile"], got["destcode"]) == (clean(text), clean(originator), clean(number))


# --- request parsing ---------------------------------------------------------------------

def test_fields_decode_utf8_else_gb18030_else_none():
    gbk = urllib.parse.quote_from_bytes("短信".encode("gbk"))
    got = wire.fields(f"msg={gbk}&account=%E7%AE%A1&pswd=%FF&mobile=1", b"mobile=2&x", "text/plain")
    assert got == {"msg": "短信", "account": "管", "pswd": None, "mobile": "2", "x": ""}


def test_multipart_fields_and_files_and_garbage():
    body = (b'--B\r\nContent-Disposition: form-data; name="msg"\r\n\r\n' + "短信".encode("gbk") +
            b'\r\n--B\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nfile\r\n--B--\r\n')
    assert wire.fields("mobile=1", body, "multipart/form-data; boundary=B") == {"mobile": "1", "msg": "短信"}
    assert wire.fields("a=1", b"\x00garbage", "multipart/form-data") == {"a": "1"}


NUMBER_ITEMS = st.lists(st.from_regex(r"\s?\+?[0-9]{3,20}\s?", fullmatch=True) | st.sampled_from(["", " "]) |
                        st.text(st.characters(blacklist_characters=","), max_size=5), max_size=8)


@settings(max_examples=100, deadline=None)
@given(items=NUMBER_ITEMS)
def test_recipients_accepts_exactly_the_well_formed_lists(items):
    kept = [i.strip() for i in items if i.strip()]
    ok = bool(kept) and all(re.fullmatch(r"\+?[0-9]{3,20}", n, re.ASCII) for n in kept)
    if ok:
        assert wire.recipients(",".join(items)) == kept
    else:
        with pytest.raises(Refused) as refused:
            wire.recipients(",".join(items))
        assert refused.value.reason == 108


def test_recipients_limit():
    assert len(wire.recipients(",".join(["13800000001"] * 50_000))) == 50_000
    with pytest.raises(Refused):
        wire.recipients(",".join(["13800000001"] * 50_001))


@pytest.mark.parametrize("value, expected", [("x", 1), ("x" * 161, 2), ("汉" * 70, 1), ("汉" * 71, 2),
                                             ("汉" * 670, 10), ("x" * 700, 5)])
def test_message_parts(value, expected):
    assert wire.message_parts(value, 10) == expected


@pytest.mark.parametrize("value", [None, "", "x" * 701, "汉" * 671])
def test_message_refused(value):
    with pytest.raises(Refused) as refused:
        wire.message_parts(value, 10)
    assert refused.value.reason == 106


def test_balance_reply():
    at = datetime(2013, 3, 3, 18, 0, 0)
    assert wire.balance_reply(at, {"cmcc": 1000, "": 5, "cucc": None}, None) == \
        "20130303180000,0\ncmcc,1000\ncucc,-1\nall,-1"
    assert wire.balance_reply(at, {}, 0) == "20130303180000,0\nall,0"
    assert wire.send_reply(datetime(2011, 7, 25, 16, 4, 12), 0, 1234567890100) == "20110725160412,0\n1234567890100"
    assert wire.send_reply(datetime(2011, 7, 25, 16, 4, 12), 101) == "20110725160412,101"
