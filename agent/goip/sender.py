"""Sending on one GoIP channel, one message at a time (:class:`Sender`).

``MSG`` -> ``PASSWORD`` -> ``SEND`` (tel id 1) -> ``WAIT`` ... ``OK <sms_no>``
or ``ERROR``, then ``DONE``.  A packet the box does not answer within
``reply_timeout`` is sent again, at most ``retries`` times; a ``WAIT`` starts
the count again and the same ``SEND`` (same tel id, which the box answers
from its memory of the last ten) is repeated every ``reply_timeout`` until
``wait_timeout``.  A tel id is never reused for another message and a
session id never for another session, so a repeated or late datagram cannot
make a second SMS.  Outcomes:

* ``OK``: sent; ``sms_no`` is recorded as the part's reference, so the
  box's ``DELIVER`` for it becomes the message's receipt;
* ``ERROR <telid> errorstatus:<n>``: failed, temporary or permanent as
  :func:`agent.codec.goip_udp.classify_error` says (``n`` is the error code);
* ``ERROR`` to ``MSG`` or ``PASSWORD`` (too many sessions, password refused,
  unknown session) or no answer to them: not sent, tried again later;
* ``ERROR GSM_LOGOUT``: not sent, the line is not registered;
* no final answer to ``SEND``: in doubt (the box may have sent it).

Runs in the listener's thread.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ..codec import goip_udp as wire
from ..codec.parts import split
from ..config import GoipUdpConfig
from ..errors import EncodeError
from ..model import FAILED, RETRY, SENT, LineEvents, OutgoingSms, PartSent, SendResult
from .listener import Listener, Timer

log = logging.getLogger(__name__)


class Host(Protocol):
    """What a :class:`Sender` uses of its line."""

    name: str

    def destination(self) -> tuple[str, int] | None:
        """Where the channel's packets go (None: not known yet)."""

    def refusal(self) -> str:
        """'' when the line may send now, else why not."""

    def changed(self, *, ended: bool = False, added: dict[str, int] | None = None, sent: bool = False) -> None:
        """A message started, or ``ended``: the line's state is due, its counters ``added`` to
        (``sent_parts``, ``failed_parts``), ``sent``: the message went out now."""

    def note(self, **changes: Any) -> None:
        """Show ``changes`` in the line's state (what the box said about the channel)."""


@dataclass
class Job:
    """One message on its way: its session id, stage and the packet last sent."""

    msg: OutgoingSms
    future: Future[SendResult]
    sid: int = 0
    telid: int = 1
    stage: str = "msg"  # msg -> password -> send -> wait
    packet: bytes = b""
    tries: int = 0
    sent_send: bool = False  # the SEND went out at least once: from now on it may have been sent
    parts: int = 1  # SMS parts the box makes of the text (it splits long ones itself)
    wait_until: float | None = None
    timer: Timer | None = None


