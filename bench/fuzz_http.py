"""Mutation fuzzing of every HTTP endpoint of the agent, on the simulated bank.

Starts the whole agent in this process (:class:`agent.app.App`: 2 simulated
modems, the queue, the router, the HTTP server on 127.0.0.1 and a free port;
loopback only, never another address), then sends, endpoint by endpoint,
``--count`` mutated requests built from real valid ones (the client shapes of
``shared/testdata/api_clients.md`` and the tests): bytes flipped, inserted or
cut in the query string or the body, fields emptied, dropped, doubled or made
huge, NULs, invalid UTF-8, GBK where UTF-8 is expected and back,
``\\udXXX`` JSON escapes (lone surrogates), UTF-8-encoded surrogates, other
methods (HEAD, PUT, DELETE, OPTIONS...), other or broken content types,
chunked bodies, odd ``X-Request-Id`` / ``Authorization`` / ``Cookie`` /
``Expect`` headers, and now and then a byte flipped in the request line.

The valid requests and their mutations are in ``fuzz_requests.py``.
Requests go one at a time over a keep-alive raw socket (so that bytes no HTTP
library would send can be sent), and the rows of the queue are counted after
each one.  Printed per endpoint: requests, the status-code histogram, 5xx,
requests with no answer within ``--timeout``, tracebacks logged while the
endpoint ran (any thread: a log record with exception info, or a traceback
in its text), rows created by requests the endpoint did not accept (new
``smsserver_out`` or ``tasks`` rows after a reply that is not the dialect's
acceptance, e.g. a HEAD whose reply body is thrown away), and at the end
``PRAGMA integrity_check`` of the database.  Exit status 1 when any 5xx,
traceback, unanswered request or row by a rejected request was seen.

    python bench/fuzz_http.py [--count 10000] [--seed 1] [--only goip,jindi...] [--json] [--verbose]
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import random
import re
import socket
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from fuzz_requests import (ADMIN_PASSWORD, FORM_TYPE, HOST, JINDI_PASSWORD, PASSWORD, USER, VERY_CODE, Request,
                           form, mutate, raw_flipper, seeds)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CONFIG = f"""
[agent]
id = fuzz
state_dir = state
[modems]
health_interval = 3600
[http]
host = {HOST}
port = 0
threads = 4
max_body = 1048576
timeout = 30
[auth]
username = {USER}
password = {PASSWORD}
very_code = {VERY_CODE}
[jindi]
password = {JINDI_PASSWORD}
[templates]
t1 = 您的验证码是@1@，@2@分钟内有效
[status]
admin_password = {ADMIN_PASSWORD}
refresh = 0
[simulator]
lines = 2
send_delay = 0
profiles = generic
"""


# --- the client --------------------------------------------------------------------------------

class Client:
    """One keep-alive connection, reopened when the server closes it."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None

    def send(self, req: Request, raw_flip: Callable[[bytes], bytes] | None = None) -> tuple[int | None, bytes,
                                                                                              dict[str, str]]:
        """(status, body, headers); status None when no answer came within the timeout."""
        data = req.serialize()
        if raw_flip is not None:
            data = raw_flip(data)
        for attempt in range(2):
            if self.sock is None:
                self.sock = socket.create_connection((HOST, self.port), timeout=self.timeout)
            try:
                self.sock.sendall(data)
                resp = http.client.HTTPResponse(self.sock, method=req.method)
                resp.begin()
                body = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, body, {k.lower(): v for k, v in resp.getheaders()}
            except (TimeoutError, socket.timeout):
                self.close()
                return None, b"", {}
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()  # the server closed a kept-alive connection: once more on a new one
                if attempt:
                    return None, b"", {}
        return None, b"", {}

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


# --- what counts --------------------------------------------------------------------------------

