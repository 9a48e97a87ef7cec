"""The whole agent as a process: HTTP dialects, simulator controls and webhooks, end to end."""

from __future__ import annotations

import http.server
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path


class Receiver:
    """A local webhook receiver (127.0.0.1, a free port) that records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.cond:
                    outer.requests.append((self.command, self.path, body))
                    outer.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _record

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, predicate, timeout: float = 10.0) -> list[tuple[str, str, bytes]]:
        with self.cond:
            assert self.cond.wait_for(lambda: predicate(self.requests), timeout), self.requests
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _post(url: str, obj: object) -> object:
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _get(url: str, **query: str) -> bytes:
    with urllib.request.urlopen(url + "?" + urllib.parse.urlencode(query), timeout=10) as resp:
        return resp.read()


def test_agent_process_speaks_both_dialects_and_pushes(tmp_path):
    hooks = Receiver()
    cfg = tmp_path / "config.ini"
    cfg.write_text(
        "[agent]\nid = e2e\nstate_dir = state\n[http]\nport = 0\n"
        "[auth]\nusername = admin\npassword = pw\n"
        f"[goip]\nresult_url = {hooks.url}/goip/result\nmo_url = {hooks.url}/goip/sms\n"
        f"[jindi]\npush_url = {hooks.url}/jindi?gw=%gatewayId%&text=%text%&from=%originator%\n"
        "[push]\nbackoff = 0.1\n"
        "[simulator]\nlines = 2\nsend_delay = 0\nprofiles = simcom, huawei\n"
    )
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(cfg), "run"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    found = threading.Event()
    base: list[str] = []

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            m = re.search(r"HTTP APIs on (http://127\.0\.0\.1:\d+)", line)
            if m:
                base.append(m.group(1))
            if base and "running (" in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    auth = {"username": "admin", "password": "pw"}
    try:
        assert found.wait(20), "".join(lines)
        url = base[0]
        lines_reply = _post(f"{url}/goip/querylines", {"auth": auth})
        assert [(ln["goip_line"], ln["online"]) for ln in lines_reply] == [("sim1", "1"), ("sim2", "1")]

        # GoIP send -> the result and the receipt are pushed to result_url.
        accepted = _post(f"{url}/goip/sendsms/", {"auth": auth, "number": "13800138000", "content": "hi",
                                                  "goip_line": "sim2"})
        assert accepted["result"] == "ACCEPT"
        task = accepted["taskID"]
        pushed = hooks.wait(lambda rs: sum(p == "/goip/result" for _, p, _ in rs) >= 2)
        results = [json.loads(b) for _, p, b in pushed if p == "/goip/result"]
        assert results[0] == {"taskID": f"{task}.13800138000", "goip_line": "sim2", "send": "succeeded"}
        assert results[1]["receipt"] == "1"
        sent = json.loads(_get(f"{url}/sim/lines/sim2/sent"))
        assert [(s["recipient"], s["text"]) for s in sent] == [("13800138000", "hi")]

        # Jindi send of a row, queried by its id; the same row seen through SQL-backed GoIP querysms.
        doc = ET.fromstring(_get(f"{url}/send", password="pw", recipient="13900139000", text="金笛"))
        msg_id = doc.findtext("msg_id")
        deadline = time.monotonic() + 10
        while ET.fromstring(_get(f"{url}/sendstatus", msgid=msg_id)).text != "S":
            assert time.monotonic() < deadline
            threading.Event().wait(0.05)

        # The simulated network delivers an SMS: stored, pushed to both dialects' receivers, readable once.
        req = urllib.request.Request(f"{url}/sim/lines/sim1/sms", method="POST",
                                     data=json.dumps({"from": "+8613700000001", "text": "余额 12.50"}).encode())
        urllib.request.urlopen(req, timeout=10).read()
        pushed = hooks.wait(lambda rs: any(p == "/goip/sms" for _, p, _ in rs)
                            and any(p.startswith("/jindi") for _, p, _ in rs))
        mo = next(json.loads(b) for _, p, b in pushed if p == "/goip/sms")
        assert (mo["goip_line"], mo["from_number"], mo["content"]) == ("sim1", "+8613700000001", "余额 12.50")
        jindi_push = next(p for m, p, _ in pushed if p.startswith("/jindi"))
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(jindi_push).query)
        assert (q["gw"], q["text"], q["from"]) == (["modem1"], ["余额 12.50"], ["+8613700000001"])
        first = ET.fromstring(_get(f"{url}/read", password="pw"))
        assert [m.findtext("text") for m in first.iter("message")] == ["余额 12.50"]
        assert list(ET.fromstring(_get(f"{url}/read", password="pw")).iter("message")) == []

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        hooks.close()
    assert "Traceback" not in "".join(lines)
    assert Path(tmp_path / "state" / "sms-agent.db").exists()
