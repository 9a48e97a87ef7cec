"""The UDP listener the channels of GoIP boxes register with: one socket, one thread.

Each channel of a GoIP box is a client of its own: it sends keepalives
(``req:``) from its own source address every 30 s, pushes events
(``RECEIVE``, ``DELIVER``, ``RECORD``...) and answers the commands sent to
the address of its last keepalive.  :class:`GoipServer` owns the socket and
runs one thread (``goip``) around a selector: datagrams, work handed in by
other threads (:meth:`GoipServer.call`) and timers are served in that one
thread, so the channels' state (:class:`~agent.goip.channel.GoipLine`) needs
no lock and an idle listener costs nothing but its longest timer.

A datagram is routed by what it is: a keepalive or an event by the ``id`` it
names (an unknown id or a wrong password changes nothing: it is answered
with a refusal and logged once per source and id per ``offline_after``), a
reply to one of our commands by its session or send id, which is unique
across the channels of this run and unlike any of an earlier run (their
ids start from the clock), so a late answer to a dead session is ignored.
Oversize and malformed datagrams are dropped and counted, with one log line
per kind per minute; so is a datagram whose handling fails (a bug: logged
with its traceback), and the listener goes on serving the others.
"""

from __future__ import annotations

import heapq
import hmac
import itertools
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..codec import goip_udp as wire
from ..config import GoipUdpConfig, LineConfig
from ..errors import DatagramError
from ..model import LineEvents
from ..watchdog import NO_BEAT, Heartbeat
from .channel import GoipLine
from .timing import RoundTrip

log = logging.getLogger(__name__)

LOOP_ALLOWANCE = 10.0  # seconds one turn of the loop may take before the watchdog calls the thread hung
REFUSAL_QUIET = 60.0  # seconds between two log lines about the same kind of bad datagram
_ID_LIMIT = 0x7FFFFFFF  # session and send ids are positive 31-bit integers


