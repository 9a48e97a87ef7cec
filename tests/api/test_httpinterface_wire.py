"""The pure parsing and formatting of httpInterface.do (agent.api.httpinterface_wire)."""

from __future__ import annotations

import re
import urllib.parse
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.api import httpinterface_wire as wire
from agent.errors import Refused

NOW = datetime(2024, 5, 4, 11, 10, 10)


def refused(fn, *args) -> int:
    with pytest.raises(Refused) as info:
        fn(*args)
    return info.value.reason


def test_parse_form_rules():
    fields = wire.parse_form(b"Method=sendMsg&content=a+b%2Bc&x&veryCode=1&VERYCODE=2&&=v&mobile=%E4%BD%A0")
    assert fields == {"method": b"sendMsg", "content": b"a b+c", "x": b"", "verycode": b"2", "": b"v",
                      "mobile": "你".encode()}
    assert wire.parse_form(b"") == {}
    assert wire.parse_form(b"a=%zz%4") == {"a": b"%zz%4"}


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.text(max_size=30)),
       st.sampled_from(["utf-8", "gbk"]))
def test_any_form_decodes_back_in_its_charset(values, charset):
    encodable = {k: v for k, v in values.items() if _encodable(v, charset)}
    raw = urllib.parse.urlencode(encodable, encoding=charset).encode("ascii")
    fields = wire.parse_form(raw)
    name = wire.UTF8 if charset == "utf-8" else wire.GBK
    assert {k: wire.decode(v, name) for k, v in fields.items()} == encodable


def _encodable(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeError:
        return False
    return True


def test_charset_of_each_method():
    assert wire.charset(wire.SEND_UTF8, b"gbk") == wire.UTF8
    assert wire.charset(wire.SEND_GBK, b"utf-8") == wire.GBK
    assert wire.charset(wire.SEND_MSG, None) == wire.GBK
    assert wire.charset(wire.SEND_MSG, None, "utf-8") == wire.UTF8
    assert wire.charset(wire.SEND_MSG, b"gbk", "utf-8") == wire.GBK
    for code in (b"UTF-8", b" utf8 "):
        assert wire.charset(wire.SEND_MSG, code) == wire.UTF8
    for code in (b"GBK", b"gb2312", b"GB18030"):
        assert wire.charset(wire.SEND_MSG, code) == wire.GBK
    assert refused(wire.charset, wire.SEND_MSG, b"big5") == 103
    assert wire.charset(wire.GET_AMOUNT, b"gbk") == wire.AUTO
    assert wire.decode("你好".encode("gbk"), wire.AUTO) == "你好"
    assert wire.decode("你好".encode(), wire.AUTO) == "你好"
    with pytest.raises(UnicodeDecodeError):
        wire.decode(b"\xff", wire.AUTO)


def test_method_names():
    assert wire.method_of({"method": b" SENDMSG "}) == "sendMsg"
    assert wire.method_of({"method": b"queryreport"}) == "queryReport"
    assert wire.method_of({"method": b"send"}) == "" and wire.method_of({}) == ""


def test_mobiles():
    assert wire.parse_mobiles(" 1380013800 ,,+8613800138000,1380013800,") == ["1380013800", "+8613800138000"]
    for bad in ("", " , ", "12", "1" * 21, "++123", "138-0013", "١٢٣٤", ",".join(["13800138000"] * 101)):
        assert refused(wire.parse_mobiles, bad) == 106, bad
    assert len(wire.parse_mobiles(",".join(["13800138000"] * 100))) == 1


VALUE = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12).map(str.strip).filter(
    lambda v: not re.search(r",\s*@[0-9]{1,3}@=", v) and not re.match(r"@[0-9]{1,3}@=", v))


@settings(max_examples=80, deadline=None)
@given(st.lists(VALUE, min_size=1, max_size=5))
def test_template_values_round_trip(values):
    content = ",".join(f"@{i}@={v}" for i, v in enumerate(values, start=1))
    assert wire.template_values(content) == dict(enumerate(values, start=1))
    template = "".join(f"<@{i}@>" for i in range(1, len(values) + 1))
    assert wire.fill_template(template, content) == "".join(f"<{v}>" for v in values)


