"""The requests of ``fuzz_http.py``: valid ones as real clients send them (the
shapes of ``shared/testdata/api_clients.md`` and the tests), per endpoint, and
the mutations that spoil them.  Pure: no socket, no agent; a ``random.Random``
drives every choice, so a seed replays a run."""

from __future__ import annotations

import base64
import json
import random
import urllib.parse
from dataclasses import dataclass, field, replace
from typing import Any, Callable

HOST = "127.0.0.1"  # loopback only
USER, PASSWORD, JINDI_PASSWORD, ADMIN_PASSWORD, VERY_CODE = "admin", "s3cret", "jpass", "adminpw", "vc123"
CN = "你好，世界 hello"
GBK_CN = CN.encode("gbk")


@dataclass
class Request:
    method: str
    path: str
    query: bytes = b""
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    kind: str = "none"  # how the body/query is built: 'json', 'form', 'query', 'none'
    chunked: bool = False

    def serialize(self) -> bytes:
        target = self.path.encode("latin-1") + (b"?" + self.query if self.query else b"")
        head = [self.method.encode("latin-1") + b" " + target + b" HTTP/1.1", b"Host: " + HOST.encode()]
        head += [name + b": " + value for name, value in self.headers]
        body = self.body
        if self.chunked:
            head.append(b"Transfer-Encoding: chunked")
            body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in _chunks(body)) + b"0\r\n\r\n"
        elif body or self.method in ("POST", "PUT", "PATCH"):
            head.append(b"Content-Length: %d" % len(body))
        return b"\r\n".join(head) + b"\r\n\r\n" + body


def _chunks(data: bytes, size: int = 7) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


# --- seeds: valid requests, as real clients send them ----------------------------------------

def form(fields: dict[str, str | bytes]) -> bytes:
    return "&".join(f"{urllib.parse.quote(k)}={urllib.parse.quote(v, safe='')}" for k, v in fields.items()).encode()


JSON_TYPE = (b"Content-Type", b"application/json; charset=UTF-8")
FORM_TYPE = (b"Content-Type", b"application/x-www-form-urlencoded")
AUTH = {"username": USER, "password": PASSWORD}


def _json(path: str, obj: Any, *headers: tuple[bytes, bytes]) -> Request:
    return Request("POST", path, body=json.dumps(obj, ensure_ascii=False).encode(), headers=[JSON_TYPE, *headers],
                   kind="json")


def _get(path: str, fields: dict[str, str | bytes]) -> Request:
    return Request("GET", path, query=form(fields), kind="query")


def _post(path: str, fields: dict[str, str | bytes], query: dict[str, str] | None = None) -> Request:
    return Request("POST", path, query=form(query) if query else b"", body=form(fields), headers=[FORM_TYPE],
                   kind="form")


