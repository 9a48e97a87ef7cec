"""Crash proof: submissions over HTTP (or SMPP, CMPP) while the agent is SIGKILLed at random moments.

The simulated modem bank runs in its own process (``sms-agent simulate``)
and writes a ledger: one JSON line per SMS part its network accepted, the
truth of what left the box.  The agent (``python -m agent run``) is pointed
at the bank's ptys as ``[line:simN]`` devices.  Client threads submit N
single-part messages (``crash 000123``...) with the GoIP JSON API, each with
its own ``client_ref``: a submission whose answer was lost in a kill is sent
again and is not doubled; it counts as acknowledged only once the agent
answered ACCEPT.  Meanwhile the agent is killed (SIGKILL) K times at random
moments (during start-up, at any moment, or just while a line is sending;
with a door also just while submissions await their responses)
and started again, always after the killed one is dead; then it runs until
every acknowledged message is final (sent or failed), and is stopped.

With ``--door smpp`` or ``--door cmpp`` the config opens that door on a free
loopback port and the clients submit the same texts over it instead, a window
of up to 10 requests per session, binding again after each kill (see
``bench/crash_doors.py``).  These protocols have no idempotency key: a
submission whose response the kill swallowed is not sent again; it counts as
unanswered, and the tally says how many of those were stored and sent anyway
(committed before the kill: expected).

Printed: acknowledged, sent (distinct texts in the ledger), lost
(acknowledged, never in the ledger, not failed), duplicates (texts the
ledger has more than once, parts reassembled per message), duplicates not
flagged in doubt (``smsserver_out.in_doubt = 0``), and ``PRAGMA
integrity_check``; with a door also unanswered (never answered, not sent
again), how many of those were stored and how many sent, and the sessions
bound.  Targets: 0 lost, 0 unflagged duplicates, and with ``--send-mode
store`` 0 duplicates.

    python bench/crash.py [--messages 2000] [--kills 100] [--send-mode direct|store] [--seed N]
                          [--door http|smpp|cmpp]

:func:`run` is the harness; ``tests/test_crash.py`` runs a small one.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
USER, PASSWORD = "crash", "crash-proof"
EX_CONFIG = 78


def _sibling(name: str):
    """``bench/<name>.py``, imported by path (bench/ is no package; the tests import this module by path too)."""
    key = f"sms_agent_bench_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


doors = _sibling("crash_doors")


@dataclass
class Figures:
    """What one run found (see the module doc)."""

    send_mode: str
    messages: int
    door: str = "http"
    kills: int = 0
    kills_while_sending: int = 0  # kills with a row in 'Q' (a line had it) just before
    kills_in_startup: int = 0  # kills before the agent said it was running
    kills_while_submitting: int = 0  # doors: kills with a submission awaiting its response just before
    acknowledged: int = 0
    refused: int = 0  # answered, but not ACCEPT / status 0 (none expected)
    unanswered: int = 0  # doors: submitted, the session died before the response came (not sent again)
    unanswered_stored: int = 0  # of those, committed all the same (a row in smsserver_out)
    unanswered_sent: int = 0  # of those, in the ledger (committed before the kill, the response lost)
    sessions: int = 0  # doors: sessions bound
    sent: int = 0
    failed: int = 0
    lost: int = 0
    duplicates: int = 0
    unflagged_duplicates: int = 0
    doubled_rows: int = 0  # acknowledged texts stored in more than one row (idempotency broken)
    in_doubt_rows: int = 0
    ledger_parts: int = 0
    parts_via_cmss: int = 0  # of ledger_parts, sent from the modem's storage (send_mode = store at work)
    integrity: str = ""
    seconds: float = 0.0
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The targets: nothing lost, every duplicate flagged, none with store mode, an intact database."""
        return (self.lost == 0 and self.unflagged_duplicates == 0 and self.doubled_rows == 0
                and self.integrity == "ok" and (self.send_mode != "store" or self.duplicates == 0))

    def lines(self) -> list[str]:
        d = asdict(self)
        examples = d.pop("examples")
        out = [f"{key:22} {value}" for key, value in d.items()]
        out += [f"{key:22} e.g. {', '.join(texts)}" for key, texts in examples.items() if texts]
        return out


