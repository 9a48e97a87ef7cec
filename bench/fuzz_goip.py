"""Mutation fuzzing of the GoIP UDP listener of a running agent.

Starts the agent in this process (:class:`agent.app.App`: 4 lines that are
channels of a GoIP box, the listener on 127.0.0.1 and a free port, the
queue, the router, the HTTP server on a free port; loopback only) and a
simulated box (:class:`agent.sim.SimGoip`) whose channels register with it.
Then hostile sockets on 127.0.0.1 send ``--count`` datagrams to the
listener, in turns of these kinds:

* ``mutated``: real datagrams of a box (keepalives, every event, the replies
  of a send session, USSD and command answers, built by the simulator's own
  wire module) carrying a wrong password or an unknown id, mutated: bytes
  flipped, inserted or cut, fields doubled, emptied or made huge, ``;`` ``:``
  NUL CR LF and blanks injected, invalid UTF-8, truncated;
* ``random``: random bytes, 0 to 1,500 of them;
* ``oversize``: more than ``[goip_udp] max_datagram`` bytes;
* ``unknown``: well-formed keepalives and events of ids no line names;
* ``wrong_password``: well-formed keepalives and events of the lines' ids;
* ``stray``: well-formed replies naming sessions and commands that are not ours.

The listener reads every datagram (the sender waits for it to catch up, so
the kernel drops none).  Printed: datagrams sent and read, dropped
(malformed, oversize), refused, strays, exceptions logged (must be 0), rows
created by those datagrams (must be 0), whether the lines' state is unchanged
(must be), that the real box still registers and every line still sends.

A second phase (``--authentic``, a tenth of the count by default) mutates
real datagrams that keep the right id and password: a box gone mad.  Those
may change a line's state and store messages; they must not raise (0
exceptions), and the lines must work again once the box sends its next
keepalive.  At the end, ``PRAGMA integrity_check``.  Exit status 1 when an
invariant failed.

    python bench/fuzz_goip.py [--count 100000] [--authentic N] [--seed 1] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import random
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.app import App  # noqa: E402
from agent.codec import goip_udp as wire  # noqa: E402
from agent.config import parse  # noqa: E402
from agent.errors import DatagramError  # noqa: E402
from agent.model import NewMessage  # noqa: E402
from agent.sim import SimGoip  # noqa: E402
from agent.sim import goip_wire as dev  # noqa: E402
from agent.sim.goip_channel import channel_specs  # noqa: E402

CHANNELS = 4
BATCH = 64  # datagrams sent before waiting for the listener to read them
pause = threading.Event()  # never set: pause.wait(s) waits without time.sleep

EVENTS: list[tuple[str, list[tuple[str, str]]]] = [
    ("RECEIVE", [("srcnum", "+8613800138000"), ("msg", "hello; a:b 你好")]),
    ("RECEIVE", [("srcnum", "10086"), ("smscnum", "+8613800100500"), ("msg", "x" * 300)]),
    ("DELIVER", [("sms_no", "17"), ("state", "0"), ("num", "13800138000")]),
    ("RECORD", [("dir", "1"), ("num", "13800138000")]),
    ("STATE", [("gsm_remain_state", "INCOMING:13800138000")]),
    ("REMAIN", [("gsm_remain_time", "-1")]),
    ("EXPIRY", [("exp", "3")]),
    ("HANGUP", [("num", "13800138000,cause:Normal call clearing")]),
    ("USSN", [("msg", "Your balance: 1.00")]),
    ("CELLS", [("lists", "1,2,3,")]),
    ("CELLINFO", [("info", '"LAC:7E5,CELL ID:5E5B"')]),
    ("BCCH", [("bcch", "12,34,")]),
    ("CGATT", [("cgatt", "1")]),
    ("AT", [("count", "1"), ("receive", "+CSQ: 20,99;OK")]),
    ("NUMRECORD", [("num", "1")]),
    ("WHATEVER", [("k", "v")]),
]
REPLIES = [b"PASSWORD {sid}\n", b"SEND {sid}\n", b"WAIT {sid} 1\n", b"OK {sid} 1 45\n", b"OK {sid} 1\n",
           b"ERROR {sid} 1 errorstatus:38\n", b"ERROR {sid} GSM_LOGOUT\n", b"ERROR {sid} SENDID\n",
           b"ERROR {sid} too_many_sends_in_server\n", b"DONE {sid}\n", b"USSD {sid} Balance 12.34@@",
           b"USSDERROR {sid} no", b"USSDEXIT {sid}", b"svr_reboot_module {sid} ok", b"get_gsm_num {sid} 138",
           b"GSM:{sid};get_gsm_num:138;get_exp_time:-1;get_remain_time:-1;get_gsm_state:IDLE"]
INJECT = [b";", b":", b"\x00", b" ", b"\r\n", b"\n", b"\xff", b"\xc3", b"\xed\xa0\x80", b";id:", b";password:",
          b";pass:", b"(null)", b"@", b"\t", "；：".encode(), b"-1", b"99999999999999999999"]


class Mutator:
    """Random damage to a datagram, drawn from ``rng``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self, data: bytes) -> bytes:
        for _ in range(self.rng.randint(1, 3)):
            data = self.rng.choice(self.ops)(data)
        return data

    @property
    def ops(self) -> list[Callable[[bytes], bytes]]:
        return [self.flip, self.insert, self.cut, self.truncate, self.double, self.empty, self.huge, self.swap,
                self.pad, self.case]

    def _at(self, data: bytes) -> int:
        return self.rng.randint(0, len(data))

    def flip(self, data: bytes) -> bytes:
        if not data:
            return bytes([self.rng.randrange(256)])
        i = self.rng.randrange(len(data))
        return data[:i] + bytes([self.rng.randrange(256)]) + data[i + 1:]

    def insert(self, data: bytes) -> bytes:
        i = self._at(data)
        return data[:i] + self.rng.choice(INJECT) + data[i:]

    def cut(self, data: bytes) -> bytes:
        i = self._at(data)
        return data[:i] + data[i + self.rng.randint(1, 12):]

    def truncate(self, data: bytes) -> bytes:
        return data[:self._at(data)]

    def double(self, data: bytes) -> bytes:
        parts = data.split(b";")
        if len(parts) > 1:
            parts.insert(self.rng.randrange(len(parts)), self.rng.choice(parts))
            return b";".join(parts)
        return data + b" " + data

    def empty(self, data: bytes) -> bytes:
        parts = data.split(b";")
        i = self.rng.randrange(len(parts))
        parts[i] = parts[i].split(b":", 1)[0] + b":"
        return b";".join(parts)

    def huge(self, data: bytes) -> bytes:
        i = self._at(data)
        return data[:i] + self.rng.choice([b"A", "好".encode(), b";", b":"]) * self.rng.randint(100, 1400) + data[i:]

    def swap(self, data: bytes) -> bytes:
        return data.translate(bytes.maketrans(b";:", b":;")) if self.rng.random() < 0.5 else data.replace(b" ", b";")

    def pad(self, data: bytes) -> bytes:
        return self.rng.choice([b"", b" ", b"\x00", b"\r\n"]) + data + self.rng.choice([b"\n", b"\x00", b" \r\n"])

    def case(self, data: bytes) -> bytes:
        return data.swapcase() if self.rng.random() < 0.3 else data.lower()


