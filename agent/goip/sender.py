"""Sending on one GoIP channel, one message at a time (:class:`Sender`).

``MSG`` -> ``PASSWORD`` -> ``SEND`` (tel id 1) -> ``WAIT`` ... ``OK <sms_no>``
or ``ERROR``, then ``DONE``.

Timers (:mod:`agent.goip.timing`).  A packet the box does not answer is sent
again after the box's retransmission timeout: measured from its earlier
answers (RFC 6298; 0.1 s before the first measure, at least 10 ms, at most
``reply_timeout``), doubling with each resend.  A step is given up once it
was sent ``retries`` + 1 times and ``(retries + 1) x reply_timeout`` seconds
have passed.  After ``WAIT`` the box pushes ``OK`` or ``ERROR`` when the SMS
is sent; when that does not come by the time the channel's SMS usually take
(smoothed), the same ``SEND`` is asked again (same tel id, which the box
answers from its memory of the last ten) every 32nd of that time, until
``wait_timeout``.  A tel id is never reused for another message and a session
id never for another session, so a repeated or late datagram cannot make a
second SMS.  ``DONE`` is sent again until the box echoes it (a session it
keeps open counts against its five), while the next message starts.
Outcomes:

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
from .timing import RoundTrip, SendTime

log = logging.getLogger(__name__)

SMS_NO_MAX = 0x7FFFFFFF  # a box's SMS counter wraps far below; a bigger one is no reference (unknown)


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
    tries: int = 0  # resends of the packet
    sent_at: float = 0.0  # when the packet first went out
    stage_at: float = 0.0  # when the stage began
    send_at: float = 0.0  # when the SEND first went out
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
        self.send_time = SendTime()
        self._closing: dict[int, tuple[int, float]] = {}  # session id -> (DONEs sent, since), until echoed

    @property
    def rtt(self) -> RoundTrip:
        """The round-trip estimate of the channel's box (shared by its channels)."""
        return self._listener.round_trip(self._host.destination())

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
        job = self._queue.popleft()
        msg = job.msg
        problem = _unsendable(msg)
        if problem:
            self._finish(job, FAILED, error=problem)
            self.next()
            return
        self._job = job
        job.parts = _sms_parts(msg.text)
        job.sid = self._listener.new_id(self._host)
        self._host.changed()
        self._transmit(job, "msg", wire.msg(job.sid, msg.text))

    def _transmit(self, job: Job, stage: str, packet: bytes) -> None:
        now = self._listener.clock()
        job.stage, job.packet, job.tries, job.sent_at, job.stage_at = stage, packet, 0, now, now
        if stage == "send":
            job.sent_send, job.send_at = True, now
        self._listener.send_to(self._host.destination(), packet)
        self._arm(job, self.rtt.timeout)

    def _arm(self, job: Job, delay: float) -> None:
        if job.timer is not None:
            job.timer.cancel()
        job.timer = self._listener.later(delay, lambda: self._timeout(job))

    def _answered(self, job: Job, now: float) -> None:
        """The box answered the packet in flight: a round trip, if it went out once (Karn)."""
        if job.tries == 0:
            self.rtt.sample(now - job.sent_at)
        else:
            self.rtt.resent_answered(job.tries)

    def _timeout(self, job: Job) -> None:
        if job is not self._job:
            return
        now = self._listener.clock()
        if job.stage == "wait":
            if job.wait_until is not None and now >= job.wait_until:
                self._give_up(job, f"the GoIP box said WAIT for {self.config.wait_timeout:.0f}s and no result")
                return
            self._listener.send_to(self._host.destination(), job.packet)
            self._arm(job, self.send_time.poll_every(self.rtt.timeout, self.config.reply_timeout))
            return
        job.tries += 1
        patience = self.config.reply_timeout * (self.config.retries + 1)
        waited = now - job.stage_at
        if job.tries > self.config.retries and waited >= patience:
            self._give_up(job, f"no answer to {job.stage.upper()} from the GoIP box ({job.tries} tries in"
                               f" {waited:.1f}s)")
            return
        self._listener.send_to(self._host.destination(), job.packet)
        self._arm(job, min(self.rtt.backoff(job.tries), max(patience - waited, self.rtt.floor)))

    def _give_up(self, job: Job, why: str) -> None:
        if job.sent_send:
            log.warning("%s: message %s in doubt: %s (the box may have sent it)", self.name, job.msg.id, why)
            self._end(job, RETRY, error=f"{why}; in doubt: it may have been sent", in_doubt=True)
        else:
            log.warning("%s: message %s not sent: %s", self.name, job.msg.id, why)
            self._end(job, RETRY, error=why)

    def reply(self, packet: wire.Reply) -> None:
        """An answer naming the session of the message in progress (late ones are ignored)."""
        verb, args = packet.verb.upper(), packet.args
        closing = _int(packet.sid)
        if closing is not None and closing in self._closing:
            if verb in ("DONE", "ERROR"):  # the echo of DONE (or: the box knows the session no more)
                del self._closing[closing]
                self._listener.release_id(closing)
            return
        job = self._job
        if job is None or packet.sid != str(job.sid):
            log.debug("%s: late %s %s ignored", self.name, packet.verb, packet.sid)
            return
        now = self._listener.clock()
        telid_ok = bool(args) and args[0] == str(job.telid)
        if verb == "PASSWORD" and job.stage == "msg":
            self._answered(job, now)
            self._transmit(job, "password", wire.password(job.sid, self.password))
        elif verb == "SEND" and job.stage == "password":
            self._answered(job, now)
            self._transmit(job, "send", wire.send(job.sid, job.telid, job.msg.recipient))
        elif verb == "WAIT" and job.stage in ("send", "wait") and telid_ok:
            if job.stage == "send":
                self._answered(job, now)
                job.stage, job.wait_until = "wait", now + self.config.wait_timeout
                self._arm(job, self.send_time.first_poll(now - job.send_at, self.rtt.timeout))
            else:
                self._arm(job, self.send_time.poll_every(self.rtt.timeout, self.config.reply_timeout))
        elif verb == "OK" and job.stage in ("send", "wait") and telid_ok:
            self.send_time.sample(now - job.send_at)
            sms_no = _int(args[1]) if len(args) > 1 else None
            reference = sms_no if sms_no is not None and 0 <= sms_no <= SMS_NO_MAX else -1  # else: unknown
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
        self._closing[job.sid] = (0, self._listener.clock())
        self._done(job.sid)
        self._job = None
        self._finish(job, outcome, **result)
        added = dict(counts or {})
        if outcome == SENT:
            added["sent_parts"] = job.parts
        self._host.changed(ended=True, added=added, sent=outcome == SENT)
        self.next()

    def _done(self, sid: int) -> None:
        """Send ``DONE <sid>`` (again) until the box echoes it, or gives no echo to ``retries``
        + 1 of them within ``(retries + 1) x reply_timeout`` (as for any step)."""
        closing = self._closing.get(sid)
        if closing is None:
            return
        tries, since = closing
        patience = self.config.reply_timeout * (self.config.retries + 1)
        if tries > self.config.retries and self._listener.clock() - since >= patience:
            del self._closing[sid]
            self._listener.release_id(sid)
            return
        self._closing[sid] = (tries + 1, since)
        self._listener.send_to(self._host.destination(), wire.done(sid))
        self._listener.later(self.rtt.backoff(tries), lambda: self._done(sid))

    def _finish(self, job: Job, outcome: str, **result: Any) -> None:
        if not job.future.done():
            job.future.set_result(SendResult(job.msg.id, self.name, outcome, parts=job.parts,
                                             at=datetime.now().astimezone(), **result))

    def stopped(self) -> None:
        """The listener stops: a message whose SEND went out is in doubt, the others were never sent."""
        self._stopping = True
        self._closing.clear()
        jobs = ([self._job] if self._job is not None else []) + list(self._queue)
        self._job = None
        self._queue.clear()
        for job in jobs:
            if job.sent_send:
                self._finish(job, RETRY, error="the agent stopped before the box said whether it sent it",
                             in_doubt=True, interrupted=True)
            else:
                self._finish(job, RETRY, error="the agent stopped first", interrupted=True)


def _unsendable(msg: OutgoingSms) -> str:
    """Why ``msg`` cannot go to a GoIP box ('' when it can): what no packet can carry fails
    the message, it never stops the line."""
    text = msg.text
    if msg.data is not None:
        return "a GoIP channel sends text only, not 8-bit data"
    if not text:
        return "empty text"
    if "\x00" in text:
        return "the text holds NUL, which a GoIP packet cannot carry"
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return "the text is not valid Unicode (a lone surrogate)"
    if size > wire.MAX_TEXT_BYTES:
        return f"text longer than {wire.MAX_TEXT_BYTES} UTF-8 bytes"
    if not wire.token_ok(msg.recipient):
        return f"recipient {msg.recipient[:40]!r} cannot be sent to a GoIP box"
    return ""


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
