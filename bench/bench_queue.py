"""End-to-end figures of the agent as a process on the simulated bank.

Each run writes a config, queues messages durably through the store, starts
``sms-agent run`` (which builds its simulated modems on ptys) and watches the
database.  Printed:

* time from start to ready (all lines initialised), RSS and idle CPU % with
  32 lines;
* messages/s end to end (queue -> router -> worker -> pty -> result
  committed) through 16 lines at zero send delay, and CPU ms per message
  (the agent process, simulator included);
* with a realistic modem (2 s per send) on 4 and on 32 lines: the share of
  what the modems allow that the agent achieved.

    python bench/bench_queue.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.model import NewMessage  # noqa: E402
from agent.store.queue import Store  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Agent:
    def __init__(self, lines: int, send_delay: float, messages: int, text: str) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        self.cfg = root / "config.ini"
        self.cfg.write_text(f"[agent]\nid = bench\nstate_dir = state\nlog_level = WARNING\n"
                            f"[modems]\nhealth_interval = 3600\nstatus_report = no\n"
                            f"[queue]\npoll_interval = 0.5\n[http]\nport = 0\n"
                            f"[simulator]\nlines = {lines}\nsend_delay = {send_delay}\nprofiles = generic\n")
        self.db = root / "state" / "sms-agent.db"
        self.db.parent.mkdir()
        store = Store(self.db)
        store.open()
        if messages:
            store.enqueue([NewMessage(recipient="+8613912345678", text=text, status_report=False)] * messages)
        store.close()
        # The agent says READY=1 through sd_notify once every line has started.
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(root / "notify.sock"))
        self.ready = threading.Event()
        self.t0 = time.monotonic()
        self.ready_at = 0.0
        self.proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(self.cfg), "run"], cwd=root,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "NOTIFY_SOCKET": str(root / "notify.sock")})
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while True:
            try:
                data = self.notify.recv(4096)
            except OSError:
                return
            if b"READY=1" in data and not self.ready.is_set():
                self.ready_at = time.monotonic() - self.t0
                self.ready.set()

    def count(self, status: str) -> int:
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return con.execute("SELECT count(*) FROM smsserver_out WHERE status = ?", (status,)).fetchone()[0]
        finally:
            con.close()

    def wait_sent(self, n: int, timeout: float) -> float:
        """Seconds from now until ``n`` rows are sent (polling the database every 50 ms)."""
        start = time.monotonic()
        pause = threading.Event()
        while self.count("S") < n:
            if time.monotonic() - start > timeout:
                raise SystemExit(f"only {self.count('S')}/{n} sent in {timeout}s")
            pause.wait(0.05)
        return time.monotonic() - start

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.notify.close()
        self.tmp.cleanup()


def idle_and_ready(lines: int, idle_seconds: float) -> None:
    agent = Agent(lines, 0.0, 0, "")
    if not agent.ready.wait(60):
        raise SystemExit("agent never ready")
    threading.Event().wait(1.0)  # let the start-up burst settle
    before = cpu_seconds(agent.proc.pid)
    threading.Event().wait(idle_seconds)
    idle = (cpu_seconds(agent.proc.pid) - before) / idle_seconds * 100
    print(f"{lines} lines: ready in {agent.ready_at:.2f} s, RSS {rss_mb(agent.proc.pid):.1f} MB, "
          f"idle CPU {idle:.2f} % over {idle_seconds:.0f} s")
    agent.stop()


def throughput(lines: int, messages: int) -> None:
    agent = Agent(lines, 0.0, 0, "")
    if not agent.ready.wait(60):
        raise SystemExit("agent never ready")
    store = Store(agent.db)
    store.open()
    text = "Your verification code is 482913. It expires in 10 minutes."
    cpu0 = cpu_seconds(agent.proc.pid)
    start = time.monotonic()
    store.enqueue([NewMessage(recipient="+8613912345678", text=text, status_report=False)] * messages)
    store.close()
    agent.wait_sent(messages, 300)
    elapsed = time.monotonic() - start
    cpu = cpu_seconds(agent.proc.pid) - cpu0
    print(f"{lines} lines, zero send delay: {messages / elapsed:.0f} messages/s end to end, "
          f"{cpu / messages * 1000:.2f} CPU ms/message ({messages} messages)")
    agent.stop()


def realistic(lines: int, seconds: float, delay: float = 2.0) -> None:
    per_line = int(seconds / delay)
    messages = per_line * lines
    agent = Agent(lines, delay, 0, "")
    if not agent.ready.wait(60):
        raise SystemExit("agent never ready")
    store = Store(agent.db)
    store.open()
    start = time.monotonic()
    store.enqueue([NewMessage(recipient="+8613912345678", text="hello", status_report=False)] * messages)
    store.close()
    agent.wait_sent(messages, seconds * 3)
    elapsed = time.monotonic() - start
    ideal = per_line * delay
    print(f"{lines} lines at {delay:g} s per send: {messages / elapsed:.2f} messages/s "
          f"({messages / elapsed / lines:.3f} per line), {ideal / elapsed * 100:.1f} % of what the modems allow")
    agent.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter runs (idle 10 s, realistic 20 s)")
    args = parser.parse_args()
    idle_and_ready(32, 10.0 if args.quick else 60.0)
    throughput(16, 2000 if args.quick else 5000)
    for lines in (4, 32):
        realistic(lines, 20.0 if args.quick else 60.0)


if __name__ == "__main__":
    main()