def seeds(session: dict[str, str]) -> dict[str, list[Request]]:
    """Valid requests per endpoint name, in the order they are fuzzed.  ``session``:
    cookies and CSRF tokens of the status page (the actions come before the login
    form's fuzz, whose many logins would push the session out)."""
    hexgbk = ("【签名】" + CN).encode("gbk").hex()
    somp = {"un": USER, "pw": PASSWORD, "da": "13800138000", "sm": hexgbk, "dc": "15", "rd": "1"}
    batch = {"account": USER, "pswd": PASSWORD, "mobile": "13800138000,13900139000", "msg": CN, "needstatus": "true"}
    hi = {"username": USER, "password": PASSWORD, "veryCode": VERY_CODE, "mobile": "13800138000,13900139000",
          "content": CN, "msgtype": "1", "code": "utf-8"}
    hi_q = {"username": USER, "password": PASSWORD, "veryCode": VERY_CODE}
    pre = [(b"Cookie", f"sms_agent_pre={session['pre']}".encode())]
    logged = [(b"Cookie", f"sms_agent_session={session['sid']}".encode())]
    basic = (b"Authorization", b"Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()))
    return {
        "goip/sendsms": [
            _json("/goip/sendsms/", {"auth": AUTH, "number": "13800138000,13900139000", "content": CN}),
            _json("/goip/sendsms/", {"auth": AUTH, "number": "+8613800138000", "content": "hi", "goip_line": "sim1"}),
            _json("/goip/sendsms", {"auth": AUTH, "number": "13800138000", "content": "x", "client_ref": "r1"}),
            _json("/goip/sendsms/", {"auth": AUTH, "number": "13800138000", "content": "y"}, (b"X-Request-Id", b"q1")),
        ],
        "goip/querysms": [_json("/goip/querysms/", {"auth": AUTH, "taskID": "1"}),
                          _json("/goip/querysms", {"auth": AUTH, "taskID": "1.13800138000"})],
        "goip/querylines": [_json("/goip/querylines/", {"auth": AUTH})],
        "jindi/send": [
            _get("/send", {"password": JINDI_PASSWORD, "recipient": "13800138000", "text": "hello", "gateway": "modem1"}),
            _post("/send", {"password": JINDI_PASSWORD, "recipient": "13800138000,13900139000", "text": CN,
                            "encoding": "U", "priority": "1", "from": "10086", "client_ref": "j1"}),
        ],
        "jindi/sendstatus": [_get("/sendstatus", {"msgid": "1"}), _post("/sendstatus", {"msgid": "2"})],
        "jindi/read": [_get("/read", {"password": JINDI_PASSWORD, "gateway": "modem1"}),
                       _post("/read", {"password": JINDI_PASSWORD})],
        "somp/mt": [
            _get("/mt", somp),
            _get("/mt", {**somp, "sm": CN, "tf": "3", "rf": "2"}),
            _post("/mt", {**somp, "rf": "1"}),
            _get("/mt", {"un": USER, "pw": PASSWORD, "sm": "13800000001#abc|13800000002##def", "tf": "3"}),
        ],
        "somp/mo": [_get("/mo", {"un": USER, "pw": PASSWORD, "rf": "2", "fs": "10"}),
                    _post("/mo", {"un": USER, "pw": PASSWORD, "tf": "3"})],
        "batch/HttpBatchSendSM": [_get("/msg/HttpBatchSendSM", batch), _post("/msg/HttpBatchSendSM", batch),
                                  Request("GET", "/msg/HttpBatchSendSM", kind="query",
                                          query=form({**batch, "account": USER}).replace(
                                              urllib.parse.quote(CN).encode(),
                                              urllib.parse.quote_from_bytes(GBK_CN).encode()))],
        "batch/HttpSendSM": [_get("/msg/HttpSendSM", {**batch, "mobile": "13800138000"}),
                             _post("/msg/HttpSendSM", batch)],
        "batch/QueryBalance": [_get("/msg/QueryBalance", {"account": USER, "pswd": PASSWORD}),
                               _post("/msg/QueryBalance", {"account": USER, "pswd": PASSWORD})],
        "httpInterface/send": [
            _post("/service/httpService/httpInterface.do", hi, {"method": "sendMsg"}),
            _get("/service/httpService/httpInterface.do", {"method": "sendUtf8Msg", **hi}),
            Request("GET", "/service/httpService/httpInterface.do", kind="query",
                    query=form({"method": "sendGbkMsg", **hi_q, "mobile": "13800138000"}) + b"&content="
                    + urllib.parse.quote_from_bytes(GBK_CN).encode()),
            _post("/service/httpService/httpInterface.do", {**hi, "msgtype": "2", "tempid": "t1",
                                                            "content": "@1@=1234,@2@=5"}, {"method": "sendMsg"}),
        ],
        "httpInterface/getAmount": [_get("/service/httpService/httpInterface.do", {"method": "getAmount", **hi_q}),
                                    _post("/service/httpService/httpInterface.do", hi_q, {"method": "getAmount"})],
        "httpInterface/query": [_get("/service/httpService/httpInterface.do", {"method": "queryReport", **hi_q}),
                                _post("/service/httpService/httpInterface.do", hi_q, {"method": "queryMo"})],
        "status/page": [Request("GET", "/"), _get("/", {"msg": "enabled", "line": "sim1"})],
        "status/json": [Request("GET", "/status.json"), Request("GET", "/status.json", headers=[basic])],
        "status/metrics": [Request("GET", "/metrics")],
        "status/healthz": [Request("GET", "/healthz")],
        "status/logout+action": [
            Request("POST", "/status/lines/sim1/enable", kind="form", headers=[FORM_TYPE, *logged],
                    body=form({"csrf": session["csrf"]})),
            Request("POST", "/status/lines/sim2/reset-daily", kind="form", headers=[FORM_TYPE, *logged],
                    body=form({"csrf": session["csrf"]})),
            Request("POST", "/status/logout", kind="form", headers=[FORM_TYPE, (b"Cookie", b"sms_agent_session=x")],
                    body=form({"csrf": "x"})),
        ],
        "status/login": [Request("POST", "/status/login", kind="form", headers=[FORM_TYPE, *pre], body=form(
            {"username": "admin", "password": ADMIN_PASSWORD, "csrf": session["pre_csrf"]}))],
        "sim/lines": [Request("GET", "/sim/lines"), Request("GET", "/sim/lines/sim1"),
                      Request("GET", "/sim/lines/sim2/sent")],
        "sim/sms": [_json("/sim/lines/sim1/sms", {"from": "10086", "text": CN}),
                    _json("/sim/lines/sim2/sms", {"from": "+8613800000001", "text": "hi", "encoding": "ucs2"})],
        "sim/state+report": [_json("/sim/lines/sim2/state", {"signal": 20, "operator": "CMCC"}),
                             _json("/sim/lines/sim1/report", {"reference": 3, "status": 0}),
                             _json("/sim/lines/sim1/fail", {"cms": 38, "count": 1})],
    }


# --- mutations -------------------------------------------------------------------------------

BAD_BYTES = [b"\x00", b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe4\xbd", b"\xd6\xd0\xce\xc4", b"\x80",
             b"%", b"%zz", b"%ff", b"%00", b"%ED%A0%80", b"%C3%28", b"&", b"=", b"+", b'"', b"\\", b"\\ud800",
             b"\\udfff", b"\\u0000", b"{", b"}", b"[", b"]", b",", b":", b"\r\n", b"\t", b";", b"#", b"|", b"\x1b"]
SURROGATES = ["\\ud800", "\\udfff", "\\udc00", "\\ud83d", "\\ud800\\ud800", "a\\udcffb"]
METHODS = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "FOO"]
CONTENT_TYPES = [b"", b"application/json", b"application/x-www-form-urlencoded", b"multipart/form-data",
                 b"multipart/form-data; boundary=xyz", b"multipart/form-data; boundary=", b"text/plain; charset=gbk",
                 b"application/x-www-form-urlencoded; charset=gbk", b"application/json; charset=utf-16",
                 b"\xff/\xfe", b"text/xml", b"application/x-www-form-urlencoded; charset=\x00"]