class Seeds:
    """Well-formed datagrams of a box (the simulator's wire), for ``ident``/``password``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def keepalive(self, ident: str, password: str) -> bytes:
        return dev.keepalive(dev.KeepaliveFields(self.rng.randint(1, 10**6), ident, password, "+8613000000000",
                                                 self.rng.choice([0, 5, 31, 99]), self.rng.random() < 0.5,
                                                 "860000000000000", "460000000000000", "89860000000000000000",
                                                 "EVIL NET", self.rng.random() < 0.5))

    def event(self, ident: str, password: str) -> bytes:
        verb, fields = self.rng.choice(EVENTS)
        return dev.event(verb, self.rng.randint(-10**9, 10**10), ident, password, fields)

    def reply(self) -> bytes:
        sid = str(self.rng.choice([self.rng.randint(1, 2**31 - 1), self.rng.randint(-5, 5), 0]))
        return self.rng.choice(REPLIES).replace(b"{sid}", sid.encode())

    def framed(self, ident: str, password: str) -> bytes:
        pick = self.rng.random()
        if pick < 0.35:
            return self.keepalive(ident, password)
        if pick < 0.8:
            return self.event(ident, password)
        return self.reply()


class ErrorLog(logging.Handler):
    """Counts log records at ERROR or with a traceback, keeping the first few."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.count += 1
            if len(self.first) < 5:
                self.first.append(self.format(record)[:2000])


def _visible(state: Any) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(state).items() if k != "updated_at"}


