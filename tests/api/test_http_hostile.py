"""Hostile and careless clients over a raw socket: ``Expect: 100-continue`` with
and without a body, HEAD on endpoints that change something, and bad bytes
(invalid UTF-8, lone surrogates, GBK for UTF-8, NULs, huge fields, odd
headers) on every endpoint: the dialect's own refusal, never a 5xx, never a
traceback in the log, nothing stored."""

from __future__ import annotations

import json
import logging
import re
import socket
import urllib.parse
from dataclasses import dataclass

import pytest

from ..waiting import wait_until

GOIP_AUTH = '"auth":{"username":"admin","password":"s3cret"}'
HI = "/service/httpService/httpInterface.do"


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes
    interim: list[int]  # 1xx statuses seen before the final one


def _read_response(sock: socket.socket, method: str = "GET") -> Raw:
    """One response (after any 1xx), read to the end of its body."""
    data, interim = b"", []
    while True:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before a response: {data!r}"
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if 100 <= status < 200:
            interim.append(status)
            continue
        length = 0 if method == "HEAD" else int(headers.get("content-length", "0"))
        while len(data) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside the body"
            data += chunk
        return Raw(status, headers, data[:length], interim)


def raw(api, method: str, target: str, *, headers: dict[str, bytes | str] | None = None, body: bytes | None = None,
        timeout: float = 5.0) -> Raw:
    """Send one request with exactly these bytes (no client library between) and read its answer."""
    head = [f"{method} {target} HTTP/1.1".encode("latin-1"), b"Host: 127.0.0.1", b"Connection: close"]
    for name, value in (headers or {}).items():
        head.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode("latin-1")))
    if body is not None:
        head.append(b"Content-Length: %d" % len(body))
    with socket.create_connection(("127.0.0.1", api.server.port), timeout=timeout) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + (body or b""))
        return _read_response(sock, method)


def rows(api) -> tuple[int, int, int]:
    return api.stack.sql("SELECT (SELECT COUNT(*) FROM smsserver_out), (SELECT COUNT(*) FROM tasks),"
                         " (SELECT COUNT(*) FROM submissions)")[0]


def query(**fields: str) -> str:
    return urllib.parse.urlencode(fields)


# --- Expect: 100-continue ----------------------------------------------------------------------

@pytest.mark.parametrize("method, target, headers", [
    ("GET", "/healthz", {}),
    ("GET", "/send?" + query(password="jpass", recipient="13800000001", text="x"), {}),
    ("POST", "/goip/querylines/", {"Content-Length": "0"}),
    ("POST", "/mt", {}),  # no Content-Length at all: no body
    ("POST", "/msg/QueryBalance", {"Content-Length": "0", "Content-Type": "application/x-www-form-urlencoded"}),
])
def test_expect_continue_without_a_body_gets_its_final_response_at_once(api, method, target, headers):
    # Before the fix: "100 Continue", then nothing until the idle timeout (30 s), so the read timed out.
    reply = raw(api, method, target, headers={**headers, "Expect": "100-continue"}, timeout=3.0)
    assert reply.interim == [] and 200 <= reply.status < 500, reply


