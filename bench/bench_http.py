"""Figures of the HTTP APIs of a real agent process on 4 simulated lines.

Each measurement starts a fresh ``sms-agent run`` (simulated modems at zero
send delay, so the router keeps sending while requests arrive) on a free
loopback port, waits for READY=1 on a NOTIFY_SOCKET this bench binds, and
drives it from a load generator in another process: 8 threads, each one
keep-alive ``http.client.HTTPConnection``.  On a small box the generator and
the agent share the CPU; the agent's own CPU time per request is printed too.

Printed:

* baseline: ``GET /sim/lines`` requests/s and p50/p99 latency (HTTP stack and
  routing only: no database write);
* the time to accept one GoIP ``POST /goip/sendsms/`` with 9,999 recipients
  (the reply comes once every row is committed durably);
* GoIP ``sendsms`` with one recipient: requests/s, p50/p99 latency;
* Jindi ``GET /send``, SOMP ``GET /mt``, ``GET /msg/HttpBatchSendSM`` and
  httpInterface ``sendUtf8Msg`` (form POST), one recipient each: the same.

    python bench/bench_http.py [--seconds 10] [--only sim,goip-bulk,goip,jindi,somp,batch,httpinterface]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"  # loopback only
USER, PASSWORD = "bench", "bench-secret"
CLIENTS = 8
BULK = 9_999
# What an accepting reply contains (Jindi answers HTTP 200 even when it refuses).
ACCEPTED = {"sim": b'"line"', "goip": b'"ACCEPT"', "jindi": b"<error>0</error>", "somp": b"id=",
            "batch": b",0\n", "httpinterface": b"<status>0</status>"}
TEXT = "Your verification code is 482913. It expires in 10 minutes."


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Agent:
    """``sms-agent run`` in a temporary directory: 4 simulated lines, zero send delay.
    ``config``: another config.ini text (``{port}`` is the HTTP port); ``popen``: more
    arguments of the agent's process."""

    CONFIG = (f"[agent]\nid = bench-http\nstate_dir = state\nlog_level = WARNING\n"
              f"[modems]\nhealth_interval = 3600\nstatus_report = no\n"
              f"[queue]\npoll_interval = 0.5\n"
              f"[simulator]\nlines = 4\nsend_delay = 0\nprofiles = generic\n"
              f"[auth]\nusername = {USER}\npassword = {PASSWORD}\n"
              f"[http]\nhost = {HOST}\nport = {{port}}\n")

    def __init__(self, config: str | None = None, **popen: Any) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-")
        root = Path(self.tmp.name)
        self.port = free_port()
        cfg = root / "config.ini"
        cfg.write_text((config or self.CONFIG).replace("{port}", str(self.port)))
        self.db = root / "state" / "sms-agent.db"
        # The agent says READY=1 through sd_notify once it serves and its lines have started.
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(root / "notify.sock"))
        self.notify.settimeout(60)
        self.log = open(root / "agent.log", "w+b")
        self.proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(cfg), "run"], cwd=root,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "NOTIFY_SOCKET": str(root / "notify.sock"),
                                          "PYTHONPATH": str(REPO)}, **popen)
        try:
            while b"READY=1" not in self.notify.recv(4096):
                pass
        except OSError:
            tail = self.tail()
            self.stop()
            raise SystemExit(f"agent never ready:\n{tail}") from None

    def tail(self, chars: int = 3000) -> str:
        """The end of the agent's output."""
        try:
            self.log.seek(0)
            return self.log.read().decode(errors="replace")[-chars:]
        except ValueError:  # closed
            return ""

    def count(self, status: str | None = None) -> int:
        """Rows of ``smsserver_out`` (with that status), read as an application would."""
        con = sqlite3.connect(self.db, timeout=10)
        try:
            where, params = ("WHERE status = ?", (status,)) if status else ("", ())
            return int(con.execute(f"SELECT count(*) FROM smsserver_out {where}", params).fetchone()[0])
        finally:
            con.close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()
        self.log.close()
        self.tmp.cleanup()


# --- the load generator (runs in its own process) ----------------------------------------------


def goip_body(numbers: list[str], text: str = TEXT) -> bytes:
    return json.dumps({"auth": {"username": USER, "password": PASSWORD}, "number": ",".join(numbers),
                       "content": text}).encode()


def make_request(kind: str, n: int) -> tuple[str, str, bytes | None, dict[str, str]]:
    """The n-th request of a kind: (method, path, body, headers); a new recipient each time."""
    number = f"+86139{n % 100_000_000:08d}"
    if kind == "sim":
        return "GET", "/sim/lines", None, {}
    if kind == "goip":
        return "POST", "/goip/sendsms/", goip_body([number]), {"Content-Type": "application/json"}
    if kind == "jindi":
        query = urllib.parse.urlencode({"password": PASSWORD, "recipient": number, "text": TEXT})
        return "GET", f"/send?{query}", None, {}
    if kind == "somp":
        query = urllib.parse.urlencode({"un": USER, "pw": PASSWORD, "da": number, "sm": TEXT.encode().hex(),
                                        "rd": 1})
        return "GET", f"/mt?{query}", None, {}
    if kind == "batch":
        query = urllib.parse.urlencode({"account": USER, "pswd": PASSWORD, "mobile": number, "msg": TEXT,
                                        "needstatus": "true"})
        return "GET", f"/msg/HttpBatchSendSM?{query}", None, {}
    if kind == "httpinterface":
        body = urllib.parse.urlencode({"username": USER, "password": PASSWORD, "mobile": number,
                                       "content": TEXT}).encode()
        return ("POST", "/service/httpService/httpInterface.do?method=sendUtf8Msg", body,
                {"Content-Type": "application/x-www-form-urlencoded"})
    raise ValueError(kind)


