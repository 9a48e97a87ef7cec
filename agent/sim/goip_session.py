"""Bulk-SMS sessions of one simulated GoIP line (spec §4): MSG, PASSWORD, SEND, DONE.

A session is opened by ``MSG <sid> <len> <text>``, authenticated by
``PASSWORD``, and sends its text to each ``SEND <sid> <telid> <number>``:
``WAIT`` at once, then ``OK <sid> <telid> <sms_no>`` or
``ERROR <sid> <telid> errorstatus:<n>`` pushed when the module is done.
The line's one module sends one SMS at a time, in order.  The outcome of
the last 10 telids of a session is kept: a repeated SEND with one of them
gets its stored reply and never goes to the network again.  A session with
no packet for ``session_idle`` seconds is dropped.

Everything here runs on the box's I/O thread (or under its lock).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from . import goip_wire as wire

Addr = tuple[str, int]
TELIDS_KEPT = 10


class SessionHost(Protocol):
    """What the sessions use of their line (see :class:`~.goip_channel.SimChannel`)."""

    password: str

    def clock(self) -> float:
        """Now, in monotonic seconds."""

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the I/O thread after ``delay`` seconds."""

    def answer(self, data: bytes, addr: Addr) -> None:
        """Send a reply to ``addr`` from the line's socket."""

    def may_open_session(self) -> bool:
        """True when one more session is allowed now."""

    def send_delay(self) -> float:
        """Seconds the module takes to send one SMS."""

    def session_idle(self) -> float:
        """Seconds after which a silent session is dropped."""

    def online(self) -> bool:
        """True when the line is logged in to the GSM network."""

    def network_send(self, number: str, text: str) -> tuple[bool, int]:
        """Send one SMS now: ``(True, sms_no)``, or ``(False, errorstatus)`` when it failed."""


@dataclass
class Session:
    """One open session: its text, whether PASSWORD was right, the replies of its last telids."""

    sid: int
    text: str
    last: float
    authed: bool = False
    replies: OrderedDict[int, bytes] = field(default_factory=OrderedDict)


@dataclass(frozen=True)
class _Job:
    session: Session
    telid: int
    number: str
    addr: Addr


class Sessions:
    """The bulk-SMS sessions of one line and its module's queue of sends."""

    def __init__(self, host: SessionHost) -> None:
        self._host = host
        self._open: dict[int, Session] = {}
        self._queue: deque[_Job] = deque()
        self._busy = False

    def __len__(self) -> int:
        return len(self._open)

    @property
    def sids(self) -> list[int]:
        """The ids of the open sessions."""
        return list(self._open)

    def clear(self) -> None:
        """Forget every session (the queued sends still go out)."""
        self._open.clear()

    def handle(self, verb: str, data: bytes, addr: Addr) -> bool:
        """Act on a MSG/PASSWORD/SEND/DONE datagram from ``addr``; False when it is malformed."""
        if verb == "MSG":
            msg = wire.parse_msg(data)
            if msg is None:
                return False
            self._msg(msg, addr)
            return True
        tokens = wire.words(data)
        try:
            sid = int(tokens[1])
            if verb == "PASSWORD" and len(tokens) == 3:
                self._password(sid, tokens[2], addr)
            elif verb == "SEND" and len(tokens) == 4 and tokens[3]:
                self._send(sid, int(tokens[2]), tokens[3], addr)
            elif verb == "DONE" and len(tokens) == 2:
                self._open.pop(sid, None)
                self._host.answer(wire.bulk("DONE", sid), addr)
            else:
                return False
        except (IndexError, ValueError):
            return False
        return True

    def _msg(self, msg: wire.Msg, addr: Addr) -> None:
        host = self._host
        if msg.text is None:
            host.answer(wire.bulk("ERROR", msg.sid, msg.why), addr)
            return
        session = self._open.get(msg.sid)
        if session is not None and session.text == msg.text:
            session.last = host.clock()  # a resent MSG: the server missed our PASSWORD
        else:
            if session is None and not host.may_open_session():
                host.answer(wire.bulk("ERROR", msg.sid, "too_many_sends_in_server"), addr)
                return
            # A new session, or one with the same sid and another text: that replaces it.
            session = self._open[msg.sid] = Session(msg.sid, msg.text, host.clock())
            self._watch(session, host.session_idle())
        host.answer(wire.bulk("PASSWORD", msg.sid), addr)

    def _password(self, sid: int, password: str, addr: Addr) -> None:
        session = self._touch(sid, addr)
        if session is None:
            return
        session.authed = session.authed or password == self._host.password
        self._host.answer(wire.bulk("SEND", sid) if session.authed else wire.bulk("ERROR", sid, "PASSWORD"), addr)

    def _send(self, sid: int, telid: int, number: str, addr: Addr) -> None:
        host = self._host
        session = self._touch(sid, addr)
        if session is None:
            return
        if not session.authed:
            host.answer(wire.bulk("ERROR", sid, "PASSWORD"), addr)
        elif telid in session.replies:
            host.answer(session.replies[telid], addr)  # never a second send for a known telid
        elif not host.online():
            host.answer(wire.bulk("ERROR", sid, "GSM_LOGOUT"), addr)
        else:
            session.replies[telid] = wire.bulk("WAIT", sid, telid)
            while len(session.replies) > TELIDS_KEPT:
                session.replies.popitem(last=False)
            host.answer(session.replies[telid], addr)
            self._queue.append(_Job(session, telid, number, addr))
            if not self._busy:
                self._busy = True
                host.schedule(host.send_delay(), self._finish)

    def _touch(self, sid: int, addr: Addr) -> Session | None:
        """The open session ``sid``, its idle clock restarted; None (answered SENDID) when unknown."""
        session = self._open.get(sid)
        if session is None:
            self._host.answer(wire.bulk("ERROR", sid, "SENDID"), addr)
            return None
        session.last = self._host.clock()
        return session

    def _finish(self) -> None:
        """The module is done with the oldest queued send: push its outcome, start the next."""
        host = self._host
        job = self._queue.popleft()
        ok, value = host.network_send(job.number, job.session.text)
        sid, telid = job.session.sid, job.telid
        line = wire.bulk("OK", sid, telid, value) if ok else wire.bulk("ERROR", sid, telid, f"errorstatus:{value}")
        if telid in job.session.replies:
            job.session.replies[telid] = line
        host.answer(line, job.addr)
        if self._queue:
            host.schedule(host.send_delay(), self._finish)
        else:
            self._busy = False

    def _watch(self, session: Session, delay: float) -> None:
        def check() -> None:
            if self._open.get(session.sid) is not session:
                return  # done, or replaced by a MSG with another text
            left = session.last + self._host.session_idle() - self._host.clock()
            if left > 0:
                self._watch(session, left)
            else:
                del self._open[session.sid]

        self._host.schedule(delay, check)
