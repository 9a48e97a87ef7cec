"""Figures of the binary doors (SMPP 3.4, CMPP 2.0) of a real agent process on 4 simulated lines.

Each run starts a fresh ``sms-agent run`` (simulated modems at zero send and
report delay, ``[smpp]`` and ``[cmpp]`` on free loopback ports), waits for
READY=1 on a NOTIFY_SOCKET this bench binds (as bench_http.py does), and
drives it from this process: one selector serves every client session, each
submitting session keeps ``--window`` requests outstanding.  Every message
asks for a receipt (SMPP registered_delivery=1, CMPP Registered_Delivery=1).

Per door and session count (``--sessions``), ``--count`` messages in all:

* submits accepted per second, latency p50/p99 (request written -> its
  response read), that every response had status 0, and that
  ``smsserver_out`` holds as many rows as were accepted once the last
  response is in (each was committed before its answer);
* receipts per second, from the first to the last of the N receipts (SMPP:
  deliver_sm to a bind_transceiver receiver beside bind_transmitter
  submitters; CMPP: CMPP_DELIVER to the submitting sessions), each answered
  with status 0; exactly N must come, none twice, each for an id the agent
  gave out (SMPP receipted_message_id, CMPP report Msg_Id);
* the agent's CPU (utime+stime from /proc) per accepted submit over the
  submit phase, and per message over the whole run (submit, send, receipt);

then the agent's idle CPU over 10 s with one bound SMPP transceiver and one
CMPP session, and, for comparison, bench_http.py's GoIP ``sendsms`` with one
recipient from 8 keep-alive clients (``--http-seconds 0`` skips it).

    python bench/bench_doors.py [--count 2000] [--sessions 1,4] [--window 10] [--quick]

The exit status is 1 when a check on the agent failed (the table is printed anyway), 2 when the
bench could not run, 130 on Ctrl-C; the agents are stopped in every case.
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import multiprocessing
import os
import selectors
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import bench_http  # noqa: E402
from bench_http import HOST, cpu_seconds, free_port, percentile  # noqa: E402

from agent.codec import cmpp, cmpp_client, smpp  # noqa: E402
from tests.doors.clients import CmppClient, SmppClient  # noqa: E402

SYSTEM_ID, SMPP_PASSWORD = "bench", "bench-pw"
SOURCE_ADDR, CMPP_SECRET = "test01", "bench-secret"
SMPP_TEXT = b"Your verification code is 482913. It expires in 10 minutes."
CMPP_TEXT = "您的验证码是482913，10分钟内有效。".encode("gbk")
STALL = 30.0  # seconds without any progress before a run is given up
_live: list["DoorsAgent"] = []


def _die_with_parent() -> None:
    """In the agent's child, before exec: SIGTERM when this bench dies, however it dies (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class DoorsAgent(bench_http.Agent):
    """``sms-agent run`` in a temporary directory: 4 simulated lines at zero delays, both doors open,
    in a process group of its own (stop() ends it and anything it started, Ctrl-C here does not reach
    it half-way; PR_SET_PDEATHSIG covers this bench being killed outright)."""

    def __init__(self) -> None:
        self.smpp_port, self.cmpp_port = free_port(), free_port()
        _live.append(self)
        super().__init__(f"[agent]\nid = bench-doors\nstate_dir = state\nlog_level = WARNING\n"
                         f"[modems]\nhealth_interval = 3600\n"
                         f"[queue]\npoll_interval = 0.5\n"
                         f"[simulator]\nlines = 4\nsend_delay = 0\nreport_delay = 0\nprofiles = generic\n"
                         f"[http]\nhost = {HOST}\nport = {{port}}\n"
                         f"[smpp]\nlisten = {HOST}:{self.smpp_port}\nsystem_id = {SYSTEM_ID}\n"
                         f"password = {SMPP_PASSWORD}\n"
                         f"[cmpp]\nlisten = {HOST}:{self.cmpp_port}\nsource_addr = {SOURCE_ADDR}\n"
                         f"password = {CMPP_SECRET}\n", start_new_session=True, preexec_fn=_die_with_parent)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def diagnose(self, door: str, tasks: list[int]) -> str:
        """What the database says of the messages of ``tasks`` and of the door's outbox."""
        con = sqlite3.connect(self.db, timeout=10)
        try:
            out = []
            marks = ",".join("?" * len(tasks))
            for row in con.execute("SELECT id, task_id, status, delivery, status_report, sent_date, delivered_date"
                                   f" FROM smsserver_out WHERE task_id IN ({marks})", tasks):
                out.append("smsserver_out id={} task={} status={} delivery={} status_report={} sent={} "
                           "delivered={}".format(*row))
                for part in con.execute("SELECT line, reference, sent_at, status, report_at FROM sent_parts"
                                        " WHERE message_id = ?", (row[0],)):
                    out.append("  sent_parts line={} TP-MR={} sent_at={:.3f} status={} report_at={}".format(*part))
            for row in con.execute("SELECT destination, kind, count(*), sum(attempts), max(last_error) FROM outbox"
                                   " GROUP BY destination, kind"):
                out.append("outbox destination={} kind={} rows={} attempts={} last_error={}".format(*row))
            for task in tasks:
                for row in con.execute("SELECT id, destination, kind, attempts, next_attempt, payload FROM outbox"
                                       " WHERE json_extract(payload, '$.task_id') = ?", (task,)):
                    out.append("outbox item {} -> {} {} attempts={} next={:.3f} {}".format(*row))
            return "\n".join(out) or "(nothing)"
        finally:
            con.close()

    def stop(self) -> None:
        if self not in _live:
            return
        _live.remove(self)
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of its group
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
        finally:
            self.notify.close()
            self.log.close()
            self.tmp.cleanup()


