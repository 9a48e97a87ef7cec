"""httpInterface.do getAmount and the send methods through a real socket, over the
real queue, router, line workers and simulated modems (spec/httpinterface.md,
seed 004; clients of api_clients.md (e))."""

from __future__ import annotations

import socket
import urllib.parse
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any

import pytest

from agent.api import httpinterface

from .conftest import CONFIG as API_CONFIG

PATH = "/service/httpService/httpInterface.do"
DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
SIGN = "【江苏迅辰】"
TEMPLATE = "尊敬的@1@@2@,您在江苏迅辰网站（www.jsmsxx.com），注册的手机验证码为@3@，请在验证页面及时输入。"
BASE = API_CONFIG.replace("password = s3cret\n", "password = s3cret\nvery_code = 453245\n", 1)
CONFIG = BASE + f"""
[httpinterface]
username = JSM40001
password = 123456
signature = {SIGN}
[templates]
JSM4001-0001 = {TEMPLATE}
JSM40421-0002 = Code @1@ for @2@
PLAIN = No variables here
"""
AUTH = {"username": "JSM40001", "password": "123456", "veryCode": "453245"}
AT_QUOTA = {"sim1": {"daily_limit": 0}, "sim2": {"daily_limit": 0}}


def reply_doc(reply, *, decl: str = DECL) -> ET.Element:
    """Every reply: HTTP 200, text/xml UTF-8, the declaration given, an <sms> document."""
    assert reply.status == 200, reply.body[:300]
    assert reply.headers["Content-Type"] == "text/xml; charset=UTF-8"
    assert reply.text.startswith(decl), reply.text
    doc = ET.fromstring(reply.body)
    assert doc.tag == "sms", reply.text
    return doc


def status(doc: ET.Element) -> int:
    return int(doc.findtext("mt/status") or "")


def encode(params: dict[str, Any], charset: str = "utf-8") -> str:
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, encoding=charset)


