"""Hostile clients against the binary doors (SMPP and CMPP) of a running agent.

Starts the agent in this process (:class:`agent.app.App`: simulated modems, the
SMPP and CMPP doors on 127.0.0.1 and free ports, the queue, the router, the HTTP
server on a free port; loopback only).  Then, over many TCP connections, sends
``--count`` PDUs to the two doors, half each.  A connection starts with a valid
bind / CMPP_CONNECT most of the time (else a mutated or wrong one) and goes on
with a burst of 1 to 120 PDUs: first kinds a session survives,

* ``valid_submit``: a well-formed submit_sm / CMPP_SUBMIT (sometimes one part of
  a client-split message, sometimes several recipients);
* ``mutated``: a valid PDU of the door's protocol (submit, data_sm, query_sm,
  deliver_sm_resp, a second bind, cancel_sm, CMPP_QUERY, CMPP_CANCEL...) with
  bytes flipped, set to edge values, inserted or deleted, NULs added or removed,
  its command id swapped (an unbind, a response...), its length kept honest 19
  times in 20;
* ``random``: random bytes with an honest length header;
* ``stray``: responses to requests the agent never made, unknown command ids;
* ``keepalive``: enquire_link / CMPP_ACTIVE_TEST;

then, most of the time, one after which the stream is out of step or the
session ends:

* ``noise``: random bytes; ``truncated``: the first part of a PDU only;
* ``length_lie``: a valid PDU whose length header says more or less than it is;
* ``huge``: a length header of up to 2^32-1 with a few bytes behind it;
* ``unbind``: an unbind / CMPP_TERMINATE.

After the burst the client closes its sending side and reads what the agent
answered until the agent closes.  Answers are counted by command and status;
the task id of every accepted submit is kept.

At the end: both listener threads alive, both doors still bind and accept a
valid submit, no exception in the agent's log (records with a traceback or at
ERROR, and 'Traceback' in its formatted output: 0), no row in smsserver_out
whose task no accepted submit named (rows from refused PDUs: 0), ``PRAGMA
integrity_check`` ok.  Exit status 1 when one of these fails.

    python bench/fuzz_doors.py [--count 100000] [--seed 1] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import random
import re
import socket
import sqlite3
import struct
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.app import App  # noqa: E402
from agent.codec import cmpp, cmpp_client, smpp  # noqa: E402
from agent.config import parse  # noqa: E402
from agent.doors.ids import cmpp_task, smpp_task  # noqa: E402

SYSTEM_ID, PASSWORD = "fuzz", "secret12"
SOURCE_ADDR, SECRET = "fuzz01", "123456"
# Kinds a session survives (the agent answers or ignores them and reads on), and the kinds
# after which the stream is out of step or the session ends: those come last in a burst.
KINDS = ["valid_submit", "mutated", "random", "stray", "keepalive"]
WEIGHTS = [12, 60, 8, 10, 10]
LAST = ["noise", "length_lie", "huge", "truncated", "unbind", "none"]
LAST_WEIGHTS = [10, 20, 10, 15, 15, 30]
READ_TIMEOUT = 5.0
EDGES = (0x00, 0xFF, 0x7F, 0x80, 0x01)
_SERIAL = itertools.count(1)  # each submit's text carries a number of its own


def serial(pdus: Any) -> int:
    n = next(_SERIAL)
    pdus.serials.append(n)
    return n


_SMPP_STATUS = {v: k for k, v in vars(smpp).items() if k.startswith("ESME_") and isinstance(v, int)}


class ErrorLog(logging.Handler):
    """Counts log records at ERROR or with a traceback, and 'Traceback' in their text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.count = 0
        self.tracebacks = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.tracebacks += text.count("Traceback")
        if record.levelno >= logging.ERROR or record.exc_info:
            self.count += 1
            if len(self.first) < 5:
                self.first.append(text[:3000])


# --- PDUs ------------------------------------------------------------------------------------