def _stop_all() -> None:
    for agent in list(_live):
        try:
            agent.stop()
        except Exception as exc:  # noqa: BLE001 - stopping the rest matters more
            print(f"stopping agent {agent.pid}: {exc}", file=sys.stderr)


atexit.register(_stop_all)


# --- the client sessions, all on one selector --------------------------------------------------------


@dataclass
class Client:
    """One bound session: the submits it still has to send, those awaiting an answer, what came back."""

    kind: str  # "smpp" or "cmpp"
    sock: socket.socket
    todo: list[tuple[int, bytes]] = field(default_factory=list)  # (sequence, PDU), sent from the end
    window: int = 10
    version: int = cmpp.V2
    outstanding: dict[int, float] = field(default_factory=dict)
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    ids: set = field(default_factory=set)  # message ids the agent gave out
    receipts: list[tuple[float, object, str]] = field(default_factory=list)  # (time, receipted id, stat)
    other: Counter = field(default_factory=Counter)  # PDUs nobody expected
    last_answer: float = 0.0
    closed: list[str] = field(default_factory=list)


class Loop:
    def __init__(self, clients: list[Client], tally: Tally) -> None:
        self.clients = clients
        self.tally = tally
        self.sel = selectors.DefaultSelector()
        for c in clients:
            c.sock.setblocking(False)
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sel.register(c.sock, selectors.EVENT_READ, c)
        self.progress = time.monotonic()

    def close(self) -> None:
        for c in self.clients:
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()
        self.sel.close()

    def pending(self) -> int:
        return sum(len(c.todo) + len(c.outstanding) for c in self.clients)

    def run(self, until, what: str) -> None:
        """Serve every session until ``until()``; give up after STALL seconds without progress."""
        self.progress = time.monotonic()
        while not until():
            for c in self.clients:
                self._fill(c)
            for key, events in self.sel.select(0.2):
                c = key.data
                if events & selectors.EVENT_READ:
                    self._read(c)
                if events & selectors.EVENT_WRITE:
                    self._flush(c)
            if time.monotonic() - self.progress > STALL:
                raise Stalled(f"no progress for {STALL:g} s waiting for {what}")

    def _fill(self, c: Client) -> None:
        if not c.todo or len(c.outstanding) >= c.window:
            return
        now = time.monotonic()
        while c.todo and len(c.outstanding) < c.window:
            seq, pdu = c.todo.pop()
            c.outstanding[seq] = now
            c.outbuf += pdu
        self._flush(c)

    def _flush(self, c: Client) -> None:
        if c.outbuf:
            try:
                n = c.sock.send(c.outbuf)
            except BlockingIOError:
                n = 0
            except OSError as exc:
                raise Stalled(f"{c.kind} session: {exc}") from None
            del c.outbuf[:n]
        self.sel.modify(c.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.outbuf else 0), c)

    def _read(self, c: Client) -> None:
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            data = b""
            self.tally.closed.append(f"{c.kind}: {exc}")
        if not data:
            self.sel.unregister(c.sock)
            self.tally.closed.append(f"{c.kind}: the agent closed the connection")
            raise Stalled(f"the agent closed a {c.kind} session")
        c.inbuf += data
        now = time.monotonic()
        while len(c.inbuf) >= 4:
            length = int.from_bytes(c.inbuf[:4], "big")
            if len(c.inbuf) < length:
                break
            frame = bytes(c.inbuf[:length])
            del c.inbuf[:length]
            (self._smpp if c.kind == "smpp" else self._cmpp)(c, frame, now)
        if c.outbuf:
            self._flush(c)

    def _answered(self, c: Client, seq: int, now: float, status: int, message_id: object) -> None:
        sent = c.outstanding.pop(seq, None)
        if sent is None:
            self.tally.other["response to nothing"] += 1
            return
        t = self.tally
        t.latencies.append(now - sent)
        t.statuses[status] += 1
        if status == 0:
            t.ids.add(message_id)
        t.last_answer = now
        self.progress = now

    def _smpp(self, c: Client, frame: bytes, now: float) -> None:
        _, command, status, seq = struct.unpack(">IIII", frame[:16])
        if command == smpp.SUBMIT_SM_RESP:
            message_id = smpp.decode(frame).fields.get("message_id", "") if status == 0 else None
            self._answered(c, seq, now, status, str(message_id))
        elif command == smpp.DELIVER_SM:
            pdu = smpp.decode(frame)
            c.outbuf += smpp.encode(smpp.DELIVER_SM_RESP, seq, fields={"message_id": ""})
            raw = pdu.tlvs.get(smpp.RECEIPTED_MESSAGE_ID)
            text = bytes(pdu.fields.get("short_message") or b"").decode("ascii", "replace")
            if raw is None:  # fall back on the receipt text's "id:..."
                rid = text.split("id:", 1)[1].split()[0] if "id:" in text else "?"
            else:
                rid = (raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)).rstrip("\0")
            stat = text.split("stat:", 1)[1].split()[0] if "stat:" in text else "?"
            self.tally.receipts.append((now, rid, stat))
            self.progress = now
        elif command == smpp.ENQUIRE_LINK:
            c.outbuf += smpp.encode(smpp.ENQUIRE_LINK_RESP, seq)
        else:
            self.tally.other[smpp.NAMES.get(command, hex(command))] += 1

    def _cmpp(self, c: Client, frame: bytes, now: float) -> None:
        _, command, seq = struct.unpack(">III", frame[:12])
        if command == cmpp.SUBMIT_RESP:
            msg_id, result = cmpp_client.decode_submit_resp(frame, c.version)
            self._answered(c, seq, now, result, msg_id)
        elif command == cmpp.DELIVER:
            d = cmpp_client.decode_deliver(frame, c.version)
            c.outbuf += cmpp_client.encode_deliver_resp(seq, d["msg_id"], 0, c.version)
            if d["report"] is None:
                self.tally.other["CMPP_DELIVER (not a report)"] += 1
                return
            self.tally.receipts.append((now, d["report"]["msg_id"], d["report"]["stat"]))
            self.progress = now
        elif command == cmpp.ACTIVE_TEST:
            c.outbuf += cmpp.encode_active_test_resp(seq)
        else:
            self.tally.other[hex(command)] += 1