def huge(rng: random.Random) -> bytes:
    return rng.choice([b"9", b"A", "中".encode(), b"%41", b"\xff"]) * rng.choice([300, 5_000, 100_000])


def bad_value(rng: random.Random) -> bytes:
    """A form value's bytes, already percent-encoded (or deliberately not)."""
    choice = rng.randrange(12)
    if choice == 0:
        return b""
    if choice == 1:
        return huge(rng)
    if choice == 2:
        return b"%00" + rng.choice([b"", b"abc", b"%00"])
    if choice == 3:
        return urllib.parse.quote_from_bytes(GBK_CN).encode()  # GBK where UTF-8 is expected
    if choice == 4:
        return urllib.parse.quote_from_bytes(CN.encode()).encode()  # UTF-8 where GBK is expected
    if choice == 5:
        return b"%ED%A0%80"  # a UTF-8-encoded surrogate
    if choice == 6:
        return b"%FF%FE" + rng.choice([b"", b"%00a%00"])
    if choice == 7:
        return GBK_CN  # raw bytes, not encoded at all
    if choice == 8:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12)))
    if choice == 9:
        return rng.choice(SURROGATES).encode()
    if choice == 10:
        return rng.choice([b"-1", b"0", b"99999999999999999999999", b"1e9", b"NaN", b" ", b"*", b"+", b"%2B"])
    return rng.choice(BAD_BYTES)