def test_template_rules():
    assert wire.template_values("@1@=李先生,@2@=您好,@3@=928371 ") == {1: "李先生", 2: "您好", 3: "928371"}
    assert wire.template_values("@1@=a=b,c, d,@02@=") == {1: "a=b,c, d", 2: ""}
    assert wire.template_values("  ") == {}
    for bad in ("hello", "x,@1@=a", "@1@=a,@1@=b", "@a@=x", "@1@ = x"):
        assert refused(wire.template_values, bad) == 103, bad
    assert wire.fill_template("Hi @1@@2@, @1@! mail a@b.c", "@2@=@1@,@1@=Li") == "Hi Li@1@, Li! mail a@b.c"
    assert refused(wire.fill_template, "@1@ @2@", "@1@=x") == 103
    assert wire.fill_template("fixed", "@7@=unused") == "fixed"


def test_sendtime():
    assert wire.parse_sendtime("", NOW) is None and wire.parse_sendtime("  ", NOW) is None
    assert wire.parse_sendtime("20240504111011", NOW) == datetime(2024, 5, 4, 11, 10, 11)
    assert wire.parse_sendtime("20240504111010", NOW) is None  # not in the future: now
    assert wire.parse_sendtime(" 20140504111010 ", NOW) is None
    assert wire.parse_sendtime("99991231235959", NOW) == datetime(9999, 12, 31, 23, 59, 59)
    for bad in ("2024050411101", "202405041110100", "20241304111010", "20240230000000", "2024-05-04 11:10",
                "00000101000000", "２０２４０５０４１１１０１１"):
        assert refused(wire.parse_sendtime, bad, NOW) == 103, bad


def test_extcode_and_signature():
    assert wire.parse_extcode(" 8888 ") == "8888" and wire.parse_extcode("") == ""
    for bad in ("12345", "a1", "-1", "１"):
        assert refused(wire.parse_extcode, bad) == 103
    assert wire.signature("【Branch】", "", "") == "【Branch】"
    assert wire.signature("【Branch】", "1", "mine") == "【Branch】"
    assert wire.signature("", "", "迅辰004") == "【迅辰004】"
    assert wire.signature("", "", "【Shop】") == "【Shop】"
    assert wire.signature("", "1", "") == ""
    assert refused(wire.signature, "【Branch】", "2", "") == 115
    assert refused(wire.signature, "【Branch】", "0", "") == 115
    assert refused(wire.signature, "", "one", "") == 103
    assert refused(wire.signature, "", "", "s" * 21) == 103


def test_report_status_words():
    assert wire.report_status("receipt", {"delivered": True, "status": 0}) == "DELIVRD"
    assert wire.report_status("receipt", {"delivered": False, "status": 0x46}) == "EXPIRED"
    assert wire.report_status("receipt", {"delivered": False, "status": 0x48}) == "DELETED"
    assert wire.report_status("receipt", {"delivered": False, "status": 0x41}) == "UNDELIV"
    assert wire.report_status("result", {"status": "sent"}) is None
    assert wire.report_status("result", {"status": "failed", "error_code": 21, "failure_cause": "BAD_NUMBER"}) == (
        "CMS:0021")
    assert wire.report_status("result", {"status": "failed", "error_code": None, "failure_cause": "EXPIRED"}) == (
        "EXPIRED")
    assert wire.report_status("result", {"status": "failed"}) == "UNDELIV"
    assert wire.report_status("mo", {}) is None


def test_documents():
    assert wire.status_reply(0, account=-1) == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<sms><mt><status>0</status><account>-1</account></mt></sms>\n')
    assert wire.status_reply(104, query=True) == (
        '<?xml version="1.0" encoding="utf-8" ?>\n<sms><mt><status>104</status></mt></sms>\n')
    report = wire.report_document([{"mobile": "1", "msgid": 2, "status": "DELIVRD", "time": "t", "extno": ""}])
    assert report == ('<?xml version="1.0" encoding="UTF-8"?>\n<sms>\n<rpt><mobile>1</mobile><msgid>2</msgid>'
                      "<status>DELIVRD</status><time>t</time><extno></extno></rpt>\n</sms>\n")
    mo = wire.mo_document([{"mobile": "1", "recvcode": "", "content": "<&>\x00\ud800", "time": "t"}])
    assert mo == ('<?xml version="1.0" encoding="utf-8" ?>\n<sms>\n<mo><mobile>1</mobile><recvcode></recvcode>'
                  "<content>&lt;&amp;&gt;\ufffd\ufffd</content><time>t</time></mo>\n</sms>\n")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=50))
def test_any_text_makes_well_formed_xml(text):
    doc = ET.fromstring(wire.mo_document([{"mobile": text, "recvcode": text, "content": text, "time": text}])
                        .encode("utf-8"))
    expected = re.sub("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]", "\ufffd", text)
    assert (doc.findtext("mo/content") or "") == expected