class Stalled(Exception):
    pass


# --- binding, and the PDUs of a run ------------------------------------------------------------------


def smpp_bind(agent: DoorsAgent, kind: int) -> SmppClient:
    client = SmppClient((HOST, agent.smpp_port))
    resp = client.bind(kind, system_id=SYSTEM_ID, password=SMPP_PASSWORD)
    if resp.status != 0:
        raise SystemExit(f"smpp bind refused: status 0x{resp.status:08X}")
    return client


def cmpp_connect(agent: DoorsAgent) -> CmppClient:
    client = CmppClient((HOST, agent.cmpp_port), version=cmpp.V2)
    status, _, _ = client.connect(SOURCE_ADDR, CMPP_SECRET)
    if status != 0:
        raise SystemExit(f"CMPP_CONNECT refused: Status {status}")
    return client


def number(n: int) -> str:
    return f"86139{n % 100_000_000:08d}"


def smpp_submits(first_seq: int, numbers: list[int]) -> list[tuple[int, bytes]]:
    out = []
    for i, n in enumerate(numbers):
        seq = first_seq + i
        out.append((seq, smpp.encode(smpp.SUBMIT_SM, seq, fields={
            "source_addr_ton": 0, "source_addr_npi": 0, "source_addr": "10690001", "dest_addr_ton": 1,
            "dest_addr_npi": 1, "destination_addr": number(n), "registered_delivery": 1, "data_coding": 0,
            "short_message": SMPP_TEXT})))
    return out[::-1]  # popped from the end