class TracebackCounter(logging.Handler):
    """Counts log records that carry a traceback; keeps one sample per kind."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self.samples: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info or "Traceback (most recent call last)" in text:
            self.count += 1
            kind = record.exc_info[1].__class__.__name__ if record.exc_info and record.exc_info[1] else "traceback"
            self.samples.setdefault(f"{record.name}: {kind}", (self.format(record) if record.exc_info else text)[-1500:])


ACCEPTED: dict[str, Callable[[int | None, bytes], bool]] = {
    "goip/sendsms": lambda s, b: s == 200 and b'"ACCEPT"' in b,
    "jindi/send": lambda s, b: b"<error>0</error>" in b,
    "somp/mt": lambda s, b: b.startswith(b"id=") or b"<id>" in b or b'"success": true' in b,
    "batch/HttpBatchSendSM": lambda s, b: re.match(rb"\d{14},0(\n|$)", b) is not None,
    "batch/HttpSendSM": lambda s, b: re.match(rb"\d{14},0(\n|$)", b) is not None,
    "httpInterface/send": lambda s, b: b"<status>0</status>" in b or b"<returnstatus>" in b.lower() and b"0<" in b,
}


def rows(db: sqlite3.Connection) -> tuple[int, int]:
    out = db.execute("SELECT (SELECT COALESCE(MAX(id), 0) FROM smsserver_out), (SELECT COALESCE(MAX(id), 0)"
                     " FROM tasks)").fetchone()
    return int(out[0]), int(out[1])


@dataclass
class Figures:
    requests: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    no_answer: int = 0
    tracebacks: int = 0
    rejected_rows: int = 0
    seconds: float = 0.0


def session_of(client: Client) -> dict[str, str]:
    """Cookies and CSRF tokens of the status page: a pre-login pair, and a logged-in one."""
    status, body, headers = client.send(Request("GET", "/"))
    pre = re.search(r"sms_agent_pre=([^;]+)", headers.get("set-cookie", "")).group(1)  # type: ignore[union-attr]
    pre_csrf = re.search(rb'name="csrf" value="([^"]+)"', body).group(1).decode()  # type: ignore[union-attr]
    login = Request("POST", "/status/login", kind="form", headers=[FORM_TYPE, (b"Cookie", f"sms_agent_pre={pre}".encode())],
                    body=form({"username": "admin", "password": ADMIN_PASSWORD, "csrf": pre_csrf}))
    status, body, headers = client.send(login)
    sid = re.search(r"sms_agent_session=([^;]+)", headers.get("set-cookie", "")).group(1)  # type: ignore[union-attr]
    status, body, _ = client.send(Request("GET", "/", headers=[(b"Cookie", f"sms_agent_session={sid}".encode())]))
    csrf = re.search(rb'name="csrf" value="([^"]+)"', body).group(1).decode()  # type: ignore[union-attr]
    return {"pre": pre, "pre_csrf": pre_csrf, "sid": sid, "csrf": csrf}


def run(count: int, seed: int, only: list[str], timeout: float, expect_bodiless: float,
        verbose: bool) -> tuple[dict[str, Figures], str, dict[str, str]]:
    from agent.app import App
    from agent.config import parse

    tracebacks = TracebackCounter()
    tracebacks.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(tracebacks)
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory() as tmp:
        log_file = logging.FileHandler(Path(tmp) / "agent.log")
        root.addHandler(log_file)
        app = App(parse(CONFIG, base_dir=tmp))
        app.start()
        try:
            if not app.wait_ready(30):
                raise SystemExit("the simulated lines did not start")
            assert app.http is not None and app.http.host == HOST
            client = Client(app.http.port, timeout)
            db = sqlite3.connect(f"file:{app.config.agent.database}?mode=ro", uri=True, timeout=30)
            rng = random.Random(seed)
            for name, bases in seeds(session_of(client)).items():
                if only and not any(name.startswith(o) for o in only):
                    continue
                fig = results[name] = Figures()
                accepted = ACCEPTED.get(name, lambda s, b: False)
                start_tracebacks, started = tracebacks.count, time.monotonic()
                for _ in range(count):
                    req = mutate(rng.choice(bases), rng, expect_bodiless=expect_bodiless)
                    before = rows(db)
                    status, body, _ = client.send(req, raw_flipper(rng) if rng.random() < 0.02 else None)
                    after = rows(db)
                    fig.requests += 1
                    fig.codes[str(status) if status is not None else "none"] += 1
                    fig.server_errors += status is not None and status >= 500
                    fig.no_answer += status is None
                    if after != before and not accepted(status, body):
                        fig.rejected_rows += (after[0] - before[0]) + (after[1] - before[1])
                        if verbose:
                            print(f"  {name}: rows by a {status} {req.method} {req.serialize()[:300]!r} -> {body[:200]!r}")
                    if verbose and (status is None or status >= 500):
                        print(f"  {name}: {status} for {req.serialize()[:300]!r}")
                fig.tracebacks = tracebacks.count - start_tracebacks
                fig.seconds = time.monotonic() - started
            client.close()
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
            db.close()
        finally:
            app.stop()
            root.removeHandler(log_file)
            root.removeHandler(tracebacks)
    return results, integrity, tracebacks.samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="mutated requests per endpoint (default 10000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated endpoint name prefixes (goip,jindi/send,...)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    parser.add_argument("--expect-bodiless", type=float, default=0.003,
                        help="share of bodiless requests sent with 'Expect: 100-continue'")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--verbose", action="store_true", help="print each failure and a sample of each traceback")
    args = parser.parse_args(argv)
    only = [o.strip() for o in args.only.split(",") if o.strip()]
    results, integrity, samples = run(args.count, args.seed, only, args.timeout, args.expect_bodiless, args.verbose)
    bad = any(f.server_errors or f.tracebacks or f.no_answer or f.rejected_rows for f in results.values())
    if args.json:
        print(json.dumps({"endpoints": {name: {"requests": f.requests, "codes": dict(sorted(f.codes.items())),
                                               "5xx": f.server_errors, "no_answer": f.no_answer,
                                               "tracebacks": f.tracebacks, "rows_by_rejected": f.rejected_rows,
                                               "seconds": round(f.seconds, 1)}
                                        for name, f in results.items()},
                          "integrity_check": integrity, "traceback_kinds": sorted(samples)}))
    else:
        print(f"{'endpoint':24} {'requests':>8} {'5xx':>5} {'no answer':>9} {'tracebacks':>10} "
              f"{'rejected rows':>13} {'s':>6}  status codes")
        for name, f in results.items():
            codes = " ".join(f"{code}:{n}" for code, n in sorted(f.codes.items()))
            print(f"{name:24} {f.requests:8} {f.server_errors:5} {f.no_answer:9} {f.tracebacks:10} "
                  f"{f.rejected_rows:13} {f.seconds:6.1f}  {codes}")
        total = sum(f.requests for f in results.values())
        print(f"total requests {total}; PRAGMA integrity_check: {integrity}")
        if args.verbose:
            for kind, sample in samples.items():
                print(f"--- {kind}\n{sample}")
    return 1 if bad or integrity != "ok" else 0


if __name__ == "__main__":
    sys.exit(main())