def test_expect_continue_with_a_body_gets_100_then_the_final_response(api):
    body = ('{' + GOIP_AUTH + ',"number":"13800000001","content":"expect"}').encode()
    head = (b"POST /goip/sendsms/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
    with socket.create_connection(("127.0.0.1", api.server.port), timeout=3.0) as sock:
        sock.sendall(head)
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"  # the client waits for it before the body
        sock.sendall(body)
        reply = _read_response(sock, "POST")
    assert reply.status == 200 and json.loads(reply.body)["result"] == "ACCEPT"


def test_expect_continue_on_a_body_too_large_is_refused_without_100(api):
    reply = raw(api, "POST", "/goip/sendsms/", headers={"Expect": "100-continue", "Content-Length": "999999999"},
                timeout=3.0)
    assert (reply.interim, reply.status) == ([], 413)


# --- HEAD and safe methods ---------------------------------------------------------------------

SENDS = {
    "jindi": "/send?" + query(password="jpass", recipient="13800000001", text="head"),
    "somp": "/mt?" + query(un="admin", pw="s3cret", da="13800000001", sm="68656164"),
    "batch": "/msg/HttpBatchSendSM?" + query(account="admin", pswd="s3cret", mobile="13800000001", msg="head"),
    "batch-single": "/msg/HttpSendSM?" + query(account="admin", pswd="s3cret", mobile="13800000001", msg="head"),
    "httpinterface": HI + "?" + query(method="sendUtf8Msg", username="admin", password="s3cret",
                                      mobile="13800000001", content="head"),
}


@pytest.mark.parametrize("name", sorted(SENDS))
def test_head_on_a_sending_endpoint_is_405_and_sends_nothing(api, name):
    before = rows(api)
    reply = raw(api, "HEAD", SENDS[name])
    assert reply.status == 405 and set(reply.headers["allow"].split(", ")) == {"GET", "POST"}, reply
    assert rows(api) == before
    # The same request as a GET does send: the HEAD was refused, not malformed.
    assert raw(api, "GET", SENDS[name]).status == 200 and rows(api)[0] == before[0] + 1


def test_head_does_not_move_a_read_cursor(api):
    api.stack.sim[0].deliver("10086", "read me once")
    wait_until(lambda: api.stack.sql("SELECT COUNT(*) FROM smsserver_in WHERE type = 'I'")[0][0] == 1,
               what="the SMS to be stored")
    reads = {"/read?" + query(password="jpass"): b"read me once",
             "/mo?" + query(un="admin", pw="s3cret", rf="2", tf="3"): b"read%20me%20once",
             HI + "?" + query(method="queryMo", username="admin", password="s3cret"): b"read me once"}
    wait_until(lambda: api.stack.sql("SELECT COUNT(*) FROM journal")[0][0] > 0, what="the journal")
    for target, text in reads.items():
        assert raw(api, "HEAD", target).status == 405
        got = raw(api, "GET", target)
        assert got.status == 200 and text in got.body, (target, got.body[:300])


@pytest.mark.parametrize("target", ["/", "/status.json", "/metrics", "/healthz", "/sendstatus?msgid=1",
                                    "/msg/QueryBalance?account=admin&pswd=s3cret", "/sim/lines"])
def test_read_only_endpoints_answer_head(api, target):
    assert raw(api, "HEAD", target).status == 200


def test_goip_is_post_only(api):
    before = rows(api)
    for method in ("GET", "HEAD"):
        reply = raw(api, method, "/goip/sendsms/?auth=x&number=13800000001&content=x")
        assert reply.status == 405 and reply.headers["allow"] == "POST"
    assert rows(api) == before


# --- bad bytes ------------------------------------------------------------------------------------

def goip(extra: str, auth: str = GOIP_AUTH) -> bytes:
    return ("{" + auth + "," + extra + "}").encode("utf-8", "surrogatepass")


JSON_TYPE = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HUGE = "9" * 200_000

# (name, method, target, headers, body, the dialect's refusal: a check of (status, body))
CASES = [
    ("goip invalid utf-8", "POST", "/goip/sendsms/", JSON_TYPE, goip('"number":"13800000001","content":"\xff"')
     .replace(b"\xc3\xbf", b"\xff"), (400, b'"reason":"unknown"')),
    ("goip gbk body", "POST", "/goip/sendsms/", JSON_TYPE,
     ("{" + GOIP_AUTH + ',"number":"13800000001","content":"你好"}').encode("gbk"), (400, b'"REJECT"')),
    ("goip surrogate password", "POST", "/goip/sendsms/", JSON_TYPE,
     goip('"number":"13800000001","content":"x"', '"auth":{"username":"admin","password":"\\ud800"}'),
     (401, b'"REJECT"')),
    ("goip surrogate user querylines", "POST", "/goip/querylines/", JSON_TYPE,
     b'{"auth":{"username":"\\udfff","password":"s3cret"}}', (401, b'"REJECT"')),
    ("goip surrogate content", "POST", "/goip/sendsms/", JSON_TYPE, goip('"number":"13800000001","content":"a\\ud83d"'),
     (400, b"lone surrogate")),
    ("goip surrogate client_ref", "POST", "/goip/sendsms/", JSON_TYPE,
     goip('"number":"13800000001","content":"x","client_ref":"\\udc00"'), (400, b"client_ref")),
    ("goip NUL number", "POST", "/goip/sendsms/", JSON_TYPE, goip('"number":"1380000\\u00000","content":"x"'),
     (400, b"phone number")),
    ("goip huge number", "POST", "/goip/sendsms/", JSON_TYPE, goip(f'"number":"{HUGE}","content":"x"'),
     (400, b"phone number")),
    ("goip request id not utf-8", "POST", "/goip/sendsms/", {**JSON_TYPE, "X-Request-Id": b"r-\xff"},
     goip('"number":"13800000001","content":"x"'), (400, b"X-Request-Id")),
    ("goip surrogate task", "POST", "/goip/querysms/", JSON_TYPE, goip('"taskID":"\\ud800"'), (200, b"[]")),
    ("jindi text not utf-8", "GET", "/send?password=jpass&recipient=13800000001&text=%FF%FE", {}, None,
     (200, b"<error>-9000</error>")),
    ("jindi gbk text", "GET", "/send?password=jpass&recipient=13800000001&text=%C4%E3%BA%C3", {}, None,
     (200, b"<error>-9000</error>")),
    ("jindi request id not utf-8", "GET", "/send?password=jpass&recipient=13800000001&text=x",
     {"X-Request-Id": b"\xed\xa0\x80"}, None, (200, b"<error>-9000</error>")),
    ("jindi NUL recipient", "POST", "/send", FORM, b"password=jpass&recipient=138%0000001&text=x",
     (200, b"<failure_cause>BAD_NUMBER</failure_cause>")),
    ("jindi huge text", "POST", "/send", FORM, f"password=jpass&recipient=13800000001&text={'x' * 90_000}".encode(),
     (200, b"<error>-9000</error>")),
    ("jindi sendstatus surrogate", "GET", "/sendstatus?msgid=%ED%A0%80", {}, None, (200, b"<error>-9000</error>")),
    ("jindi read not utf-8", "GET", "/read?password=%FF&gateway=%FF", {}, None, (200, b"<error>-9003</error>")),
    ("somp sm not utf-8", "GET", "/mt?un=admin&pw=s3cret&da=13800000001&tf=3&sm=%FF", {}, None, (200, b"r=9025")),
    ("somp NUL number", "GET", "/mt?un=admin&pw=s3cret&da=%00&sm=41", {}, None, (200, b"r=9013")),
    ("somp user not utf-8", "GET", "/mo?un=%FF&pw=s3cret", {}, None, (200, b"r=9103")),
    ("batch msg neither utf-8 nor gbk", "GET", "/msg/HttpBatchSendSM?account=admin&pswd=s3cret&mobile=13800000001"
     "&msg=%FF%FF", {}, None, (200, b",106")),
    ("batch account not utf-8", "GET", "/msg/QueryBalance?account=%FF&pswd=s3cret", {}, None, (200, b",101")),
    ("httpinterface utf-8 claimed, gbk sent", "POST", HI + "?method=sendUtf8Msg", FORM,
     b"username=admin&password=s3cret&mobile=13800000001&content=%C4%E3%BA%C3%FF", (200, b"<status>105</status>")),
    ("status page bad query", "GET", "/?msg=%FF&line=%ED%A0%80", {}, None, (200, b"<html")),
    ("status.json basic auth not utf-8", "GET", "/status.json", {"Authorization": b"Basic \xff\xfe"}, None,
     (200, b'"box"')),
    ("status.json basic auth surrogate", "GET", "/status.json", {"Authorization": "Basic 7aCAOuGtgA=="}, None,
     (200, b'"box"')),
    ("metrics odd cookie", "GET", "/metrics", {"Cookie": b"sms_agent_session=\xff"}, None, (200, b"sms_agent_")),
    ("healthz odd header", "GET", "/healthz", {"X-Junk": b"\xc3\x28\x00"[:2]}, None, (200, b"ok")),
    ("login form not utf-8", "POST", "/status/login", FORM, b"username=%FF&password=%ED%A0%80&csrf=%00",
     (403, b"403")),
    ("sim sms surrogate text", "POST", "/sim/lines/sim1/sms", JSON_TYPE, b'{"from":"10086","text":"\\ud800"}',
     (400, b"lone surrogate")),
    ("sim state surrogate key", "POST", "/sim/lines/sim1/state", JSON_TYPE, b'{"sig\\udfffnal":1}',
     (400, b"unknown key")),
    ("sim body not utf-8", "POST", "/sim/lines/sim1/report", JSON_TYPE, b'{"reference":\xff}', (400, b"not JSON")),
]


@pytest.mark.parametrize("name, method, target, headers, body, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_bytes_get_the_dialects_refusal_and_one_log_line_without_traceback(api, caplog, name, method, target,
                                                                             headers, body, expected):
    caplog.set_level(logging.INFO)
    before = rows(api)
    caplog.clear()
    reply = raw(api, method, target, headers=headers, body=body)
    assert (reply.status, expected[1] in reply.body) == (expected[0], True), reply.body[:400]
    assert rows(api) == before
    from_api = [r for r in caplog.records if r.name.startswith("agent.api")]
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert len(from_api) <= 1 and all(r.levelno < logging.ERROR for r in from_api), [r.getMessage() for r in from_api]


def test_the_goip_reply_to_a_surrogate_it_cannot_refuse_is_json(api):
    # An unknown provider with a lone surrogate is a seed refusal (none_provider), answered in valid JSON.
    reply = raw(api, "POST", "/goip/sendsms/", headers=JSON_TYPE,
                body=goip('"number":"13800000001","content":"x","provider":"\\ud800"'))
    assert reply.status == 200 and json.loads(reply.body) == {"result": "REJECT", "reason": "none_provider"}
    assert re.fullmatch(rb"[\x20-\x7e]*", reply.body)


def test_multipart_forms_odd_or_unreadable(api):
    def form(parts: list[tuple[bytes, bytes]], boundary: bytes = b"b", extra: bytes = b"") -> bytes:
        return b"".join(b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"" + k + b"\"\r\n" + extra
                        + b"\r\n" + v + b"\r\n" for k, v in parts) + b"--" + boundary + b"--\r\n"

    fields = [(b"password", b"jpass"), (b"recipient", b"13800000001"), (b"text", "你好".encode())]
    multipart = {"Content-Type": "multipart/form-data; boundary=b"}
    before = rows(api)
    ok = raw(api, "POST", "/send", headers=multipart, body=form(fields))
    assert b"<error>0</error>" in ok.body  # a UTF-8 multipart form is read as such
    assert api.stack.sql("SELECT text FROM smsserver_out ORDER BY id DESC LIMIT 1") == [("你好",)]
    # Header bytes not in the form's charset, a form charset that is no text charset: unreadable, refused.
    for body, kind in ((form([(b"\xc4\xe3", b"x"), *fields]), multipart),
                       (form(fields), {"Content-Type": "multipart/form-data; boundary=b; charset=utf-16"})):
        for target, refusal in (("/send", b"<error>-9000</error>"), ("/status/login", b"403"),
                                ("/msg/HttpBatchSendSM", b",101"), ("/mt", b"r=9102")):
            reply = raw(api, "POST", target, headers=kind, body=body)
            assert reply.status < 500 and refusal in reply.body, (kind, target, reply.status, reply.body[:200])
    assert rows(api)[0] == before[0] + 1
    # A part's charset Python does not know: bottle either refuses the form or
    # reads the part as UTF-8 (0.13.5 does); never a 500, never garbled text.
    reply = raw(api, "POST", "/send", headers=multipart,
                body=form(fields, extra=b"Content-Type: text/plain; charset=nope\r\n"))
    assert reply.status < 500, reply.body[:200]
    if b"<error>0</error>" in reply.body:
        assert api.stack.sql("SELECT text FROM smsserver_out ORDER BY id DESC LIMIT 1") == [("你好",)]
    else:
        assert b"<error>-9000</error>" in reply.body and rows(api)[0] == before[0] + 1