def cmpp_submits(first_seq: int, numbers: list[int]) -> list[tuple[int, bytes]]:
    out = []
    for i, n in enumerate(numbers):
        seq = first_seq + i
        out.append((seq, cmpp_client.encode_submit(seq, version=cmpp.V2, dest_terminal_ids=[number(n)],
                                                   content=CMPP_TEXT, msg_fmt=15, src_id="10690001",
                                                   msg_src=SOURCE_ADDR, registered_delivery=1)))
    return out[::-1]


# --- one run: a door, a number of sessions ------------------------------------------------------------


@dataclass
class Result:
    door: str
    sessions: int
    count: int
    accepted: int = 0
    refused: int = 0
    submit_s: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    p_max: float = 0.0
    rows: int = -1
    sent: int = 0  # rows sent by the lines at the last submit answer
    cpu_submit: float = 0.0  # ms per accepted submit, submit phase
    cpu_total: float = 0.0  # ms per message, whole run
    receipts: int = 0
    duplicates: int = 0
    unknown: int = 0  # receipts for an id the agent never gave out
    missing: int = 0
    time_only: int = 0  # CMPP: a receipt's Msg_Id differs from the submit's in its time fields only
    stats: Counter = field(default_factory=Counter)
    receipt_rate: float = 0.0
    receipt_span: float = 0.0
    lag: float = 0.0  # last receipt after the last submit answer
    problems: list[str] = field(default_factory=list)