class HarnessError(RuntimeError):
    """The run could not be carried out (the agent refused its config, never came up...)."""


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Simulator:
    """``sms-agent simulate`` in its own process; :attr:`devices` maps line names to pty paths."""

    def __init__(self, workdir: Path, *, lines: int, send_delay: float, ledger: Path) -> None:
        self._log = open(workdir / "sim.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "simulate", "--lines", str(lines), "--send-delay", str(send_delay),
             "--ledger", str(ledger), "--state-dir", str(workdir / "sim")],
            cwd=REPO, stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.devices: dict[str, str] = {}
        assert self.proc.stdout is not None
        for _ in range(lines):
            line = self.proc.stdout.readline()
            if not line:
                self.stop()
                raise HarnessError(f"the simulator ended before printing its devices; see {workdir / 'sim.log'}")
            name, _profile, path = line.split()
            self.devices[name] = path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class Agent:
    """``python -m agent --config CFG run``, restartable; its output is appended to ``log``."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.running = threading.Event()  # the agent printed 'running ('
        self._tail: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "one agent at a time"
        self.running = threading.Event()
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(self.config), "run"],
                                     cwd=self.config.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, errors="replace")
        self._reader = threading.Thread(target=self._read, args=(self.proc, self.running), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen, running: threading.Event) -> None:
        with open(self.log, "a", encoding="utf-8") as log:
            log.write(f"--- agent pid {proc.pid} ---\n")
            for line in proc.stdout:  # type: ignore[union-attr]
                log.write(line)
                self._tail = (self._tail + [line])[-30:]
                if "running (" in line:
                    running.set()

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def check_alive(self) -> None:
        """Raise HarnessError when the agent ended by itself (not killed by us)."""
        code = self.exited()
        if code is not None:
            self.proc.wait()  # type: ignore[union-attr]
            if self._reader is not None:
                self._reader.join(5)  # the last lines, for the message
            why = "refused its configuration" if code == EX_CONFIG else f"exited with {code}"
            raise HarnessError(f"the agent {why}:\n{''.join(self._tail)}")

    def kill(self) -> None:
        """SIGKILL, and wait until it is dead (never two agents on one database)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM; return the exit code (SIGKILL after ``timeout``)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def write_config(path: Path, devices: dict[str, str], *, port: int, send_mode: str, door: str = "http",
                 door_port: int = 0) -> None:
    lines = [
        "[agent]", "id = crash-proof", "state_dir = state", "",
        "[queue]", "poll_interval = 0.1", "retry_backoff = 1", "",
        "[http]", "host = 127.0.0.1", f"port = {port}", "",
        "[auth]", f"username = {USER}", f"password = {PASSWORD}", "",
    ]
    if door != "http":
        lines += doors.config_lines(door, door_port)
    for name, device in sorted(devices.items()):
        lines += [f"[line:{name}]", f"device = {device}"]
        if send_mode == "store":
            lines.append("send_mode = store")
        lines.append("")
    path.write_text("\n".join(lines))


# --- submissions --------------------------------------------------------------------------------


def text_of(i: int) -> str:
    return f"crash {i:06d}"