class Target:
    """The agent with GoIP lines and the simulated box, in this process."""

    def __init__(self, directory: Path) -> None:
        self.specs = channel_specs(CHANNELS)
        lines = "".join(f"[line:c{i + 1}]\ngoip_id = {s.id}\ngoip_password = {s.password}\n"
                        for i, s in enumerate(self.specs))
        config = parse(f"[agent]\nid = fuzz\nstate_dir = state\nlog_level = WARNING\n[http]\nhost = 127.0.0.1\n"
                       f"port = 0\n[queue]\npoll_interval = 0.1\nretry_backoff = 0\n"
                       f"[goip_udp]\nlisten = 127.0.0.1:0\nreply_timeout = 0.5\n{lines}", base_dir=directory)
        self.db = config.agent.database
        self.app = App(config)
        self.app.start()
        assert self.app.goip is not None
        self.server = self.app.goip
        self.port = self.server.address[1]
        self.box = SimGoip(("127.0.0.1", self.port), self.specs, keepalive=30.0, send_delay=0.0)
        self.box.start()
        self.wait(lambda: all(self.server.lines[f"c{i + 1}"].state.can_send for i in range(CHANNELS)), 10,
                  "lines registered")
        # The lines' snapshots reach the database just after the state: the baseline waits for them.
        self.wait(lambda: self.rows()["lines"] == CHANNELS, 10, "the lines stored")

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out: {what}")
            pause.wait(0.002)

    def states(self) -> dict[str, dict[str, Any]]:
        return {name: _visible(line.state) for name, line in self.server.lines.items()}

    def rows(self) -> dict[str, int]:
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return {t: int(con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                    for t in ("smsserver_in", "smsserver_calls", "smsserver_out", "lines")}
        finally:
            con.close()

    def integrity(self) -> str:
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return str(con.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            con.close()

    def sends_on_every_line(self) -> bool:
        core = self.app.core
        assert core is not None
        ids = core.submit([NewMessage(f"1390000{i:04d}", f"after the fuzz {i}", gateway=f"c{i + 1}")
                           for i in range(CHANNELS)], source="fuzz").ids
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if all((core.message(i) or {}).get("status") == "S" for i in ids):
                return True
            pause.wait(0.02)
        return False

    def stop(self) -> None:
        self.app.stop(10)
        self.box.stop()


def blast(target: Target, datagrams: list[bytes], socks: list[socket.socket]) -> int:
    """Send ``datagrams`` and wait until the listener read them; return how many it read."""
    start = target.server.stats["datagrams"]
    sent = 0
    for i in range(0, len(datagrams), BATCH):
        for j, data in enumerate(datagrams[i:i + BATCH]):
            try:
                socks[j % len(socks)].sendto(data, ("127.0.0.1", target.port))
                sent += 1
            except OSError:  # a datagram too big for UDP at all: it never leaves
                pass
        deadline = time.monotonic() + 5
        while target.server.stats["datagrams"] - start < sent and time.monotonic() < deadline:
            pause.wait(0.0005)
        for sock in socks:  # the refusals the listener answered: read and forget
            try:
                while sock.recv(65535):
                    pass
            except BlockingIOError:
                pass
    return target.server.stats["datagrams"] - start


def credible(data: bytes, specs: list[Any]) -> bool:
    """True when the agent's codec reads ``data`` as a line's keepalive or event with its right
    password (a mutation can make one: "pw010" cut to "pw01", "GOIP01" lowered)."""
    try:
        packet = wire.parse(data)
    except DatagramError:
        return False
    if isinstance(packet, (wire.Keepalive, wire.Event)):
        return any(packet.id == s.id and packet.password == s.password for s in specs)
    return False


def hostile(rng: random.Random, count: int, max_datagram: int, specs: list[Any]) -> tuple[list[bytes], Counter[str]]:
    """``count`` datagrams of the hostile kinds: none is credible (one a mutation made
    credible is drawn again, and counted as ``credible_redrawn``)."""
    seeds, mutate = Seeds(rng), Mutator(rng)
    ids = [s.id for s in specs]
    strangers = [f"goip{n:02d}" for n in range(50, 60)] + ["", "x" * 70, "goip01 ", "GOIP01"]
    wrong = ["", "pw", "PW01", "pw010", "wrong-password", "x" * 100]
    kinds: Counter[str] = Counter()
    out: list[bytes] = []
    while len(out) < count:
        kind = rng.choices(["mutated", "random", "oversize", "unknown", "wrong_password", "stray"],
                           [50, 15, 5, 10, 10, 10])[0]
        if kind == "mutated":
            ident = rng.choice(ids + strangers)
            password = rng.choice(wrong) if ident in ids else f"pw{rng.randint(1, 4):02d}"
            data = mutate(seeds.framed(ident, password))
        elif kind == "random":
            data = rng.randbytes(rng.randint(0, 1500))
        elif kind == "oversize":
            data = (rng.choice([b"req:1;id:goip01;pass:", b"RECEIVE:1;id:goip01;password:pw01;msg:", b""])
                    + rng.randbytes(rng.randint(max_datagram + 1, 9000)))
        elif kind == "unknown":
            data = seeds.framed(rng.choice(strangers) or "nobody", f"pw{rng.randint(1, 4):02d}")
        elif kind == "wrong_password":
            data = seeds.framed(rng.choice(ids), rng.choice(wrong))
        else:
            data = seeds.reply()
        if credible(data, specs):
            kinds["credible_redrawn"] += 1
            continue
        kinds[kind] += 1
        out.append(data)
    return out, kinds


def authentic(rng: random.Random, count: int, specs: list[Any]) -> list[bytes]:
    """``count`` mutated datagrams that keep a line's right id and password (a box gone mad)."""
    seeds, mutate = Seeds(rng), Mutator(rng)
    out = []
    for _ in range(count):
        spec = rng.choice(specs)
        data = seeds.framed(spec.id, spec.password)
        for _ in range(10):  # keep the credentials readable: mutate until they survive
            mutated = mutate(data)
            if f"id:{spec.id};".encode() in mutated and spec.password.encode() in mutated:
                data = mutated
                break
        out.append(data)
    return out


def run(count: int, authentic_count: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        target = Target(Path(tmp))
        socks = []
        for _ in range(4):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            socks.append(sock)
        try:
            before_states, before_rows = target.states(), target.rows()
            stats0 = dict(target.server.stats)
            datagrams, kinds = hostile(rng, count, target.server.config.max_datagram, target.specs)
            started = time.monotonic()
            read = blast(target, datagrams, socks)
            elapsed = time.monotonic() - started
            stats = {k: target.server.stats[k] - stats0.get(k, 0) for k in target.server.stats}
            after_rows = target.rows()
            unchanged = target.states() == before_states
            regs = [len(target.box.view(i).regs) for i in range(CHANNELS)]
            for i in range(CHANNELS):
                target.box.keepalive_now(i)
            target.wait(lambda: all(len(target.box.view(i).regs) > regs[i] for i in range(CHANNELS)), 5,
                        "the real box answered")
            still_registered = all(target.box.view(i).regs[-1][1] == "200" for i in range(CHANNELS))
            hostile_errors = errors.count
            # Phase 2: the box gone mad (right credentials, mutated content).
            stats1 = dict(target.server.stats)
            rows1 = target.rows()
            auth_read = blast(target, authentic(rng, authentic_count, target.specs), socks)
            auth_rows = {k: v - rows1[k] for k, v in target.rows().items()}
            auth_errors = errors.count - hostile_errors
            auth_stats = {k: target.server.stats[k] - stats1.get(k, 0) for k in target.server.stats}
            for i in range(CHANNELS):  # the real box speaks again: its lines are as they were
                target.box.keepalive_now(i)
            target.wait(lambda: all(line.state.can_send for line in target.server.lines.values()), 10,
                        "lines ready again")
            sends = target.sends_on_every_line()
            alive = target.server.alive
        finally:
            for sock in socks:
                sock.close()
            target.stop()
            logging.getLogger().removeHandler(errors)
        integrity = target.integrity()
    rows_by_refused = {k: after_rows[k] - before_rows[k] for k in before_rows if after_rows[k] != before_rows[k]}
    return {
        "seed": seed, "datagrams": count, "read_by_listener": read, "per_second": round(read / elapsed),
        "kinds": dict(kinds),
        "dropped": {"malformed": stats["malformed"], "oversize": stats["oversize"]},
        "refused": stats["refused"], "stray": stats["stray"],
        "exceptions_logged": hostile_errors + stats["errors"],
        "rows_created_by_refused": rows_by_refused,
        "lines_state_unchanged": unchanged, "box_still_registers": still_registered,
        "authentic": {"datagrams": authentic_count, "read_by_listener": auth_read,
                      "exceptions_logged": auth_errors + auth_stats["errors"], "rows_created": auth_rows,
                      "refused": auth_stats["refused"], "malformed": auth_stats["malformed"]},
        "listener_alive": alive, "every_line_sends_after": sends, "integrity_check": integrity,
        "first_errors": errors.first,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--authentic", type=int, default=None, help="datagrams of phase 2 (default: count / 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.count, args.count // 10 if args.authentic is None else args.authentic, args.seed)
    ok = (figures["exceptions_logged"] == 0 and not figures["rows_created_by_refused"]
          and figures["lines_state_unchanged"] and figures["box_still_registers"]
          and figures["read_by_listener"] == figures["datagrams"]
          and figures["authentic"]["exceptions_logged"] == 0 and figures["listener_alive"]
          and figures["every_line_sends_after"] and figures["integrity_check"] == "ok")
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        for key, value in figures.items():
            print(f"{key}: {value}")
        print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