class Sender:
    """The messages of the line ``host`` (channel password ``password``), one at a time."""

    def __init__(self, host: Host, password: str, config: GoipUdpConfig, events: LineEvents,
                 listener: Listener) -> None:
        self._host = host
        self.name = host.name
        self.password = password
        self.config = config
        self._events = events
        self._listener = listener
        self._queue: deque[Job] = deque()
        self._job: Job | None = None
        self._stopping = False

    @property
    def busy(self) -> bool:
        """True while a message is being sent."""
        return self._job is not None

    def unknown_send(self) -> bytes | None:
        """The SEND packet of the message in progress when its outcome is not known yet, else None."""
        job = self._job
        if job is not None and job.sent_send and job.stage in ("send", "wait"):
            return job.packet
        return None

    def add(self, msg: OutgoingSms, future: Future[SendResult]) -> None:
        """Queue ``msg``; ``future`` gets its :class:`SendResult`."""
        self._queue.append(Job(msg, future))
        self.next()

    def next(self) -> None:
        """Start the next message when none is in progress and the line may send."""
        if self._job is not None or not self._queue or self._stopping:
            return
        refusal = self._host.refusal()
        if refusal:
            while self._queue:  # the router gave it to a line that just went away: back to the queue
                self._finish(self._queue.popleft(), RETRY, error=refusal)
            return
        job = self._job = self._queue.popleft()
        msg = job.msg
        text = msg.text
        problem = ""
        if msg.data is not None:
            problem = "a GoIP channel sends text only, not 8-bit data"
        elif not text:
            problem = "empty text"
        elif len(text.encode("utf-8", "surrogatepass")) > wire.MAX_TEXT_BYTES:
            problem = f"text longer than {wire.MAX_TEXT_BYTES} UTF-8 bytes"
        elif not wire.token_ok(msg.recipient):
            problem = f"recipient {msg.recipient[:40]!r} cannot be sent to a GoIP box"
        if problem:
            self._job = None
            self._finish(job, FAILED, error=problem)
            self.next()
            return
        job.parts = _sms_parts(text)
        job.sid = self._listener.new_id(self._host)
        self._host.changed()
        self._transmit(job, "msg", wire.msg(job.sid, text))

    def _transmit(self, job: Job, stage: str, packet: bytes) -> None:
        job.stage, job.packet, job.tries = stage, packet, 0
        if stage == "send":
            job.sent_send = True
        self._listener.send_to(self._host.destination(), packet)
        self._arm(job)

    def _arm(self, job: Job) -> None:
        if job.timer is not None:
            job.timer.cancel()
        job.timer = self._listener.later(self.config.reply_timeout, lambda: self._timeout(job))

    def _timeout(self, job: Job) -> None:
        if job is not self._job:
            return
        now = self._listener.clock()
        if job.stage == "wait":
            if job.wait_until is not None and now >= job.wait_until:
                self._give_up(job, f"the GoIP box said WAIT for {self.config.wait_timeout:.0f}s and no result")
                return
        else:
            job.tries += 1
            if job.tries > self.config.retries:
                self._give_up(job, f"no answer to {job.stage.upper()} from the GoIP box"
                                   f" ({self.config.retries + 1} tries)")
                return
        self._listener.send_to(self._host.destination(), job.packet)
        self._arm(job)

    def _give_up(self, job: Job, why: str) -> None:
        if job.sent_send:
            log.warning("%s: message %s in doubt: %s (the box may have sent it)", self.name, job.msg.id, why)
            self._end(job, RETRY, error=f"{why}; in doubt: it may have been sent", in_doubt=True)
        else:
            log.warning("%s: message %s not sent: %s", self.name, job.msg.id, why)
            self._end(job, RETRY, error=why)

    def reply(self, packet: wire.Reply) -> None:
        """An answer naming the session of the message in progress (late ones are ignored)."""
        job = self._job
        if job is None or packet.sid != str(job.sid):
            log.debug("%s: late %s %s ignored", self.name, packet.verb, packet.sid)
            return
        verb, args = packet.verb.upper(), packet.args
        telid_ok = bool(args) and args[0] == str(job.telid)
        if verb == "PASSWORD" and job.stage == "msg":
            self._transmit(job, "password", wire.password(job.sid, self.password))
        elif verb == "SEND" and job.stage == "password":
            self._transmit(job, "send", wire.send(job.sid, job.telid, job.msg.recipient))
        elif verb == "WAIT" and job.stage in ("send", "wait") and telid_ok:
            if job.stage == "send":
                job.stage = "wait"
                job.wait_until = self._listener.clock() + self.config.wait_timeout
            self._arm(job)
        elif verb == "OK" and job.stage in ("send", "wait") and telid_ok:
            sms_no = _int(args[1]) if len(args) > 1 else None
            reference = -1 if sms_no is None else sms_no
            try:
                self._events.on_part_sent(PartSent(job.msg.id, self.name, 1, reference, 1))
            except Exception:
                log.exception("%s: could not record the part of message %s", self.name, job.msg.id)
            self._end(job, SENT, references=(reference,))
        elif verb == "ERROR":
            self._error(job, packet)
        else:
            log.debug("%s: %s %s at stage %s ignored", self.name, verb, packet.sid, job.stage)

    def _error(self, job: Job, packet: wire.Reply) -> None:
        args = packet.args
        if job.stage in ("send", "wait") and args and args[0] == str(job.telid):
            code = wire.error_status(packet)
            kind = wire.classify_error(packet)
            why = f"the GoIP box could not send it (errorstatus {code})"
            self._end(job, FAILED if kind == "permanent" else RETRY, counts={"failed_parts": job.parts}, error=why,
                      error_code=code)
            return
        word = args[0] if args else ""
        kind = wire.classify_error(packet)
        if kind == "line_down":
            self._host.note(registered=False, last_error="the box says the channel is logged out of GSM")
        if job.sent_send and word == "SENDID":
            self._end(job, RETRY, error="the GoIP box forgot the session after SEND; in doubt: it may have been"
                                        " sent", in_doubt=True)
            return
        if job.stage in ("msg", "password") or not job.sent_send or kind == "line_down":
            detail = " ".join(args)[:80] or "ERROR"
            if word == "PASSWORD":
                self._host.note(last_error="the GoIP box refused the channel's password (goip_password)")
            self._end(job, RETRY, error=f"the GoIP box refused {job.stage.upper()}: {detail}")
            return
        log.debug("%s: %s at stage %s ignored", self.name, " ".join(args), job.stage)

    def _end(self, job: Job, outcome: str, *, counts: dict[str, int] | None = None, **result: Any) -> None:
        """End the job: DONE to the box, the result to the router, the line's counters
        (``counts``: what to add; a send adds its parts to ``sent_parts``) to its state."""
        if job.timer is not None:
            job.timer.cancel()
        self._listener.send_to(self._host.destination(), wire.done(job.sid))
        self._listener.release_id(job.sid)
        self._job = None
        self._finish(job, outcome, **result)
        added = dict(counts or {})
        if outcome == SENT:
            added["sent_parts"] = job.parts
        self._host.changed(ended=True, added=added, sent=outcome == SENT)
        self.next()

    def _finish(self, job: Job, outcome: str, **result: Any) -> None:
        if not job.future.done():
            job.future.set_result(SendResult(job.msg.id, self.name, outcome, parts=job.parts,
                                             at=datetime.now().astimezone(), **result))

    def stopped(self) -> None:
        """The listener stops: a message whose SEND went out is in doubt, the others were never sent."""
        self._stopping = True
        jobs = ([self._job] if self._job is not None else []) + list(self._queue)
        self._job = None
        self._queue.clear()
        for job in jobs:
            if job.sent_send:
                self._finish(job, RETRY, error="the agent stopped before the box said whether it sent it",
                             in_doubt=True, interrupted=True)
            else:
                self._finish(job, RETRY, error="the agent stopped first", interrupted=True)


def _sms_parts(text: str) -> int:
    """The SMS parts a GoIP box makes of ``text`` (GSM-7 when every character fits, else UCS2)."""
    try:
        return len(split(text, max_parts=255))
    except EncodeError:  # more than 255 parts cannot be: the box takes 3000 bytes at most
        return 1


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except (ValueError, AttributeError):
        return None