def run_door(door: str, sessions: int, count: int, window: int, linger: float) -> Result:
    res = Result(door, sessions, count)
    agent = DoorsAgent()
    loop = None
    try:
        per = [list(range(i, count, sessions)) for i in range(sessions)]
        clients: list[Client] = []
        if door == "smpp":
            receiver = smpp_bind(agent, smpp.BIND_TRANSCEIVER)
            clients.append(Client("smpp", receiver.sock, window=window))
            for numbers in per:
                c = smpp_bind(agent, smpp.BIND_TRANSMITTER)
                clients.append(Client("smpp", c.sock, smpp_submits(c.seq + 1, numbers), window))
        else:
            for numbers in per:
                c = cmpp_connect(agent)
                clients.append(Client("cmpp", c.sock, cmpp_submits(c.seq + 1, numbers), window, version=cmpp.V2))
        tally = Tally()
        loop = Loop(clients, tally)
        cpu0 = cpu_seconds(agent.pid)
        t0 = time.monotonic()
        try:
            loop.run(lambda: loop.pending() == 0, "submit responses")
        except Stalled as exc:
            res.problems.append(f"submit phase: {exc}")
        t1 = tally.last_answer or time.monotonic()
        cpu1 = cpu_seconds(agent.pid)
        res.rows = agent.count()  # every accepted submit is in by now: committed before its answer
        res.sent = agent.count("S")
        res.accepted = tally.statuses.get(0, 0)
        res.refused = sum(tally.statuses.values()) - res.accepted
        if tally.latencies:
            res.submit_s = res.accepted / max(t1 - t0, 1e-9)
            res.p50, res.p99 = percentile(tally.latencies, 50), percentile(tally.latencies, 99)
            res.p_max = max(tally.latencies)
        res.cpu_submit = (cpu1 - cpu0) * 1000 / max(res.accepted, 1)
        if not res.problems:
            try:
                loop.run(lambda: len(tally.receipts) >= res.accepted, "receipts")
                end = time.monotonic() + linger  # anything more now would be a duplicate
                loop.run(lambda: time.monotonic() >= end, "late receipts")
            except Stalled as exc:
                res.problems.append(f"receipt phase: {exc}")
        cpu2 = cpu_seconds(agent.pid)
        res.cpu_total = (cpu2 - cpu0) * 1000 / max(res.accepted, 1)
        seen = Counter(rid for _, rid, _ in tally.receipts)
        res.receipts = len(tally.receipts)
        res.duplicates = sum(n - 1 for n in seen.values() if n > 1)
        res.unknown = sum(1 for rid in seen if rid not in tally.ids)
        res.missing = len(tally.ids - set(seen))
        res.stats = Counter(stat for _, _, stat in tally.receipts)
        if door == "cmpp":
            given_low = {i & ((1 << 38) - 1) for i in tally.ids}
            res.time_only = sum(1 for rid in seen if rid not in tally.ids and isinstance(rid, int)
                                and rid & ((1 << 38) - 1) in given_low)
        if len(tally.receipts) > 1:
            first, last = tally.receipts[0][0], tally.receipts[-1][0]
            res.receipt_span = last - first
            res.receipt_rate = (len(tally.receipts) - 1) / max(last - first, 1e-9)
            res.lag = last - t1
        # the checks
        if res.refused:
            res.problems.append(f"{res.refused} submit(s) refused: statuses {dict(tally.statuses)}")
        if res.accepted != count:
            res.problems.append(f"{res.accepted} of {count} submits accepted")
        if res.rows != res.accepted:
            res.problems.append(f"smsserver_out has {res.rows} rows after {res.accepted} accepted submits")
        if len(tally.ids) != res.accepted:
            res.problems.append(f"{res.accepted} submits accepted but {len(tally.ids)} distinct ids given")
        if res.receipts != res.accepted or res.duplicates or res.unknown or res.missing:
            res.problems.append(f"receipts: {res.receipts} for {res.accepted} accepted, {res.duplicates} duplicated, "
                                f"{res.unknown} for an id never given, {res.missing} id(s) without one"
                                + (f"; {res.time_only} of them a Msg_Id that differs from the CMPP_SUBMIT_RESP's in"
                                   f" its time fields only (same task and part)" if res.time_only else ""))
        if set(res.stats) - {"DELIVRD"}:
            res.problems.append(f"receipt states: {dict(res.stats)}")
        if tally.other:
            res.problems.append(f"unexpected PDUs: {dict(tally.other)}")
        if res.missing and res.missing > res.time_only:
            tasks = sorted({_low(i) for i in tally.ids - set(seen)} - {_low(r) for r in seen})
            res.problems.append("no receipt at all for task(s) " + str(tasks[:10]) + ":\n    "
                                + agent.diagnose(door, tasks[:10]).replace("\n", "\n    "))
        if tally.ids and res.unknown:
            stray = [rid for rid in seen if rid not in tally.ids][:3]
            near = sorted(tally.ids, key=lambda i: abs(_low(i) - _low(stray[0])))[:1] if stray else []
            res.problems.append(f"  e.g. receipt id(s) {[_show(door, r) for r in stray]}; nearest given id "
                                f"{[_show(door, r) for r in near]}")
        return res
    finally:
        if loop is not None:
            loop.close()
        if res.problems:
            log = agent.tail(1500).strip()
            if log:
                res.problems.append("agent log tail:\n    " + log.replace("\n", "\n    "))
        agent.stop()


