"""Figures of the agent driving the channels of a GoIP box over UDP.

The agent runs as a process (``sms-agent run``) whose lines are GoIP
channels (``[line:*] goip_id``); the box is a simulated one
(:class:`agent.sim.SimGoip`) in this process, on 127.0.0.1, so the agent's
CPU time (read from /proc) is its own, and the box's ledger tells what was
really sent.  Messages go in through the GoIP JSON API (one request of many
numbers); a run ends when every row is ``S`` in the database.  Printed:

* messages/s through 1 and through 8 channels at zero device delay, and the
  agent's CPU ms per message (its process CPU time / messages);
* with 2 s per SMS, 8 channels and 10 % of the datagrams lost each way: the
  share of the device-limited time (messages / channels x 2 s) the agent
  achieved (target >= 98 %), and how many messages were sent twice (must be
  0); the same without loss, for comparison (what is left is the agent's
  own time per message: the router and the store's commits);
* the agent's idle CPU with 32 registered channels (keepalives every 30 s).

Every run checks that the box sent each message exactly once.

    python bench/bench_goip.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.sim import SimGoip  # noqa: E402
from agent.sim.goip_channel import channel_specs  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
USER, PASSWORD = "bench", "bench-pw"
pause = threading.Event()  # never set: pause.wait(s) sleeps without time.sleep


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Run:
    """An agent process with ``channels`` GoIP lines and the simulated box they belong to."""

    def __init__(self, channels: int, *, send_delay: float = 0.0, keepalive: float = 30.0, seed: int = 1) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        self.db = root / "state" / "sms-agent.db"
        port, http = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
        specs = channel_specs(channels)
        lines = "".join(f"[line:g{i + 1}]\ngoip_id = {s.id}\ngoip_password = {s.password}\n"
                        for i, s in enumerate(specs))
        (root / "config.ini").write_text(
            f"[agent]\nid = bench\nstate_dir = state\nlog_level = WARNING\n[http]\nport = {http}\n"
            f"[auth]\nusername = {USER}\npassword = {PASSWORD}\n[goip_udp]\nlisten = 127.0.0.1:{port}\n{lines}")
        self.proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(root / "config.ini"), "run"],
                                     cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.url = f"http://127.0.0.1:{http}"
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.wait(self._serving, 60, "the agent serving HTTP")
        self.box = SimGoip(("127.0.0.1", port), specs, keepalive=keepalive, send_delay=send_delay, seed=seed)
        self.box.start()
        self.wait(lambda: all(x["reg"] == "LOGIN" for x in self.api("querylines", {})), 30, "channels registered")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def _serving(self) -> bool:
        if self.proc.poll() is not None:
            raise SystemExit("the agent exited:\n" + "".join(self.output))
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                return True
        except OSError:
            return False

    def api(self, name: str, body: dict[str, Any]) -> Any:
        data = json.dumps({"auth": {"username": USER, "password": PASSWORD}, **body}).encode()
        req = urllib.request.Request(f"{self.url}/goip/{name}/", data=data,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())

    def send(self, messages: int, text: str) -> list[str]:
        numbers = [f"1380000{i:04d}" for i in range(messages)]
        reply = self.api("sendsms", {"number": ",".join(numbers), "content": text})
        if reply.get("result") != "ACCEPT":
            raise SystemExit(f"not accepted: {reply}")
        return numbers

    def sent_rows(self) -> int:
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return int(con.execute("SELECT count(*) FROM smsserver_out WHERE status = 'S'").fetchone()[0])
        finally:
            con.close()

    def in_doubt(self) -> int:
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return int(con.execute("SELECT count(*) FROM smsserver_out WHERE in_doubt = 1").fetchone()[0])
        finally:
            con.close()

    def wait(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out: {what}\n" + "".join(self.output[-20:]))
            pause.wait(0.05)

    def check_once(self, numbers: list[str], text: str) -> int:
        """Fail unless the box sent every message; return how many went more than once."""
        sent = Counter((s.number, s.text) for s in self.box.ledger)
        missing = [n for n in numbers if sent[(n, text)] == 0]
        if missing or set(sent) - {(n, text) for n in numbers}:
            raise SystemExit(f"not sent exactly: {len(missing)} missing, ledger {len(self.box.ledger)}")
        return sum(1 for n in sent.values() if n > 1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        finally:
            self.box.stop()
            self.tmp.cleanup()


def zero_delay(channels: int, messages: int) -> None:
    run = Run(channels)
    try:
        text = "Your verification code is 482913. It expires in 10 minutes."
        cpu0 = cpu_seconds(run.proc.pid)
        start = time.monotonic()
        numbers = run.send(messages, text)
        run.wait(lambda: run.sent_rows() >= messages, 600, f"{messages} sent")
        elapsed = time.monotonic() - start
        cpu = cpu_seconds(run.proc.pid) - cpu0
        twice = run.check_once(numbers, text)
        print(f"{channels} channel(s), zero device delay: {messages / elapsed:.0f} messages/s, "
              f"{cpu / messages * 1000:.2f} CPU ms/message ({messages} messages, {elapsed:.1f} s, "
              f"{twice} sent twice)", flush=True)
    finally:
        run.stop()


def device_limited(channels: int, messages: int, delay: float, loss: float) -> None:
    run = Run(channels, send_delay=delay, seed=42)
    try:
        run.box.loss(loss, loss)
        text = "hello from the branch office"
        cpu0 = cpu_seconds(run.proc.pid)
        start = time.monotonic()
        numbers = run.send(messages, text)
        ideal = math.ceil(messages / channels) * delay
        run.wait(lambda: run.sent_rows() >= messages, ideal * 4 + 60, f"{messages} sent")
        elapsed = time.monotonic() - start
        cpu = cpu_seconds(run.proc.pid) - cpu0
        twice = run.check_once(numbers, text)
        faults = run.box.faults
        print(f"{channels} channels at {delay:g} s per SMS, {loss:.0%} loss each way: {messages} messages in "
              f"{elapsed:.1f} s (device-limited {ideal:.0f} s): {ideal / elapsed * 100:.1f} % of device-limited "
              f"throughput; {twice} sent twice, {run.in_doubt()} in doubt; {cpu / messages * 1000:.2f} CPU ms/message;"
              f" datagrams lost {faults['dropped_in']} to the box, {faults['dropped_out']} from it", flush=True)
    finally:
        run.stop()


def idle(channels: int, seconds: float) -> None:
    run = Run(channels)
    try:
        pause.wait(2.0)  # let the start-up settle
        before = cpu_seconds(run.proc.pid)
        pause.wait(seconds)
        used = cpu_seconds(run.proc.pid) - before
        print(f"{channels} channels registered, idle: {used / seconds * 100:.2f} % CPU over {seconds:.0f} s "
              f"({used * 1000:.0f} ms)", flush=True)
    finally:
        run.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer messages (zero-delay runs only)")
    args = parser.parse_args()
    zero_delay(1, 200 if args.quick else 500)
    zero_delay(8, 500 if args.quick else 2000)
    device_limited(8, 160, 2.0, 0.10)
    device_limited(8, 160, 2.0, 0.0)
    idle(32, 10.0)


if __name__ == "__main__":
    main()