def load(port: int, kind: str, seconds: float, clients: int) -> dict[str, Any]:
    """Run ``clients`` keep-alive clients for ``seconds``; return latencies (s), errors, elapsed."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        mine, n = latencies[index], index
        start.wait()
        while time.monotonic() < deadline[0]:
            method, path, body, headers = make_request(kind, n)
            n += clients
            t0 = time.monotonic()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=60)
                continue
            mine.append(time.monotonic() - t0)
            if resp.status != 200 or ACCEPTED[kind] not in data:
                errors.append(f"refused: HTTP {resp.status}: {data[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + seconds
    t0 = time.monotonic()
    start.wait()
    for t in threads:
        t.join()
    return {"latencies": [x for xs in latencies for x in xs], "errors": errors, "elapsed": time.monotonic() - t0}


def submit_bulk(port: int, count: int) -> dict[str, Any]:
    """POST one GoIP sendsms with ``count`` recipients; return the time to the reply and the reply."""
    body = goip_body([f"+86139{n:08d}" for n in range(count)])
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    t0 = time.monotonic()
    conn.request("POST", "/goip/sendsms/", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    elapsed = time.monotonic() - t0
    conn.close()
    return {"elapsed": elapsed, "status": resp.status, "reply": data[:300].decode(errors="replace"),
            "bytes": len(body)}


# --- the measurements ----------------------------------------------------------------------


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def rate(pool: ProcessPoolExecutor, kind: str, label: str, seconds: float) -> None:
    agent = Agent()
    try:
        cpu0 = cpu_seconds(agent.proc.pid)
        result = pool.submit(load, agent.port, kind, seconds, CLIENTS).result()
        cpu = cpu_seconds(agent.proc.pid) - cpu0
        lat, errors = result["latencies"], result["errors"]
        if not lat:
            raise SystemExit(f"{label}: no request answered; {errors[:3]}")
        ok = len(lat) - sum(e.startswith("refused") for e in errors)
        print(f"{label}: {len(lat) / result['elapsed']:.0f} requests/s, p50 {percentile(lat, 50) * 1000:.1f} ms, "
              f"p99 {percentile(lat, 99) * 1000:.1f} ms ({len(lat)} requests, {ok} ok, {CLIENTS} clients, "
              f"{result['elapsed']:.1f} s; agent CPU {cpu / len(lat) * 1000:.2f} ms/request)")
        if kind != "sim":
            print(f"  meanwhile the 4 lines sent {agent.count('S'):,} of them")
        if errors:
            print(f"  {len(errors)} error(s), first: {errors[0]}")
    finally:
        agent.stop()


def bulk(pool: ProcessPoolExecutor) -> None:
    agent = Agent()
    try:
        result = pool.submit(submit_bulk, agent.port, BULK).result()
        if result["status"] != 200 or '"ACCEPT"' not in result["reply"]:
            raise SystemExit(f"GoIP bulk: HTTP {result['status']}: {result['reply']}")
        print(f"GoIP sendsms, {BULK:,} recipients ({result['bytes'] / 1024:.0f} KiB): accepted in "
              f"{result['elapsed'] * 1000:.0f} ms; {agent.count():,} rows in the queue at the reply")
    finally:
        agent.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each rate run (default 10)")
    parser.add_argument("--only", default="sim,goip-bulk,goip,jindi,somp,batch,httpinterface",
                        help="comma-separated measurements")
    args = parser.parse_args()
    wanted = args.only.split(",")
    # spawn: the generator starts clean, not as a fork of a process holding sockets and threads.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        if "sim" in wanted:
            rate(pool, "sim", "baseline GET /sim/lines", args.seconds / 2)
        if "goip-bulk" in wanted:
            bulk(pool)
        if "goip" in wanted:
            rate(pool, "goip", "GoIP sendsms, 1 recipient", args.seconds)
        if "jindi" in wanted:
            rate(pool, "jindi", "Jindi GET /send", args.seconds)
        if "somp" in wanted:
            rate(pool, "somp", "SOMP GET /mt", args.seconds)
        if "batch" in wanted:
            rate(pool, "batch", "GET /msg/HttpBatchSendSM, 1 number", args.seconds)
        if "httpinterface" in wanted:
            rate(pool, "httpinterface", "httpInterface.do sendUtf8Msg", args.seconds)


if __name__ == "__main__":
    main()