def _low(message_id: object) -> int:
    """The task part of an id, to find the nearest one (SMPP '123', CMPP 64-bit Msg_Id)."""
    if isinstance(message_id, int):
        return (message_id & ((1 << 38) - 1)) >> 8
    head = str(message_id).partition(".")[0]
    return int(head) if head.isdigit() else 0


def _show(door: str, message_id: object) -> str:
    if door == "cmpp" and isinstance(message_id, int):
        m = message_id
        return (f"{m} (month {m >> 60} day {(m >> 55) & 31} {(m >> 50) & 31:02d}:{(m >> 44) & 63:02d}:"
                f"{(m >> 38) & 63:02d} task {_low(m)} part {m & 0xFF})")
    return str(message_id)


# --- idle, and the HTTP comparison ---------------------------------------------------------------------


def idle(seconds: float, settle: float) -> tuple[float, float]:
    """(CPU %, CPU ms) of the agent over ``seconds`` with one bound session of each door, doing nothing."""
    agent = DoorsAgent()
    clients = []
    try:
        clients = [smpp_bind(agent, smpp.BIND_TRANSCEIVER), cmpp_connect(agent)]
        time.sleep(settle)  # let the start-up settle
        before = cpu_seconds(agent.pid)
        time.sleep(seconds)
        used = cpu_seconds(agent.pid) - before
        return used / seconds * 100, used * 1000
    finally:
        for c in clients:
            c.close()
        agent.stop()


def http_goip(seconds: float) -> dict[str, float]:
    """bench_http.py's GoIP sendsms, one recipient, 8 keep-alive clients in a spawned process."""
    agent = bench_http.Agent()
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            cpu0 = cpu_seconds(agent.proc.pid)
            result = pool.submit(bench_http.load, agent.port, "goip", seconds, bench_http.CLIENTS).result()
            cpu = cpu_seconds(agent.proc.pid) - cpu0
        lat, errors = result["latencies"], result["errors"]
        if not lat:
            raise SystemExit(f"HTTP GoIP sendsms: no request answered; {errors[:3]}")
        return {"rate": len(lat) / result["elapsed"], "p50": percentile(lat, 50), "p99": percentile(lat, 99),
                "cpu": cpu / len(lat) * 1000, "requests": len(lat), "errors": len(errors),
                "rows": agent.count(), "sent": agent.count("S")}
    finally:
        agent.stop()


# --- the table ---------------------------------------------------------------------------------------------


HEADERS = ("door", "sess", "win", "accepted", "submit/s", "p50 ms", "p99 ms", "max ms", "rows=acc",
           "sent@end", "CPU ms/sub", "receipts", "dup", "rcpt/s", "rcpt lag s", "CPU ms/msg all")


