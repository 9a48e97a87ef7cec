"""Request targets with raw (not percent-encoded) UTF-8 or GBK bytes, as careless clients send them."""

from __future__ import annotations

import socket

from .conftest import CONFIG

HI = "/service/httpService/httpInterface.do"


def raw_get(api, target: bytes) -> tuple[int, bytes]:
    host, port = api.server.host, api.server.port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def test_raw_utf8_and_gbk_bytes_in_the_query_are_read_as_percent_encoded(make_api):
    api = make_api(config_text=CONFIG + "[httpinterface]\nusername = u\npassword = p\n")
    status, body = raw_get(api, b"/mt?un=admin&pw=s3cret&da=13800138000&tf=3&sm=" + "您好".encode())
    assert status == 200 and body.startswith(b"id="), body
    task = int(body[3:])
    assert [r["text"] for r in api.core.messages_by_task(task)] == ["您好"]

    status, body = raw_get(api, HI.encode() + b"?method=sendGbkMsg&username=u&password=p&mobile=13800138001"
                           b"&content=" + "余额不足".encode("gbk"))
    assert status == 200 and b"<status>0</status>" in body, body
    task = int(body.split(b"<msgid>")[1].split(b"<")[0])
    assert [r["text"] for r in api.core.messages_by_task(task)] == ["余额不足"]

    status, body = raw_get(api, "/no/such/页面".encode())
    assert status == 404