def _post(port: int, body: dict[str, Any], timeout: float = 10.0) -> tuple[int, dict[str, Any]] | None:
    """POST one GoIP sendsms; None when there was no answer (agent down or killed meanwhile)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/goip/sendsms/", json.dumps(body).encode(), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()


class Clients(doors.Released):
    """``clients`` threads submitting messages ``i`` with ``i % clients == k`` over HTTP, each
    until ACCEPTed, and each only once :meth:`release` let messages up to ``i`` go."""

    def __init__(self, port: int, messages: int, clients: int, ref_prefix: str, stop: threading.Event) -> None:
        super().__init__(messages, clients, stop, "client")
        self.port = port
        self.unanswered: set[int] = set()  # none: an unanswered submission is sent again, same client_ref
        self._ref = ref_prefix

    def _run(self, indexes: range) -> None:
        for i in indexes:
            with self._lock:
                self._lock.wait_for(lambda: i < self._released or self.stop.is_set())
            body = {"auth": {"username": USER, "password": PASSWORD}, "number": f"+86139{i:08d}",
                    "content": text_of(i), "client_ref": f"{self._ref}-{i}"}
            while not self.stop.is_set():
                answer = _post(self.port, body)
                if answer is None or answer[0] >= 500:
                    self.stop.wait(0.05)  # the agent is down or could not store it: ask again, same client_ref
                    continue
                with self._lock:
                    if answer[1].get("result") == "ACCEPT":
                        self.acknowledged.add(i)
                    else:
                        self.refused[i] = answer
                break


# --- reading the outcome -------------------------------------------------------------------------


def read_rows(db: Path) -> list[tuple[str, str, int]]:
    """(text, status, in_doubt) of every row of ``smsserver_out``; [] before the schema exists."""
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    try:
        return con.execute("SELECT text, status, in_doubt FROM smsserver_out").fetchall()
    except sqlite3.Error:
        return []
    finally:
        con.close()


def sending_now(db: Path) -> bool:
    """True when a row is 'Q' (handed to a line, its outcome not yet recorded)."""
    return any(status == "Q" for _, status, _ in read_rows(db))


def ledger_messages(path: Path) -> list[str]:
    """The texts the simulated network accepted, one per message: parts of a concatenated
    message are reassembled per (modem, recipient, reference) in ledger order."""
    texts: list[str] = []
    open_: dict[tuple, dict[int, str]] = {}
    if not path.exists():
        return texts
    with open(path, encoding="utf-8") as f:
        for raw in f:
            if not raw.strip():
                continue
            entry = json.loads(raw)
            concat = entry.get("concat")
            if not concat:
                texts.append(entry["text"])
                continue
            ref, total, seq = concat
            key = (entry["modem"], entry["recipient"], ref, total)
            parts = open_.setdefault(key, {})
            if seq in parts:  # the same part again: a new sending of the message
                parts = open_[key] = {}
            parts[seq] = entry["text"]
            if len(parts) == total:
                texts.append("".join(parts[s] for s in sorted(parts)))
                del open_[key]
    return texts


def integrity(db: Path) -> str:
    con = sqlite3.connect(db, timeout=10)
    try:
        return "; ".join(r[0] for r in con.execute("PRAGMA integrity_check").fetchall())
    finally:
        con.close()


def tally(figures: Figures, acknowledged: set[int], db: Path, ledger: Path,
          unanswered: set[int] | frozenset[int] = frozenset()) -> Figures:
    """Fill in the outcome figures from the database and the ledger.  ``unanswered``
    (the doors) are submissions never answered: not lost when absent, but
    duplicates, doubled rows and in-doubt rows are counted over them too."""
    rows = read_rows(db)
    by_text: dict[str, list[tuple[str, int]]] = {}
    for text, status, in_doubt in rows:
        by_text.setdefault(text, []).append((status, in_doubt))
    ours = {text_of(i) for i in acknowledged}
    silent = {text_of(i) for i in unanswered} - ours
    submitted = ours | silent
    entries = ledger_messages(ledger)
    vias = Counter(json.loads(raw).get("via") for raw in open(ledger, encoding="utf-8") if raw.strip()) \
        if ledger.exists() else Counter()
    figures.ledger_parts, figures.parts_via_cmss = sum(vias.values()), vias["CMSS"]
    counts = Counter(t for t in entries if t in submitted)
    figures.acknowledged = len(ours)
    figures.sent = sum(1 for t in ours if t in counts)
    figures.failed = sum(1 for t in ours if any(s == "F" for s, _ in by_text.get(t, [])))
    lost = sorted(t for t in ours if t not in counts and not any(s == "F" for s, _ in by_text.get(t, [])))
    duplicated = sorted(t for t, n in counts.items() if n > 1)
    unflagged = [t for t in duplicated if not any(flag for _, flag in by_text.get(t, []))]
    doubled = sorted(t for t in submitted if len(by_text.get(t, [])) > 1)
    figures.lost, figures.duplicates, figures.unflagged_duplicates = len(lost), len(duplicated), len(unflagged)
    figures.doubled_rows = len(doubled)
    figures.in_doubt_rows = sum(1 for t in submitted for _, flag in by_text.get(t, []) if flag)
    figures.unanswered = len(silent)
    figures.unanswered_stored = sum(1 for t in silent if t in by_text)
    figures.unanswered_sent = sum(1 for t in silent if t in counts)
    figures.examples = {"lost": lost[:5], "duplicates": duplicated[:5], "unflagged": unflagged[:5],
                        "doubled_rows": doubled[:5], "unanswered_sent": sorted(t for t in silent if t in counts)[:5]}
    return figures


# --- the run ----------------------------------------------------------------------------------------


def _wait(predicate: Callable[[], bool], timeout: float, stop: threading.Event, pause: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        stop.wait(pause)
    return True


def run(workdir: Path, *, messages: int = 2000, kills: int = 100, send_mode: str = "direct", seed: int = 1,
        lines: int = 4, send_delay: float = 0.05, clients: int = 2, settle_timeout: float = 300.0,
        door: str = "http", progress: Callable[[str], None] = lambda s: None) -> Figures:
    """Run the proof in ``workdir`` (created; the database, ledger and logs stay there); return its figures.

    ``door``: 'http' (the GoIP JSON API), 'smpp' or 'cmpp' (see the module doc).
    Raise HarnessError when the agent refuses its configuration, ends by
    itself, refuses the door's credentials, or the submissions it stored are
    not all final ``settle_timeout`` seconds after the last kill.
    """
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    ledger, db = workdir / "ledger.jsonl", workdir / "state" / "sms-agent.db"
    figures = Figures(send_mode=send_mode, messages=messages, door=door)
    started = time.monotonic()
    pause = threading.Event()  # never set: a sleep that is not a bare time.sleep
    sim = Simulator(workdir, lines=lines, send_delay=send_delay, ledger=ledger)
    agent = Agent(workdir / "config.ini", workdir / "agent.log")
    stop = threading.Event()
    port = free_port()
    door_port = free_port() if door != "http" else 0
    write_config(agent.config, sim.devices, port=port, send_mode=send_mode, door=door, door_port=door_port)
    if door == "http":
        submitters: Clients | Any = Clients(port, messages, clients, f"crash-{seed}-{int(time.time())}", stop)
    else:
        submitters = doors.DoorClients(door, door_port, messages, clients, text_of, stop)
    try:
        agent.start()
        submitters.start()
        for k in range(kills):
            # Submissions go on between the kills: about messages/kills of them per cycle.
            submitters.release(-(-(k + 1) * messages // kills))
            how = rng.random()
            if how < 0.15:  # during start-up: recovery itself may be cut short
                pause.wait(rng.uniform(0.0, 0.8))
            elif door != "http" and how < 0.35:  # while submissions are outstanding: commits and answers cut short
                if _wait(lambda: submitters.in_flight > 0 or agent.exited() is not None, 2.0, pause, 0.001):
                    pause.wait(rng.uniform(0.0, 0.005))
            else:
                if not agent.running.wait(60):
                    agent.check_alive()
                    raise HarnessError("the agent did not say it was running within 60 s")
                if how < 0.55:
                    pause.wait(rng.uniform(0.0, 0.6))
                elif _wait(lambda: sending_now(db) or agent.exited() is not None, 2.0, pause):
                    pause.wait(rng.uniform(0.0, 2 * send_delay))  # in the middle of a send
            agent.check_alive()
            if submitters.error:
                raise HarnessError(f"the {door} door refused the bench: {submitters.error}")
            figures.kills_in_startup += not agent.running.is_set()
            figures.kills_while_sending += sending_now(db)
            figures.kills_while_submitting += getattr(submitters, "in_flight", 0) > 0
            agent.kill()
            figures.kills += 1
            progress(f"kill {k + 1}/{kills}: {len(submitters.acknowledged)} acknowledged")
            agent.start()
        submitters.release(messages)

        def settled() -> bool:
            agent.check_alive()
            if submitters.error:
                raise HarnessError(f"the {door} door refused the bench: {submitters.error}")
            if not submitters.done():
                return False
            rows = read_rows(db)
            final = {t for t, status, _ in rows if status in ("S", "F")}
            stored = {t for t, _, _ in rows}  # an unanswered submission may be stored: wait for it too
            return (all(text_of(i) in final for i in submitters.acknowledged)
                    and all(text_of(i) in final for i in submitters.unanswered if text_of(i) in stored))

        if not _wait(settled, settle_timeout, pause, 0.1):
            raise HarnessError(f"acknowledged messages not all final {settle_timeout:g} s after the last kill")
        code = agent.stop()
        if code != 0:
            raise HarnessError(f"the agent exited {code} on SIGTERM; see {agent.log}")
    finally:
        stop.set()
        if agent.proc is not None and agent.proc.poll() is None:
            agent.kill()
        submitters.join()
        sim.stop()  # flushes nothing: every ledger line is written whole when the part is accepted
    figures.refused = len(submitters.refused)
    figures.sessions = getattr(submitters, "sessions", 0)
    tally(figures, submitters.acknowledged, db, ledger, submitters.unanswered)
    figures.integrity = integrity(db)
    figures.seconds = round(time.monotonic() - started, 1)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="single-part messages to submit (default 2000)")
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs of the agent (default 100)")
    parser.add_argument("--send-mode", choices=("direct", "store"), default="direct",
                        help="send_mode of every line (store: AT+CMGW then AT+CMSS)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments (default 1)")
    parser.add_argument("--door", choices=("http", *doors.DOORS), default="http",
                        help="submit over the GoIP JSON API (default), SMPP 3.4 or CMPP 2.0")
    parser.add_argument("--workdir", default=None,
                        help="where the database, ledger and logs are kept (default: a new temporary directory)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="sms-agent-crash-"))
    print(f"crash proof: {args.messages} messages over {args.door}, {args.kills} kills, send_mode {args.send_mode}, "
          f"seed {args.seed}, in {workdir}", flush=True)
    try:
        figures = run(workdir, messages=args.messages, kills=args.kills, send_mode=args.send_mode, seed=args.seed,
                      door=args.door, progress=lambda s: print(s, file=sys.stderr, flush=True))
    except HarnessError as exc:
        print(f"crash proof not run to the end: {exc}", file=sys.stderr)
        return 2
    for line in figures.lines():
        print(line)
    print("targets met" if figures.ok else "TARGETS MISSED")
    return 0 if figures.ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(REPO))
    sys.exit(main())