def call(api, method: str | None, *, post: bool = False, charset: str = "utf-8", auth: bool = True,
         in_query: bool = True, **params: Any):
    """A client: method in the query string (as the seed's URLs), the rest in the
    query (GET) or a form body (POST), encoded in ``charset``."""
    fields = {**(AUTH if auth else {}), **params}
    if not in_query:
        fields["method"] = method
    query = f"?method={method}" if method is not None and in_query else ""
    if post:
        return api.request("POST", PATH + query, body=encode(fields, charset).encode("ascii"),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    rest = encode(fields, charset)
    url = PATH + query + (("&" if query else "?") + rest if rest else "")
    return api.request("GET", url)


def send(api, *, post: bool = True, method: str = "sendMsg", **params: Any) -> int:
    """Send, expect status 0; return the msgid (the task id)."""
    params.setdefault("code", "utf-8")
    doc = reply_doc(call(api, method, post=post, **params))
    assert status(doc) == 0, ET.tostring(doc)
    assert [c.tag for c in doc.find("mt")] == ["status", "msgid"]
    return int(doc.findtext("mt/msgid") or "")


def rows(api, task_id: int) -> list[dict]:
    return api.core.messages_by_task(task_id)


def out_count(api) -> int:
    return api.stack.sql("SELECT COUNT(*) FROM smsserver_out")[0][0]


def raw_request(api, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (a non-ASCII request line) and return (HTTP status, body)."""
    with socket.create_connection((api.server.host, api.server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.fixture
def api(make_api):
    return make_api(config_text=CONFIG)


# --- getAmount ----------------------------------------------------------------------------

def test_get_amount_unlimited_is_minus_one_get_and_post(api):
    for post in (False, True):
        reply = call(api, "getAmount", post=post)
        assert reply.text == f"{DECL}<sms><mt><status>0</status><account>-1</account></mt></sms>\n"


def test_get_amount_is_the_remaining_quota_in_tens(make_api):
    api = make_api(config_text=CONFIG, lines={"sim1": {"daily_limit": 57}, "sim2": {"total_limit": 48}})
    doc = reply_doc(call(api, "getAmount"))
    assert [(c.tag, c.text) for c in doc.find("mt")] == [("status", "0"), ("account", "10")]  # (57 + 48) // 10


def test_get_amount_errors(api):
    assert call(api, "getAmount", password="wrong").text == f"{DECL}<sms><mt><status>101</status></mt></sms>\n"
    assert status(reply_doc(call(api, "getAmount", username="other"))) == 101
    assert status(reply_doc(call(api, "getAmount", auth=False))) == 101
    assert call(api, "getAmount", veryCode="wrong").text == f"{DECL}<sms><mt><status>105</status></mt></sms>\n"
    assert status(reply_doc(call(api, "getAmount", veryCode=None, username="JSM40001", password="123456",
                                 auth=False))) == 105
    assert call(api, None).text == f"{DECL}<sms><mt><status>117</status></mt></sms>\n"
    assert status(reply_doc(call(api, "getBalance"))) == 117
    # Method names in any case, in the body too.
    assert status(reply_doc(call(api, "GETAMOUNT"))) == 0
    assert status(reply_doc(call(api, "getAmount", post=True, in_query=False))) == 0


def test_open_api_without_password_or_very_code(make_api):
    api = make_api(config_text="[agent]\nid = t\nstate_dir = state\n")
    assert status(reply_doc(call(api, "getAmount", auth=False))) == 0
    assert send(api, auth=False, mobile="13800000001", content="open") > 0


# --- sending: clients ---------------------------------------------------------------------

def test_utf8_form_post_client_is_queued_signed_and_sent(api):
    """api_clients.md (e): a form POST, code=utf-8, msgtype=1."""
    msgid = send(api, mobile="15951977097,13800000002", content="您好！您本次验证码为：174687，请勿告知他人",
                 msgtype="1", code="utf-8")
    [first, second] = rows(api, msgid)
    text = SIGN + "您好！您本次验证码为：174687，请勿告知他人"
    assert (first["recipient"], second["recipient"]) == ("15951977097", "13800000002")
    assert first["text"] == second["text"] == text
    assert first["task_id"] == msgid and first["originator"] in ("", None) and first["scheduled"] is None
    api.stack.wait_rows([first["id"], second["id"]], lambda r: r["status"] == "S")
    assert sorted(m.recipient for sim in api.stack.sim for m in sim.sent) == ["13800000002", "15951977097"]
    assert {m.text for sim in api.stack.sim for m in sim.sent} == {text}


def test_reply_is_the_seed_document(api):
    reply = call(api, "sendMsg", mobile="13800000001", content="x", code="utf-8")
    msgid = int(reply_doc(reply).findtext("mt/msgid") or "")
    assert reply.text == f"{DECL}<sms><mt><status>0</status><msgid>{msgid}</msgid></mt></sms>\n"


@pytest.mark.parametrize("post", [False, True])
def test_gbk_percent_encoded_is_the_default_of_send_msg(api, post):
    text = "您好，验证码174687"
    msgid = send(api, post=post, charset="gbk", code=None, mobile="13800000001", content=text)
    assert rows(api, msgid)[0]["text"] == SIGN + text
    msgid = send(api, post=post, charset="gbk", code="GB2312", mobile="13800000001", content=text)
    assert rows(api, msgid)[0]["text"] == SIGN + text


def test_send_utf8_msg_and_send_gbk_msg_fix_the_charset(api):
    text = "短信测试 € ü"
    a = send(api, method="sendUtf8Msg", code="gbk", mobile="13800000001", content=text)
    b = send(api, method="sendGbkMsg", code="utf-8", charset="gb18030", mobile="13800000001", content=text)
    c = send(api, method="sendutf8msg", post=False, code=None, mobile="13800000001", content=text)
    assert [rows(api, i)[0]["text"] for i in (a, b, c)] == [SIGN + text] * 3


def test_content_type_charset_is_used_when_code_is_absent(api):
    body = encode({**AUTH, "mobile": "13800000001", "content": "你好"}, "utf-8").encode()
    reply = api.request("POST", PATH + "?method=sendMsg", body=body,
                        headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
    assert rows(api, int(reply_doc(reply).findtext("mt/msgid") or ""))[0]["text"] == SIGN + "你好"


def test_seed_example_url_with_gbk_escaped(api):
    """Seed example 1 as a GBK client sends it (its bytes percent-escaped; raw bytes
    are tested in test_raw_uri.py), with and without the veryCode."""
    content = "您好！您本次验证码为：174687，请勿告知他人"

    def get(very_code: str) -> tuple[int, bytes]:
        url = (f"{PATH}?method=sendMsg&username=JSM40001&password=123456&veryCode={very_code}"
               f"&mobile=15951977097&content={content}&msgtype=1&code=gbk")
        target = urllib.parse.quote(url, safe="/?&=", encoding="gbk").encode("ascii")
        return raw_request(api, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    before = out_count(api)
    assert get("") == (200, b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sms><mt><status>116</status></mt></sms>\n")
    assert out_count(api) == before
    code, body = get("453245")
    doc = ET.fromstring(body)
    assert code == 200 and status(doc) == 0
    assert rows(api, int(doc.findtext("mt/msgid") or ""))[0]["text"] == SIGN + content


def test_seed_template_example(api):
    """Seed example 5, blanks and all: ``...928371 &msgtype=2 &tempid= JSM4001-0001&code=gbk``."""
    query = ("method=sendMsg&username=JSM40001&password=123456&veryCode=453245&mobile=15951977097&content="
             + urllib.parse.quote("@1@=李先生,@2@=您好,@3@=928371 ", encoding="gbk")
             + "&msgtype=2 &tempid= JSM4001-0001&code=gbk").replace(" ", "%20")
    doc = reply_doc(api.request("GET", f"{PATH}?{query}"))
    [row] = rows(api, int(doc.findtext("mt/msgid") or ""))
    assert row["text"] == ("【江苏迅辰】尊敬的李先生您好,您在江苏迅辰网站（www.jsmsxx.com），注册的手机验证码为928371，"
                           "请在验证页面及时输入。")


def test_template_values_with_commas_equals_and_plus(api):
    """api_clients.md (e): template content with + as %2b, & as %26, % as %25; a comma
    not followed by @N@= stays in the value."""
    body = ("username=JSM40001&password=123456&veryCode=453245&mobile=13800000001&msgtype=2"
            "&tempid=jsm40421-0002&code=utf-8&content=@1@%3Da%2bb%3Dc%26d%25,e,@2@=Mr+Li%20").encode()
    reply = api.request("POST", PATH + "?method=sendMsg", body=body,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    [row] = rows(api, int(reply_doc(reply).findtext("mt/msgid") or ""))
    assert row["text"] == SIGN + "Code a+b=c&d%,e for Mr Li"
    msgid = send(api, mobile="13800000001", msgtype="2", tempid="PLAIN", content="")
    assert rows(api, msgid)[0]["text"] == SIGN + "No variables here"
    msgid = send(api, mobile="13800000001", msgtype="2", tempid="JSM40421-0002", content="@2@=you,@01@=@2@,@9@=x")
    assert rows(api, msgid)[0]["text"] == SIGN + "Code @2@ for you"


def test_multipart_form_post_as_php_curl_sends_an_array(api):
    boundary = "----PhpBoundaryAbC"
    fields = {**AUTH, "mobile": "13800000001", "content": "多部分", "code": "gbk"}
    body = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n".encode()
                    + v.encode("gbk") + b"\r\n" for k, v in fields.items()) + f"--{boundary}--\r\n".encode()
    reply = api.request("POST", PATH + "?method=sendMsg", body=body,
                        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert rows(api, int(reply_doc(reply).findtext("mt/msgid") or ""))[0]["text"] == SIGN + "多部分"


def test_body_wins_over_the_query_string(api):
    body = encode({**AUTH, "content": "from the body"}).encode()
    reply = api.request("POST", PATH + "?method=sendMsg&content=from+query&mobile=13800000001&password=x&code=utf-8",
                        body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert rows(api, int(reply_doc(reply).findtext("mt/msgid") or ""))[0]["text"] == SIGN + "from the body"


# --- sending: options ---------------------------------------------------------------------

def test_signature_not_doubled_and_not_counted_in_300(api):
    msgid = send(api, mobile="13800000001", content=SIGN + "already signed")
    assert rows(api, msgid)[0]["text"] == SIGN + "already signed"
    msgid = send(api, mobile="13800000001", content="好" * 300, signtag="1", signtext="ignored")
    assert rows(api, msgid)[0]["text"] == SIGN + "好" * 300


def test_signtext_signs_when_no_signature_is_configured(make_api):
    api = make_api(config_text=BASE + "[httpinterface]\nusername = u\npassword = p\n")
    auth = {"username": "u", "password": "p"}
    a = send(api, **auth, mobile="13800000001", content="hi", signtext="迅辰004")
    b = send(api, **auth, mobile="13800000001", content="hi", signtext="【Shop】")
    c = send(api, **auth, mobile="13800000001", content="hi", signtag="1")
    assert [rows(api, i)[0]["text"] for i in (a, b, c)] == ["【迅辰004】hi", "【Shop】hi", "hi"]


def test_sendtime_schedules_and_extcode_is_the_originator(api):
    when = datetime.now().replace(microsecond=0) + timedelta(days=2)
    msgid = send(api, mobile="13800000001", content="later", sendtime=when.strftime("%Y%m%d%H%M%S"), extcode="8888")
    [row] = rows(api, msgid)
    assert (str(row["scheduled"]), row["originator"], row["status"]) == (str(when), "8888", "U")
    past = send(api, mobile="13800000001", content="now", sendtime="20150501093030", extcode="")
    assert rows(api, past)[0]["scheduled"] is None
    api.stack.wait_rows([rows(api, past)[0]["id"]], lambda r: r["status"] == "S")
    assert api.stack.row(row["id"])["status"] == "U"


def test_duplicate_mobiles_are_merged(api):
    msgid = send(api, mobile=" 13800000001 ,13800000001,,+8613800000002,", content="x")
    assert [r["recipient"] for r in rows(api, msgid)] == ["13800000001", "+8613800000002"]


# --- sending: refusals --------------------------------------------------------------------

GBK_HELLO = urllib.parse.quote_from_bytes("你好".encode("gbk"))
BAD_UTF8 = "%C4%E3%FF"
REFUSALS = [
    # (params, status)
    ({"password": "x"}, 101),
    ({"username": "admin"}, 101),
    ({"veryCode": "000000"}, 116),
    ({"veryCode": None}, 116),
    ({"mobile": None}, 106),
    ({"mobile": " , "}, 106),
    ({"mobile": "1380000000a"}, 106),
    ({"mobile": "13800000001;13800000002"}, 106),
    ({"mobile": "12"}, 106),
    ({"mobile": ",".join(f"138{i:08d}" for i in range(101))}, 106),
    ({"content": None}, 105),
    ({"content": "   "}, 105),
    ({"content": "x" * 301}, 105),
    ({"content": "好" * 301}, 105),
    ({"msgtype": "3"}, 103),
    ({"msgtype": "normal"}, 103),
    ({"code": "big5"}, 103),
    ({"msgtype": "2", "tempid": "JSM4001-9999", "content": "@1@=a"}, 114),
    ({"msgtype": "2", "tempid": None, "content": "@1@=a"}, 114),
    ({"msgtype": "2", "tempid": "JSM40421-0002", "content": "@1@=a"}, 103),  # @2@ missing
    ({"msgtype": "2", "tempid": "JSM40421-0002", "content": "hello"}, 103),
    ({"msgtype": "2", "tempid": "JSM40421-0002", "content": "@1@=a,@2@=b,@1@=c"}, 103),
    ({"msgtype": "2", "tempid": "JSM40421-0002", "content": "@1@=" + "x" * 290 + ",@2@=" + "y" * 20}, 105),
    ({"sendtime": "2015-05-01 09:30"}, 103),
    ({"sendtime": "20151301093030"}, 103),
    ({"sendtime": "2015050109303"}, 103),
    ({"extcode": "12345"}, 103),
    ({"extcode": "12a"}, 103),
    ({"signtag": "2"}, 115),
    ({"signtag": "x"}, 103),
    ({"signtext": "s" * 21}, 103),
]


def test_every_refusal_is_its_code_and_stores_nothing(api):
    before = out_count(api)
    for params, code in REFUSALS:
        for post in (False, True):
            fields = {"mobile": "13800000001", "content": "x", "code": "utf-8", **params}
            reply = call(api, "sendMsg", post=post, **fields)
            assert reply.text == f"{DECL}<sms><mt><status>{code}</status></mt></sms>\n", (params, reply.text)
    assert out_count(api) == before


BADLY_ENCODED = [
    ("sendUtf8Msg", f"mobile=13800000001&content={GBK_HELLO}", 105),  # GBK bytes are not UTF-8
    ("sendMsg", f"code=utf-8&mobile=13800000001&content={BAD_UTF8}", 105),
    ("sendGbkMsg", "mobile=13800000001&content=%81", 105),  # a lone GBK lead byte
    ("sendMsg", "mobile=13800000001&content=%FF", 105),  # GBK by default
    ("sendUtf8Msg", f"mobile=13800000001&content=x&extcode={BAD_UTF8}", 103),
    ("sendUtf8Msg", f"mobile={BAD_UTF8}&content=x", 103),
    ("sendUtf8Msg", f"mobile=13800000001&content=x&veryCode={BAD_UTF8}", 116),
    ("sendUtf8Msg", f"mobile=13800000001&content=x&password={BAD_UTF8}", 101),
    ("getAmount", "veryCode=%FF", 105),
    ("getAmount", "password=%FF", 101),
]


def test_badly_encoded_parameters(api):
    before = out_count(api)
    auth = "username=JSM40001&password=123456&veryCode=453245&"
    for method, query, code in BADLY_ENCODED:
        for post in (False, True):
            if post:
                reply = api.request("POST", f"{PATH}?method={method}", body=(auth + query).encode(),
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
            else:
                reply = api.request("GET", f"{PATH}?method={method}&{auth}{query}")
            assert status(reply_doc(reply)) == code, (method, query, reply.text)
    assert out_count(api) == before


def test_more_parts_than_max_parts_is_105(make_api):
    api = make_api(config_text=CONFIG.replace("[httpinterface]", "[modems]\nmax_parts = 2\n[httpinterface]"))
    before = out_count(api)
    assert status(reply_doc(call(api, "sendMsg", mobile="13800000001", content="好" * 130, code="utf-8"))) == 105
    assert out_count(api) == before
    assert send(api, mobile="13800000001", content="好" * 120) > 0  # 126 with the signature: 2 parts


def test_no_quota_left_is_108(make_api):
    api = make_api(config_text=CONFIG, lines=AT_QUOTA)
    assert call(api, "sendMsg", mobile="13800000001", content="x", code="utf-8").text == (
        f"{DECL}<sms><mt><status>108</status></mt></sms>\n")
    assert reply_doc(call(api, "getAmount")).findtext("mt/account") == "0"
    assert out_count(api) == 0


def test_address_not_allowed_is_109(make_api):
    api = make_api(config_text=CONFIG.replace("signature =", "allow = 10.0.0.0/8, 192.168.1.7\nsignature ="))
    for method in ("sendMsg", "getAmount", "queryReport"):
        assert status(reply_doc(call(api, method, mobile="13800000001", content="x"),
                                decl=DECL if method != "queryReport" else '<?xml version="1.0" encoding="utf-8" ?>\n')) == 109
    api = make_api(config_text=CONFIG.replace("signature =", "allow = 127.0.0.0/8\nsignature ="))
    assert send(api, mobile="13800000001", content="x") > 0


def test_max_rate_refuses_with_100(make_api):
    api = make_api(config_text=CONFIG.replace("signature =", "max_rate = 0.01\nsignature ="))
    send(api, mobile="13800000001", content="first")
    before = out_count(api)
    assert status(reply_doc(call(api, "sendMsg", mobile="13800000001", content="second", code="utf-8"))) == 100
    assert out_count(api) == before
    assert status(reply_doc(call(api, "getAmount"))) == 0  # only submissions are bounded


def test_store_failure_is_100_never_a_500(api, monkeypatch):
    def broken(*args: Any, **kwargs: Any):
        raise OSError("disk I/O error")

    monkeypatch.setattr(api.core, "submit", broken)
    assert call(api, "sendMsg", mobile="13800000001", content="x", code="utf-8").text == (
        f"{DECL}<sms><mt><status>100</status></mt></sms>\n")


def test_head_and_other_verbs(api):
    # HEAD would run the GET handler (a send, a pull): refused before it runs, with the methods allowed.
    for method in ("getAmount", "sendMsg"):
        reply = api.request("HEAD", PATH + f"?method={method}")
        assert (reply.status, reply.headers["Allow"]) == (405, "GET, POST")
    assert api.request("PUT", PATH + "?method=getAmount").status == 405
    assert httpinterface.PATH == PATH
