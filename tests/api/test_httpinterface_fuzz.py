"""httpInterface.do with hypothesis-generated parameters, GET and POST, UTF-8, GBK
and arbitrary bytes: always the dialect's own reply (HTTP 200, an <sms> document,
a status the seed lists), never a 500, never a partial send."""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from . import hostile
from .test_httpinterface import AUTH, CONFIG, PATH

METHODS = ["getAmount", "sendMsg", "sendUtf8Msg", "sendGbkMsg", "queryReport", "queryMo"]
# 100 is what an internal failure answers: the fuzz must never see it (no rate limit is configured).
CODES = {"getAmount": {0, 101, 103, 105}, "queryReport": {101, 103, 104, 105}, "queryMo": {101, 103, 104, 105},
         **dict.fromkeys(["sendMsg", "sendUtf8Msg", "sendGbkMsg"], {0, 101, 103, 105, 106, 108, 114, 115, 116})}
KEYS = st.sampled_from(["username", "password", "veryCode", "verycode", "mobile", "content", "msgtype", "tempid",
                        "code", "sendtime", "sendTime", "extcode", "signtag", "signtext", "MOBILE"]) | st.text(max_size=10)
VALUES = st.one_of(
    st.sampled_from(["JSM40001", "123456", "453245", "13800138000", "+8613800138000,13800000001", "1", "2",
                     "JSM4001-0001", "jsm40421-0002", "PLAIN", "@1@=a,@2@=b", "@1@=李,@2@=x,@3@=1", "utf-8", "gbk",
                     "GB2312", "20991231235959", "20150501093030", "20151301000000", "8888", "12345", "",
                     "【江苏迅辰】", "<&>", "好" * 300, "x" * 301]),
    st.text(max_size=40),
    st.builds(lambda c, n: c * n, st.characters(), st.integers(300, 5000)),
)
RAW = (st.binary(max_size=30).map(lambda b: urllib.parse.quote_from_bytes(b)) | hostile.PERCENT).map(
    lambda v: ("raw", v))  # not UTF-8, GBK for UTF-8 and back, surrogates' UTF-8, NULs, huge
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@pytest.fixture
def api(make_api):
    return make_api(config_text=CONFIG)


def encode_pair(key: str, value, charset: str) -> str:
    if isinstance(value, tuple):
        return urllib.parse.quote(key, safe="") + "=" + value[1]
    return (urllib.parse.quote(key, safe="", encoding=charset, errors="replace") + "="
            + urllib.parse.quote(value, safe="", encoding=charset, errors="replace"))


def out_rows(api) -> tuple[int, int]:
    return api.stack.sql("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM smsserver_out")[0]


@pytest.mark.parametrize("method", METHODS + ["noSuchMethod"])
@FUZZ
@given(fields=st.dictionaries(KEYS, VALUES | RAW, max_size=6), post=st.booleans(), base=st.sampled_from([True, True, True, False]),
       charset=st.sampled_from(["utf-8", "gbk"]), split=st.booleans())
def test_any_parameters_give_the_dialects_reply_and_all_or_nothing(api, method, fields, post, base, charset, split):
    if base:  # start from a valid request so that the fuzz reaches the deeper checks
        fields = {**AUTH, "mobile": "13800138000,13800000001", "content": "fuzz 测试",
                  "code": "gbk" if charset == "gbk" else "utf-8", **fields}
    pairs = [encode_pair(k, v, charset) for k, v in fields.items()]
    assume(sum(map(len, pairs)) < 900_000)
    before_count, before_max = out_rows(api)
    query = f"{PATH}?method={method}"
    if post or sum(map(len, pairs)) > 30_000:
        # Part of the fields in the query string when ``split``: the body's win.  The query
        # string stays under the server's header limit (256 kB: a longer one is a 431).
        cut = len(pairs) // 2 if split else 0
        if sum(map(len, pairs[:cut])) > 30_000:
            cut = 0
        reply = api.request("POST", "&".join([query, *pairs[:cut]]), body="&".join(pairs[cut:]).encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        reply = api.request("GET", "&".join([query, *pairs]))
    assert reply.status == 200, reply.body[:300]
    assert reply.headers["Content-Type"] == "text/xml; charset=UTF-8"
    doc = ET.fromstring(reply.body)
    assert doc.tag == "sms"
    after_count, _ = out_rows(api)
    if doc.find("mt") is None:  # a queryReport / queryMo list
        assert method in ("queryReport", "queryMo") and len(doc) > 0
        assert after_count == before_count
        return
    code = int(doc.findtext("mt/status") or "")
    event(f"status {code}")
    assert code in CODES.get(method, {117}), reply.text
    msgid = doc.findtext("mt/msgid")
    if msgid is None:
        assert after_count == before_count, reply.text
        return
    assert code == 0 and method in ("sendMsg", "sendUtf8Msg", "sendGbkMsg")
    task_rows = api.core.messages_by_task(int(msgid))
    assert task_rows and after_count - before_count == len(task_rows)
    assert min(r["id"] for r in task_rows) > before_max
    assert len({r["text"] for r in task_rows}) == 1 and 0 < len(task_rows) <= 100


@FUZZ
@given(body=st.binary(max_size=400) | st.builds(
    lambda parts: b"".join(b"--b\r\nContent-Disposition: form-data; name=" + k + b"\r\n\r\n" + v + b"\r\n"
                           for k, v in parts) + b"--b--\r\n",
    st.lists(st.tuples(st.sampled_from([b'"mobile"', b'"content"', b'"username"', b'content', b'"x', b""]),
                       st.binary(max_size=40)), max_size=4)),
       boundary=st.sampled_from(["b", "", '"b"', "\u00ff", "b; charset=gbk"]))
def test_any_multipart_body_gives_the_dialects_reply(api, body, boundary):
    before = out_rows(api)
    content_type = f"multipart/form-data; boundary={boundary}".encode("utf-8").decode("latin-1")
    reply = api.request("POST", f"{PATH}?method=sendMsg&" + urllib.parse.urlencode(AUTH), body=body,
                        headers={"Content-Type": content_type})
    assert reply.status == 200, reply.body[:300]
    code = int(ET.fromstring(reply.body).findtext("mt/status") or "")
    assert code in CODES["sendMsg"], reply.text
    event(f"status {code}")
    if code != 0:
        assert out_rows(api) == before