def table(results: list[Result], window: int) -> str:
    rows = [HEADERS]
    for r in results:
        rows.append((r.door.upper(), str(r.sessions), str(window), f"{r.accepted}/{r.count}", f"{r.submit_s:.0f}",
                     f"{r.p50 * 1000:.1f}", f"{r.p99 * 1000:.1f}", f"{r.p_max * 1000:.1f}",
                     "yes" if r.rows == r.accepted else f"NO ({r.rows})", str(r.sent), f"{r.cpu_submit:.2f}",
                     f"{r.receipts}", str(r.duplicates), f"{r.receipt_rate:.0f}", f"{r.lag:.2f}",
                     f"{r.cpu_total:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=None, help="messages per run (default 2000; --quick 100)")
    parser.add_argument("--sessions", default="1,4", help="comma-separated session counts (default 1,4)")
    parser.add_argument("--window", type=int, default=10, help="outstanding submits per session (default 10)")
    parser.add_argument("--doors", default="smpp,cmpp", help="comma-separated doors (default smpp,cmpp)")
    parser.add_argument("--idle-seconds", type=float, default=None, help="idle CPU measurement (default 10; "
                        "--quick 2; 0 skips)")
    parser.add_argument("--http-seconds", type=float, default=None, help="HTTP GoIP comparison (default 10; "
                        "--quick 2; 0 skips)")
    parser.add_argument("--quick", action="store_true", help="small counts and short runs, for a smoke test")
    args = parser.parse_args()
    count = args.count or (100 if args.quick else 2000)
    idle_s = args.idle_seconds if args.idle_seconds is not None else (2.0 if args.quick else 10.0)
    http_s = args.http_seconds if args.http_seconds is not None else (2.0 if args.quick else 10.0)
    linger = 0.3 if args.quick else 1.0
    sessions = [int(s) for s in args.sessions.split(",") if s.strip()]
    if any(s < 1 or s > 7 for s in sessions):
        parser.error("sessions: 1 to 7 (the doors' max_sessions is 8, one SMPP session receives)")
    # A SIGTERM / SIGHUP ends this bench the way Ctrl-C does: the finally clauses stop the agents.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))

    print(f"bench_doors: {count} messages per run, window {args.window}, sessions {sessions}, "
          f"4 simulated lines at zero delay, {os.cpu_count()} CPUs", flush=True)
    results: list[Result] = []
    for door in [d.strip() for d in args.doors.split(",") if d.strip()]:
        for s in sessions:
            r = run_door(door, s, count, args.window, linger)
            print(f"  {door} x{s}: {r.accepted} accepted, {r.submit_s:.0f}/s, {r.receipts} receipts"
                  + (" -- PROBLEMS" if r.problems else ""), flush=True)
            results.append(r)
    print()
    print(table(results, args.window))
    print("\n(latency: submit written -> its response read; rcpt/s: first to last receipt; rcpt lag: last receipt "
          "after the last submit answer;\n sent@end: rows the lines had sent at the last submit answer; "
          "CPU ms/sub: agent CPU during the submit phase (which already sends and "
          "reports) / accepted; CPU ms/msg all: through the last receipt)")
    failed = [r for r in results if r.problems]
    for r in failed:
        print(f"\nCHECK FAILED {r.door} x{r.sessions}:")
        for p in r.problems:
            print(f"  {p}")
    if idle_s > 0:
        pct, ms = idle(idle_s, 0.5 if args.quick else 2.0)
        print(f"\nidle, one bound SMPP transceiver and one CMPP session: agent CPU {pct:.2f} % over {idle_s:g} s "
              f"({ms:.0f} ms)")
    if http_s > 0:
        h = http_goip(http_s)
        print(f"HTTP GoIP sendsms, 1 recipient, {bench_http.CLIENTS} keep-alive clients (bench_http.py): "
              f"{h['rate']:.0f} requests/s, p50 {h['p50'] * 1000:.1f} ms, p99 {h['p99'] * 1000:.1f} ms, "
              f"agent CPU {h['cpu']:.2f} ms/request ({h['requests']} requests, {h['errors']} errors, {h['rows']} rows,"
              f" {http_s:g} s; meanwhile the lines sent {h['sent']})")
    else:
        print("HTTP comparison skipped; run: python bench/bench_http.py --only goip")
    print("\nresult: " + ("FAILED" if failed else "all checks passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        _stop_all()
        print("\ninterrupted; agents stopped", file=sys.stderr)
        sys.exit(130)
    except SystemExit as exc:
        if isinstance(exc.code, str):  # the bench could not run (an agent never ready, a bind refused)
            print(exc.code, file=sys.stderr)
            sys.exit(2)
        raise
    except Exception:  # the bench itself broke: 2, apart from 1 (a check on the agent failed)
        import traceback
        traceback.print_exc()
        sys.exit(2)
    finally:
        _stop_all()