def mutate(rng: random.Random, data: bytes, honest: float = 0.95) -> bytes:
    """One to four random injuries, then (``honest`` of the time) an honest length header."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        i = rng.randrange(len(b)) if b else 0
        if op == 0 and b:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[i] = rng.choice(EDGES)
        elif op == 2:
            b[i:i] = rng.randbytes(rng.randint(1, 16))
        elif op == 3 and len(b) > 16:
            del b[i:i + rng.randint(1, 12)]
        elif op == 4 and len(b) > 16:
            j = rng.randrange(12, len(b))  # a NUL removed or added in the body
            b[j:j + 1] = b"" if b[j] == 0 else b"\0"
        elif len(b) >= 8:  # command id of another PDU
            b[4:8] = rng.choice([0x4, 0x5, 0x6, 0x7, 0x8, 0x9, 0x15, 0x80000004, 0x80000005, 0x103, 0x21, 0x80000009,
                                 0xFFFFFFFF, 0x00000002, 0x00000001]).to_bytes(4, "big")
    if len(b) >= 4 and rng.random() < honest:
        b[:4] = len(b).to_bytes(4, "big")
    return bytes(b)


def length_lie(rng: random.Random, data: bytes) -> bytes:
    lie = rng.choice([len(data) + rng.randint(1, 200), max(0, len(data) - rng.randint(1, len(data))),
                      rng.randint(0, 15), 4096, 4097])
    return lie.to_bytes(4, "big") + data[4:]


class SmppPdus:
    """PDUs for the SMPP door."""

    name = "smpp"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.serials: list[int] = []  # the numbers in the texts of this connection's submits

    def bind(self, seq: int) -> tuple[bytes, bool]:
        kind = self.rng.choice([smpp.BIND_TRANSCEIVER, smpp.BIND_TRANSMITTER, smpp.BIND_RECEIVER,
                                smpp.BIND_TRANSCEIVER])
        pick = self.rng.random()
        system_id, password = SYSTEM_ID, PASSWORD
        if pick > 0.97:
            password = self.rng.choice(["wrong", "", "secret1", "SECRET12"])
        data = smpp.encode(kind, seq, fields={"system_id": system_id, "password": password,
                                              "system_type": self.rng.choice(["", "UDH"]),
                                              "interface_version": 0x34})
        if 0.9 < pick <= 0.97:
            return mutate(self.rng, data, 0.8), False
        return data, pick <= 0.9

    def submit(self, seq: int) -> bytes:
        rng = self.rng
        fields: dict[str, Any] = {"source_addr": rng.choice(["1234", "", "Shop"]),
                                  "destination_addr": f"138{rng.randrange(10**8):08d}",
                                  "dest_addr_ton": rng.choice([0, 1]), "registered_delivery": rng.choice([0, 1]),
                                  "data_coding": 0, "priority_flag": rng.randint(0, 3)}
        tlvs = None
        pick = rng.random()
        if pick < 0.6:
            fields["short_message"] = f"fuzz {serial(self)}".encode()
        elif pick < 0.75:
            fields["data_coding"] = 8
            fields["short_message"] = f"模糊测试 {serial(self)}".encode("utf-16-be")
        elif pick < 0.9:
            total = rng.randint(2, 4)
            udh = smpp.udh_bytes(smpp.Udh(rng.randrange(256), total, rng.randint(1, total), 8))
            fields["esm_class"] = 0x40
            fields["short_message"] = udh + f"part {serial(self)} ".encode()
        else:
            fields["short_message"] = b""
            tlvs = [(smpp.MESSAGE_PAYLOAD, f"payload {serial(self)} ".encode() * rng.randint(1, 40))]
        return smpp.encode(smpp.SUBMIT_SM, seq, fields=fields, tlvs=tlvs)

    def others(self, seq: int) -> bytes:
        rng = self.rng
        return rng.choice([
            lambda: self.submit(seq),
            lambda: self.submit(seq),
            lambda: smpp.encode(smpp.DATA_SM, seq, fields={"source_addr": "1", "destination_addr": "13800138000",
                                                           "data_coding": 0},
                                tlvs=[(smpp.MESSAGE_PAYLOAD, b"data sm")]),
            lambda: smpp.encode(smpp.QUERY_SM, seq, fields={"message_id": rng.choice([str(rng.randrange(-5, 10**6)),
                                                                           "9" * rng.randint(19, 64)]),
                                                            "source_addr": "1"}),
            lambda: smpp.encode(smpp.DELIVER_SM_RESP, seq, fields={"message_id": ""}),
            lambda: smpp.encode(smpp.BIND_TRANSCEIVER, seq, fields={"system_id": SYSTEM_ID, "password": PASSWORD}),
            lambda: smpp.encode(smpp.CANCEL_SM, seq, fields={"message_id": "1", "source_addr": "1",
                                                             "destination_addr": "2"}),
        ])()

    def stray(self, seq: int) -> bytes:
        rng = self.rng
        cid = rng.choice([smpp.DELIVER_SM_RESP, smpp.GENERIC_NACK, smpp.ENQUIRE_LINK_RESP, smpp.UNBIND_RESP,
                          smpp.SUBMIT_SM_RESP, 0x0000FFFF, 0x80000000, 0x7FFFFFFF])
        return struct.pack(">IIII", 16, cid, rng.choice([0, 8, 0x64]), rng.randrange(2**32))

    def keepalive(self, seq: int) -> bytes:
        return smpp.encode(smpp.ENQUIRE_LINK, seq)

    def unbind(self, seq: int) -> bytes:
        return smpp.encode(smpp.UNBIND, seq)


class CmppPdus:
    """PDUs for the CMPP door, CMPP 2.0 or 3.0 by connection."""

    name = "cmpp"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.serials: list[int] = []
        self.version = cmpp.V2

    def bind(self, seq: int) -> tuple[bytes, bool]:
        self.version = self.rng.choice([cmpp.V2, cmpp.V3])
        pick = self.rng.random()
        source, secret = SOURCE_ADDR, SECRET
        if pick > 0.97:
            source, secret = self.rng.choice([(SOURCE_ADDR, "wrong"), ("nobody", SECRET)])
        data = cmpp_client.encode_connect(seq, source, secret, int(time.strftime("%m%d%H%M%S")), self.version)
        if 0.9 < pick <= 0.97:
            return mutate(self.rng, data, 0.8), False
        return data, pick <= 0.9

    def submit(self, seq: int) -> bytes:
        rng = self.rng
        dests = [f"139{rng.randrange(10**8):08d}" for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        kw: dict[str, Any] = {"registered_delivery": rng.choice([0, 1]), "msg_level": rng.randint(0, 9),
                              "src_id": rng.choice(["10086", ""])}
        pick = rng.random()
        if pick < 0.5:
            kw.update(msg_fmt=0, content=f"fuzz {serial(self)}".encode())
        elif pick < 0.75:
            kw.update(msg_fmt=8, content=f"模糊测试 {serial(self)}".encode("utf-16-be"))
        elif pick < 0.85:
            kw.update(msg_fmt=15, content=f"模糊 {serial(self)}".encode("gbk"))
        else:
            total = rng.randint(2, 4)
            number = rng.randint(1, total)
            kw.update(msg_fmt=0, tp_udhi=1, pk_total=total, pk_number=number,
                      content=bytes([5, 0, 3, rng.randrange(256), total, number]) + f"part {serial(self)} ".encode())
        return cmpp_client.encode_submit(seq, version=self.version, dest_terminal_ids=dests, **kw)

    def others(self, seq: int) -> bytes:
        rng = self.rng
        return rng.choice([
            lambda: self.submit(seq),
            lambda: self.submit(seq),
            lambda: cmpp_client.encode_deliver_resp(seq, rng.randrange(2**64), rng.choice([0, 1, 9]), self.version),
            lambda: cmpp.frame(cmpp.QUERY, seq, b"20240101" + b"\0" + b"\0" * 10 + b"\0" * 8),
            lambda: cmpp.frame(cmpp.CANCEL, seq, rng.randbytes(8)),
            lambda: cmpp_client.encode_connect(seq, SOURCE_ADDR, SECRET, 0, self.version),
        ])()

    def stray(self, seq: int) -> bytes:
        rng = self.rng
        cid = rng.choice([cmpp.DELIVER_RESP, cmpp.ACTIVE_TEST_RESP, cmpp.TERMINATE_RESP, cmpp.SUBMIT_RESP,
                          cmpp.FWD, 0x0000FFFF, 0x80000000])
        return struct.pack("!III", 12, cid, rng.randrange(2**32)) + rng.randbytes(rng.choice([0, 1, 4, 9]))

    def keepalive(self, seq: int) -> bytes:
        return cmpp.encode_active_test(seq)

    def unbind(self, seq: int) -> bytes:
        return cmpp.encode_terminate(seq)


# --- connections ------------------------------------------------------------------------------------


class Figures:
    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()  # per door
        self.kinds: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()
        self.connections: Counter[str] = Counter()
        self.refused_connections: Counter[str] = Counter()  # connect() failed: the door is gone
        self.closed_by_agent_early: Counter[str] = Counter()  # a PDU could not be written
        self.accepted_tasks: set[int] = set()
        self.valid_accepted = 0
        self.unanswered_reads = 0  # a read that timed out (the agent neither answered nor closed)
        # Reads cut by a reset: the agent closed while PDUs of ours were unread, and the client's
        # kernel dropped what it had received and not yet read (answers included).
        self.reads_reset = 0
        self.reset_serials: set[int] = set()


def _frames(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i + 4 <= len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        if n < 12 or i + n > len(data):
            break
        out.append(data[i:i + n])
        i += n
    return out


def _answers(door: str, data: bytes, figures: Figures, valid_seqs: set[int]) -> None:
    for frame in _frames(data):
        cid, seq = struct.unpack("!4xII", frame[:12])
        if door == "smpp":
            status = struct.unpack("!I", frame[8:12])[0]
            seq = struct.unpack("!I", frame[12:16])[0] if len(frame) >= 16 else 0
            name = smpp.NAMES.get(cid, f"0x{cid:08X}")
            figures.answers[f"smpp {name} {_SMPP_STATUS.get(status, hex(status))}"] += 1
            if cid in (smpp.SUBMIT_SM_RESP, smpp.DATA_SM_RESP) and status == 0:
                try:
                    found = smpp_task(str(smpp.decode(frame).fields.get("message_id", "")))
                except smpp.PduError:
                    found = None
                if found:
                    figures.accepted_tasks.add(found[0])
                    figures.valid_accepted += seq in valid_seqs
        else:
            if cid == cmpp.SUBMIT_RESP:  # the session's version, by the answer's length (2.0: 21, 3.0: 24)
                msg_id, result = cmpp_client.decode_submit_resp(frame, cmpp.V3 if len(frame) == 24 else cmpp.V2)
                figures.answers[f"cmpp CMPP_SUBMIT_RESP Result {result}"] += 1
                if result == 0:
                    figures.accepted_tasks.add(cmpp_task(msg_id)[0])
                    figures.valid_accepted += seq in valid_seqs
            elif cid == cmpp.CONNECT_RESP:
                status = frame[12] if len(frame) == 30 else int.from_bytes(frame[12:16], "big")
                figures.answers[f"cmpp CMPP_CONNECT_RESP Status {status}"] += 1
            else:
                figures.answers[f"cmpp 0x{cid:08X}"] += 1


def connection(address: tuple[str, int], pdus: Any, rng: random.Random, budget: int, figures: Figures) -> int:
    """One hostile connection; return the PDUs it sent."""
    door = pdus.name
    pdus.serials = []
    try:
        sock = socket.create_connection(address, timeout=READ_TIMEOUT)
    except OSError:
        figures.refused_connections[door] += 1
        return 0
    figures.connections[door] += 1
    burst: list[tuple[str, bytes, int]] = []
    seq = rng.randrange(1, 2**31 - 200)
    valid_seqs: set[int] = set()
    if rng.random() < 0.95:
        data, _ = pdus.bind(seq)
        burst.append(("bind", data, seq))
    length = min(budget - len(burst), rng.randint(1, 120))
    last = rng.choices(LAST, LAST_WEIGHTS)[0]
    for i in range(length):
        seq += 1
        kind = last if i == length - 1 and last != "none" else rng.choices(KINDS, WEIGHTS)[0]
        if kind == "valid_submit":
            data = pdus.submit(seq)
            valid_seqs.add(seq)
        elif kind == "mutated":
            data = mutate(rng, pdus.others(seq))
        elif kind == "random":
            body = rng.randbytes(rng.randint(8, 300))
            data = (len(body) + 4).to_bytes(4, "big") + body
        elif kind == "noise":
            data = rng.randbytes(rng.randint(1, 300))
        elif kind == "length_lie":
            data = length_lie(rng, pdus.others(seq))
        elif kind == "huge":
            data = rng.choice([2**32 - 1, 2**31, 65536, 4097]).to_bytes(4, "big") + rng.randbytes(rng.randint(0, 64))
        elif kind == "truncated":
            full = pdus.others(seq)
            data = full[:rng.randint(1, len(full) - 1)]
        elif kind == "stray":
            data = pdus.stray(seq)
        elif kind == "unbind":
            data = pdus.unbind(seq)
        else:
            data = pdus.keepalive(seq)
        burst.append((kind, data, seq))
    sent = 0
    try:
        for kind, data, _ in burst:
            try:
                sock.sendall(data)
            except OSError:  # reset by the agent: what it answered before may be dropped too
                figures.closed_by_agent_early[door] += 1
                figures.reset_serials.update(pdus.serials)
                break
            sent += 1
            figures.kinds[f"{door} {kind}"] += 1
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        got = bytearray()
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                figures.unanswered_reads += 1
                break
            except OSError:
                figures.reads_reset += 1
                figures.reset_serials.update(pdus.serials)
                break
            if not chunk:
                break
            got += chunk
    finally:
        sock.close()
    _answers(door, bytes(got), figures, valid_seqs)
    figures.sent[door] += sent
    return sent


def campaign(smpp_address: tuple[str, int], cmpp_address: tuple[str, int], count: int, seed: int) -> Figures:
    """``count`` PDUs, half to each door, over as many connections as it takes."""
    figures = Figures()
    lock = threading.Lock()

    def worker(door: str, address: tuple[str, int], share: int, wseed: int) -> None:
        rng = random.Random(wseed)
        pdus = SmppPdus(rng) if door == "smpp" else CmppPdus(rng)
        mine = Figures()
        done = idle = 0
        while done < share and idle < 100:  # 100 connections in a row that sent nothing: the door is gone
            sent = connection(address, pdus, rng, share - done, mine)
            done += sent
            idle = 0 if sent else idle + 1
        with lock:
            for name in ("sent", "kinds", "answers", "connections", "refused_connections", "closed_by_agent_early"):
                getattr(figures, name).update(getattr(mine, name))
            figures.accepted_tasks |= mine.accepted_tasks
            figures.valid_accepted += mine.valid_accepted
            figures.unanswered_reads += mine.unanswered_reads
            figures.reads_reset += mine.reads_reset
            figures.reset_serials |= mine.reset_serials

    workers = []
    per_door = 2  # two concurrent clients per door
    for d, (door, address) in enumerate((("smpp", smpp_address), ("cmpp", cmpp_address))):
        for w in range(per_door):
            share = count // 2 // per_door + (1 if d * per_door + w < count % 4 else 0)
            workers.append(threading.Thread(target=worker, args=(door, address, share, seed * 100 + d * 10 + w)))
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return figures


# --- the agent ---------------------------------------------------------------------------------


def still_serves(smpp_address: tuple[str, int], cmpp_address: tuple[str, int]) -> tuple[bool, bool, set[int]]:
    """A valid bind and submit on each door; the tasks they made."""
    from tests.doors.clients import CmppClient, SmppClient

    tasks: set[int] = set()
    s = SmppClient(smpp_address)
    try:
        ok_smpp = s.bind(system_id=SYSTEM_ID, password=PASSWORD).status == 0
        resp = s.submit("13800138000", "after the fuzz")
        ok_smpp = ok_smpp and resp.status == 0
        if resp.status == 0:
            tasks.add(int(resp.fields["message_id"]))
    finally:
        s.close()
    c = CmppClient(cmpp_address, cmpp.V3)
    try:
        ok_cmpp = c.connect(SOURCE_ADDR, SECRET)[0] == 0
        msg_id, result = c.submit(["13900139000"], b"after the fuzz", msg_fmt=0)
        ok_cmpp = ok_cmpp and result == 0
        if result == 0:
            tasks.add(cmpp_task(msg_id)[0])
    finally:
        c.close()
    return ok_smpp, ok_cmpp, tasks


def run(count: int, seed: int, directory: Path) -> dict[str, Any]:
    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    root.setLevel(logging.WARNING)
    hooked: list[str] = []
    previous_hook = threading.excepthook

    def hook(args: Any) -> None:
        hooked.append("".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))

    threading.excepthook = hook
    timers = "max_sessions = 64\nbind_timeout = 10\nresponse_timeout = 10\n"
    config = parse(f"[agent]\nid = fuzz-doors\nstate_dir = state\nlog_level = WARNING\n"
                   f"[http]\nhost = 127.0.0.1\nport = 0\n[queue]\npoll_interval = 0.1\nretry_backoff = 0\n"
                   f"[simulator]\nlines = 2\nsend_delay = 0\nreport_delay = 0\n"
                   f"[smpp]\nlisten = 127.0.0.1:0\nsystem_id = {SYSTEM_ID}\npassword = {PASSWORD}\n{timers}"
                   f"[cmpp]\nlisten = 127.0.0.1:0\nsource_addr = {SOURCE_ADDR}\npassword = {SECRET}\n{timers}",
                   base_dir=directory)
    db = config.agent.database
    app = App(config)
    try:
        app.start()
        doors = {d.name: d for d in app.doors}
        smpp_address, cmpp_address = doors["smpp"].address, doors["cmpp"].address
        started = time.monotonic()
        figures = campaign(smpp_address, cmpp_address, count, seed)
        elapsed = time.monotonic() - started
        alive = {name: d.alive for name, d in doors.items()}
        try:
            ok_smpp, ok_cmpp, final_tasks = still_serves(smpp_address, cmpp_address)
        except (OSError, AssertionError) as exc:
            hooked.append(f"the final bind and submit failed: {exc!r}")
            ok_smpp = ok_cmpp = False
            final_tasks = set()
        sessions_total = {name: d.listener.sessions_total for name, d in doors.items()}
    finally:
        app.stop(10)
        root.removeHandler(errors)
        threading.excepthook = previous_hook
    con = sqlite3.connect(db, timeout=10)
    try:
        integrity = str(con.execute("PRAGMA integrity_check").fetchone()[0])
        rows = con.execute("SELECT task_id, text FROM smsserver_out").fetchall()
    finally:
        con.close()
    known = figures.accepted_tasks | final_tasks
    untraced = [(task, text) for task, text in rows if task not in known]
    # A row whose answer a reset dropped is not a refused PDU's: its text names a submit of such a connection.
    lost = [r for r in untraced if {int(n) for n in re.findall(r"[0-9]+", r[1] or "")} & figures.reset_serials]
    stray = [r for r in untraced if r not in lost]
    total = sum(figures.sent.values())
    return {
        "seed": seed, "pdus": count, "pdus_sent": dict(figures.sent), "connections": dict(figures.connections),
        "sessions_seen_by_doors": sessions_total, "per_second": round(total / elapsed), "seconds": round(elapsed, 1),
        "kinds": dict(sorted(figures.kinds.items())),
        "answers": dict(sorted(figures.answers.items(), key=lambda kv: -kv[1])),
        "closed_by_agent_mid_burst": dict(figures.closed_by_agent_early),
        "connections_refused": dict(figures.refused_connections),
        "reads_timed_out": figures.unanswered_reads,
        "accepted_tasks": len(figures.accepted_tasks), "valid_submits_accepted": figures.valid_accepted,
        "reads_reset": figures.reads_reset,
        "rows_in_smsserver_out": len(rows), "rows_whose_answer_a_reset_dropped": len(lost),
        "rows_from_refused_pdus": len(stray), "rows_from_refused_pdus_first": stray[:5],
        "listeners_alive": alive, "smpp_still_binds_and_submits": ok_smpp, "cmpp_still_binds_and_submits": ok_cmpp,
        "exceptions": errors.count + len(hooked), "tracebacks_in_log": errors.tracebacks + len(hooked),
        "integrity_check": integrity, "first_errors": (errors.first + hooked)[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as tmp:
        figures = run(args.count, args.seed, Path(tmp))
    ok = (figures["exceptions"] == 0 and figures["tracebacks_in_log"] == 0 and figures["rows_from_refused_pdus"] == 0
          and all(figures["listeners_alive"].values()) and figures["smpp_still_binds_and_submits"]
          and figures["cmpp_still_binds_and_submits"] and figures["integrity_check"] == "ok"
          and sum(figures["pdus_sent"].values()) == figures["pdus"])
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        for key, value in figures.items():
            print(f"{key}: {value}")
        print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