def mutate_pairs(data: bytes, rng: random.Random) -> bytes:
    """A form or query string with one field's value replaced, dropped or doubled, or a junk field added."""
    pairs = [p for p in data.split(b"&") if p] or [b"x=1"]
    i = rng.randrange(len(pairs))
    key = pairs[i].partition(b"=")[0]
    op = rng.randrange(6)
    if op == 0:
        del pairs[i]
    elif op == 1:
        pairs.insert(i, key + b"=" + bad_value(rng))
    elif op == 2:
        pairs.append(bad_value(rng) + b"=" + bad_value(rng))
    elif op == 3:
        pairs[i] = key
    else:
        pairs[i] = key + b"=" + bad_value(rng)
    return b"&".join(pairs)


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """Bytes flipped, inserted, deleted or cut."""
    if not data:
        return rng.choice(BAD_BYTES) if rng.random() < 0.5 else bytes(rng.randrange(256) for _ in range(8))
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op, pos = rng.randrange(4), rng.randrange(len(out) + 1)
        if op == 0 and pos < len(out):
            out[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[pos:pos] = rng.choice(BAD_BYTES)
        elif op == 2:
            del out[pos:pos + rng.randint(1, 8)]
        else:
            del out[pos:]
    return bytes(out)


def mutate_json(data: bytes, rng: random.Random) -> bytes:
    """A JSON body with a value replaced by a lone surrogate escape, a NUL, a huge
    string, another type; or a key dropped; or the auth object broken."""
    try:
        obj = json.loads(data)
    except ValueError:
        return mutate_bytes(data, rng)
    if not isinstance(obj, dict) or not obj:
        return mutate_bytes(data, rng)
    targets: list[tuple[dict[str, Any], str]] = [(obj, k) for k in obj]
    if isinstance(obj.get("auth"), dict):
        targets += [(obj["auth"], k) for k in obj["auth"]]
    parent, key = rng.choice(targets)
    marker = "\x01SURROGATE\x01"
    op = rng.randrange(9)
    if op == 0:
        del parent[key]
    elif op == 1:
        parent[key] = marker
    elif op == 2:
        parent[key] = str(parent[key]) + "\x00"
    elif op == 3:
        parent[key] = "x" * rng.choice([300, 100_000])
    elif op == 4:
        parent[key] = rng.choice([None, 0, -1, 1.5, True, [], {}, [1], {"a": "b"}, 10 ** 30])
    elif op == 5:
        parent[key] = ""
    elif op == 6:
        parent[key] = str(parent[key]) + marker
    elif op == 7:
        return json.dumps(obj, ensure_ascii=False).encode("gbk", "replace")  # GBK where UTF-8 is expected
    else:
        return json.dumps(obj, ensure_ascii=False).encode("utf-16", "surrogatepass")
    text = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
    # surrogatepass: a lone surrogate decoded by an earlier round goes out as the invalid UTF-8 it makes
    return text.replace(json.dumps(marker)[1:-1], rng.choice(SURROGATES)).encode("utf-8", "surrogatepass")


def multipart(req: Request, rng: random.Random) -> None:
    """The request's form fields (body, else query) as a multipart/form-data body, as PHP's
    curl posts an array: now and then with a wrong boundary, a part's charset, a file part,
    raw bytes for values, or cut short."""
    pairs = [p.partition(b"=") for p in (req.body or req.query).split(b"&") if p]
    boundary = rng.choice([b"xYz", b"----WebKitFormBoundary7MA4YWxkTrZu0gW", b'"q"', b"\xff"])
    parts = []
    for key, _, value in pairs:
        raw = urllib.parse.unquote_to_bytes(value) if rng.random() < 0.8 else bad_value(rng)
        head = b'Content-Disposition: form-data; name="' + urllib.parse.unquote_to_bytes(key) + b'"'
        if rng.random() < 0.1:
            head += b'; filename="a.txt"'
        if rng.random() < 0.1:
            head += b"\r\nContent-Type: text/plain; charset=" + rng.choice([b"gbk", b"utf-16", b"nope"])
        parts.append(b"--" + boundary.strip(b'"') + b"\r\n" + head + b"\r\n\r\n" + raw + b"\r\n")
    body = b"".join(parts) + b"--" + boundary.strip(b'"') + b"--\r\n"
    if rng.random() < 0.2:
        body = body[:rng.randrange(len(body) + 1)]
    if rng.random() < 0.1:
        boundary = b"other"
    req.body, req.method, req.kind = body, "POST", "multipart"
    req.headers = [h for h in req.headers if h[0].lower() != b"content-type"]
    req.headers.append((b"Content-Type", b"multipart/form-data; boundary=" + boundary))


def mutate(seed: Request, rng: random.Random, *, expect_bodiless: float) -> Request:
    req = replace(seed, headers=list(seed.headers))
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        op = rng.randrange(100)
        if op < 30:
            if req.kind == "json":
                req.body = mutate_json(req.body, rng)
            elif req.kind == "form":
                req.body = mutate_pairs(req.body, rng)
            else:
                req.query = mutate_pairs(req.query, rng)
        elif op < 45:
            if req.body and rng.random() < 0.7:
                req.body = mutate_bytes(req.body, rng)
            else:
                req.query = mutate_bytes(req.query, rng)
        elif op < 55:
            req.method = rng.choice(METHODS)
        elif op < 63:
            req.headers = [h for h in req.headers if h[0].lower() != b"content-type"]
            kind = rng.choice(CONTENT_TYPES)
            if kind:
                req.headers.append((b"Content-Type", kind))
        elif op < 68:  # query fields moved into a form body, or a body's into the query
            if req.body and not req.query:
                req.query, req.body = req.body, b""
                req.method = rng.choice(["GET", "HEAD", "POST"])
            else:
                req.body, req.query = req.query + (b"&" + req.body if req.body else b""), b""
                req.method = "POST"
                req.headers.append(FORM_TYPE)
        elif op < 76:
            name = rng.choice([b"X-Request-Id", b"Authorization", b"Cookie", b"Accept-Charset", b"X-Forwarded-For"])
            value = rng.choice([b"", b"Basic ", b"Basic !!!", b"Basic " + base64.b64encode(b"\xff\xfe:\xed\xa0\x80"),
                                b"a" * 5000, GBK_CN, b"\xed\xa0\x80", b"sms_agent_session=\xff; sms_agent_pre=\x80",
                                b"r1", b"q1", b"j1", b"x\x7fy"])
            req.headers.append((name, value))
        elif op < 80:
            req.chunked = bool(req.body)
        elif op < 84:
            if req.body:
                req.headers.append((b"Expect", b"100-continue"))
        elif op < 86:
            req.body = huge(rng) * rng.choice([1, 3])
        elif op < 88:
            req.path = req.path + rng.choice(["/", "//", "%00", "%ff", "/../x", "x", ";a=b"])
        elif op < 92:
            req.body = b""
        elif op < 94:
            req.query = b""
        elif op < 97:
            multipart(req, rng)
        else:
            req.headers.append((b"X-Junk", bytes(rng.randrange(32, 256) for _ in range(rng.randrange(1, 30)))))
    if not req.body and rng.random() < expect_bodiless:
        req.headers.append((b"Expect", b"100-continue"))
    return req


def raw_flipper(rng: random.Random) -> Callable[[bytes], bytes]:
    """Flips a byte of the request line (never a length: a longer Content-Length only makes the server wait)."""
    def flip(data: bytes) -> bytes:
        end = data.index(b"\r\n")
        out = bytearray(data)
        out[rng.randrange(end)] = rng.choice([0, 0x20, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        return bytes(out)
    return flip