class Timer:
    """A pending call of the loop; :meth:`cancel` before it is due and it never runs."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class GoipServer:
    """The listener of ``config`` for the GoIP channels among ``lines``; what
    they receive goes to ``events``; the thread ends when ``stop`` is set."""

    def __init__(self, config: GoipUdpConfig, lines: Sequence[LineConfig], events: LineEvents,
                 stop: threading.Event, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._stop = stop
        self.clock = clock
        self.lines: dict[str, GoipLine] = {}
        self._by_id: dict[str, GoipLine] = {}
        for line in lines:
            if line.goip:
                goip_line = GoipLine(line, config, events, self)
                self.lines[line.name] = goip_line
                self._by_id[line.goip_id] = goip_line
        self._owners: dict[str, GoipLine] = {}  # session / send id -> the line that sent it
        # Ids from the clock: a run started later never reuses an id the box may still remember.
        self._ids = itertools.count((int(time.time()) * 16) % (_ID_LIMIT // 2) + 1)
        self._timers: list[tuple[float, int, Timer, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._tasks: list[Callable[[], None]] = []
        self._tasks_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._run, name="goip", daemon=True)
        self._quiet: dict[tuple[str, ...], float] = {}
        self._round_trips: dict[str, RoundTrip] = {}  # by the box's IP address: its channels share the path
        self.heartbeat: Heartbeat = NO_BEAT
        self.stats = {"datagrams": 0, "malformed": 0, "oversize": 0, "refused": 0, "stray": 0, "errors": 0}

    # --- life -------------------------------------------------------------------------

    def bind(self) -> None:
        """Open the UDP socket on ``[goip_udp] listen``; OSError when it cannot be had."""
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._sock = sock

    @property
    def address(self) -> tuple[str, int]:
        """Where the listener is bound (the port chosen when 0 was configured)."""
        assert self._sock is not None, "not bound"
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> None:
        if self._sock is None:
            self.bind()
        assert self._sock is not None
        self._selector.register(self._sock, selectors.EVENT_READ, "udp")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        host, port = self.address
        log.info("GoIP listener on %s:%d for %d channel(s): %s", host, port, len(self._by_id),
                 ", ".join(f"{g.name}={g.goip_id}" for g in self.lines.values()))
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already woken (the pipe is full) or closed at the stop

    def join(self, timeout: float | None = None) -> bool:
        self.wake()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- for the channels -----------------------------------------------------------------

    def call(self, task: Callable[[], None]) -> None:
        """Run ``task`` in the listener's thread, soon (from any thread)."""
        with self._tasks_lock:
            self._tasks.append(task)
        self.wake()

    def later(self, delay: float, task: Callable[[], None]) -> Timer:
        """Run ``task`` in the listener's thread after ``delay`` seconds (from that thread)."""
        timer = Timer()
        heapq.heappush(self._timers, (self.clock() + delay, next(self._seq), timer, task))
        return timer

    def new_id(self, owner: GoipLine) -> int:
        """A fresh session / send id, whose replies go to ``owner``."""
        value = next(self._ids)
        if value >= _ID_LIMIT:
            self._ids = itertools.count(1)
            value = next(self._ids)
        self._owners[str(value)] = owner
        return value

    def release_id(self, value: int) -> None:
        """Replies naming ``value`` are strays from now on."""
        self._owners.pop(str(value), None)

    def round_trip(self, address: tuple[str, int] | None) -> RoundTrip:
        """The round-trip estimate of the box at ``address`` (one per IP address: a box's
        channels share it, so a channel's first packets need not wait the full reply_timeout)."""
        host = address[0] if address else ""
        found = self._round_trips.get(host)
        if found is None:
            if len(self._round_trips) >= 4 * len(self.lines) + 16:  # addresses come and go: forget old ones
                self._round_trips.clear()
            found = self._round_trips[host] = RoundTrip(self.config.reply_timeout)
        return found

    def send_to(self, address: tuple[str, int] | None, data: bytes) -> None:
        """Send one datagram (nothing when the channel's address is not known yet)."""
        if address is None or self._sock is None or not data:
            return
        try:
            self._sock.sendto(data, address)
        except OSError as exc:
            self._note(("send", address[0]), f"cannot send to {address[0]}:{address[1]}: {exc}")

    # --- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.heartbeat.beat(LOOP_ALLOWANCE)
                timeout = self._due()
                if timeout is not None:
                    self.heartbeat.beat(timeout + LOOP_ALLOWANCE)
                for key, _ in self._selector.select(timeout):
                    if key.data == "udp":
                        self._read()
                    else:
                        self._drain_wake()
                self._run_tasks()
        except Exception:
            log.exception("GoIP listener failed")
        finally:
            for line in self.lines.values():
                try:
                    line.stopped()
                except Exception:
                    log.exception("%s: could not settle at the stop", line.name)
            self._selector.close()
            if self._sock is not None:
                self._sock.close()
            self._wake_r.close()
            self._wake_w.close()

    def _due(self) -> float | None:
        """Run the timers that are due; return the seconds until the next one (None: none)."""
        while self._timers:
            when, _, timer, task = self._timers[0]
            if timer.cancelled:
                heapq.heappop(self._timers)
                continue
            wait = when - self.clock()
            if wait > 0:
                return wait
            heapq.heappop(self._timers)
            self._guard(task)
        return None

    def _run_tasks(self) -> None:
        with self._tasks_lock:
            tasks, self._tasks = self._tasks, []
        for task in tasks:
            self._guard(task)

    def _guard(self, task: Callable[[], None]) -> None:
        try:
            task()
        except Exception:
            log.exception("GoIP listener: a task failed")

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(512):
                pass
        except (BlockingIOError, OSError):
            pass

    def _read(self) -> None:
        assert self._sock is not None
        for _ in range(64):  # a burst is served in turns, so timers and tasks are not starved
            try:
                data, address = self._sock.recvfrom(self.config.max_datagram + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable of an earlier send, on some systems
                self._note(("recv",), f"receive error: {exc}")
                return
            self.stats["datagrams"] += 1
            try:
                self._datagram(data, (str(address[0]), int(address[1])))
            except Exception:  # a bug in one handler must not end the listener of every channel
                self.stats["errors"] += 1
                if self._quiet_enough(("error",)):
                    log.exception("GoIP: a datagram of %d bytes from %s:%d could not be handled", len(data),
                                  address[0], address[1])

    def _datagram(self, data: bytes, address: tuple[str, int]) -> None:
        if len(data) > self.config.max_datagram:
            self.stats["oversize"] += 1
            self._note(("oversize", address[0]), f"datagram of more than {self.config.max_datagram} bytes from"
                                                 f" {address[0]}:{address[1]} dropped")
            return
        try:
            packet = wire.parse(data)
        except DatagramError as exc:
            self.stats["malformed"] += 1
            self._note(("malformed", address[0]), f"malformed datagram from {address[0]}:{address[1]} dropped:"
                                                  f" {exc}")
            return
        if isinstance(packet, wire.Keepalive):
            line = self._known(packet.id, packet.password, address, "keepalive")
            if line is None:
                self.send_to(address, wire.reg(packet.count, 404))
                return
            line.keepalive(packet, address)
            self.send_to(address, wire.reg(packet.count, 200))
        elif isinstance(packet, wire.Event):
            line = self._known(packet.id, packet.password, address, packet.verb)
            if line is None:
                self.send_to(address, wire.ack(packet, error=f"not find this id:{packet.id}, or password error"))
                return
            line.event(packet, address)
        else:
            owner = self._owners.get(packet.sid)
            if owner is None:
                self.stats["stray"] += 1
                log.debug("GoIP: %s %s from %s:%d for no session of ours: ignored", packet.verb, packet.sid,
                          *address)
                return
            owner.reply(packet, address)

    def _known(self, goip_id: str, password: str, address: tuple[str, int], what: str) -> GoipLine | None:
        """The line of ``goip_id`` when ``password`` is its password, else None (counted, logged once a while)."""
        line = self._by_id.get(goip_id)
        if line is not None and hmac.compare_digest(password.encode("utf-8", "surrogateescape"),
                                                    line.password.encode("utf-8", "surrogateescape")):
            return line
        self.stats["refused"] += 1
        why = "unknown id" if line is None else "wrong password"
        self._note(("refused", address[0], goip_id), f"{what} from {address[0]}:{address[1]} refused: {why}"
                                                     f" {goip_id[:64]!r}", quiet=self.config.offline_after)
        return None

    def _note(self, kind: tuple[Any, ...], message: str, *, quiet: float = REFUSAL_QUIET) -> None:
        """Log ``message`` at WARNING unless the same kind was logged less than ``quiet`` seconds ago."""
        if self._quiet_enough(kind, quiet):
            log.warning("GoIP: %s", message)

    def _quiet_enough(self, kind: tuple[Any, ...], quiet: float = REFUSAL_QUIET) -> bool:
        """True (and remembered) when nothing of ``kind`` was logged in the last ``quiet`` seconds."""
        now = self.clock()
        if now - self._quiet.get(kind, -quiet - 1) < quiet:
            return False
        self._quiet[kind] = now
        if len(self._quiet) > 4096:  # many sources: forget the oldest notes
            for old in sorted(self._quiet, key=self._quiet.__getitem__)[:2048]:
                del self._quiet[old]
        return True
