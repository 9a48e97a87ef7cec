"""One channel of a GoIP box as a line of the agent (:class:`GoipLine`).

It offers what the router and the core use of any line (``submit``,
``ussd``, ``reset_modem``, ``set_enabled``, ``state``; :class:`agent.model.Line`)
and lives in the listener's thread: every method that other threads call
hands its work to that thread (:class:`Listener`), so the state needs no lock.

State.  The line is offline until its first keepalive and again when none
came for ``[goip_udp] offline_after`` seconds; a keepalive says whether the
SIM is registered (``gsm_status``), its signal (``signal`` as +CSQ, shown in
dBm), the SIM's number, IMEI, IMSI, ICCID (quotas are kept per ICCID, so a
SIM swap shows as a new SIM) and operator.  Commands go to the address of
the latest keepalive.

Sending, one message at a time: ``MSG`` -> ``PASSWORD`` -> ``SEND`` (tel id
1) -> ``WAIT`` ... ``OK <sms_no>`` or ``ERROR``, then ``DONE``.  A packet the
box does not answer within ``reply_timeout`` is sent again, at most
``retries`` times; a ``WAIT`` starts the count again and the same ``SEND``
(same tel id, which the box answers from its memory of the last ten) is
repeated every ``reply_timeout`` until ``wait_timeout``.  A tel id is never
reused for another message and a session id never for another session, so
a repeated or late datagram cannot make a second SMS.  Outcomes:

* ``OK``: sent; ``sms_no`` is recorded as the part's reference, so the
  box's ``DELIVER`` for it becomes the message's receipt;
* ``ERROR <telid> errorstatus:<n>``: failed, temporary or permanent as
  :func:`agent.codec.goip_udp.classify_error` says (``n`` is the error code);
* ``ERROR`` to ``MSG`` or ``PASSWORD`` (too many sessions, password refused,
  unknown session) or no answer to them: not sent, tried again later;
* ``ERROR GSM_LOGOUT``: not sent, the line is not registered;
* no final answer to ``SEND``: in doubt (the box may have sent it).

A ``DELIVER`` that comes while a SEND's outcome is unknown waits for it (see
:meth:`GoipLine.event`), so that a report never overtakes the ``OK`` it names.

Receiving: events (``RECEIVE``, ``DELIVER``, ``RECORD``...) are stored, then
acknowledged (:class:`~agent.goip.events.Inbound`).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..codec import goip_udp as wire
from ..codec.parts import split
from ..config import GoipUdpConfig, LineConfig
from ..errors import EncodeError, LineOffline
from ..model import (BUSY, DISABLED, FAILED, OFFLINE, READY, RETRY, SENT, LineEvents, LineState, OutgoingSms, PartSent,
                     SendResult, UssdReply)
from ..watchdog import NO_BEAT
from .commands import Commands, Request
from .events import Inbound
from .listener import Listener, Timer

log = logging.getLogger(__name__)

@dataclass
class _Send:
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


class GoipLine:
    """The channel ``line.goip_id`` as the line ``line.name`` (see the module doc)."""

    def __init__(self, line: LineConfig, config: GoipUdpConfig, events: LineEvents, listener: Listener) -> None:
        self.line = line
        self.name = line.name
        self.goip_id = line.goip_id
        self.password = line.goip_password
        self.config = config
        self._events = events
        self._listener = listener
        self.started = threading.Event()
        self.heartbeat = NO_BEAT  # the listener's thread beats for every line
        self._state = LineState(name=line.name, device=f"goip:{line.goip_id}", state=OFFLINE, profile="goip",
                                manufacturer="DBLTek", model="GoIP", last_error="waiting for the first keepalive")
        self._enabled = line.enabled
        self._address: tuple[str, int] | None = None
        self._last_keepalive: float | None = None
        self._offline_timer: Timer | None = None
        self._queue: deque[_Send] = deque()
        self._job: _Send | None = None
        self.commands = Commands(line.name, line.goip_password, config, listener, lambda: self._address,
                                 lambda: self._offline_timer is not None, self)
        self.inbound = Inbound(line.name, line.goip_id, events, listener, self._received)
        self._stopping = False
        if not self._enabled:
            self._state = replace(self._state, state=DISABLED, last_error="")

    # --- the API for other threads ------------------------------------------------------

    @property
    def state(self) -> LineState:
        return self._state

    @property
    def alive(self) -> bool:
        return True  # the listener's thread is watched on its own

    def start(self) -> None:
        self.started.set()  # nothing to open: the box registers when it will

    def wake(self) -> None:
        pass

    def join(self, timeout: float | None = None) -> bool:
        return True

    def submit(self, msg: OutgoingSms) -> Future[SendResult]:
        """Queue one message; its future gets the :class:`SendResult`."""
        if self._stopping:
            raise LineOffline(f"line {self.name} is stopping", line=self.name)
        future: Future[SendResult] = Future()
        self._listener.call(lambda: self._enqueue(_Send(msg, future)))
        return future

    def ussd(self, code: str, timeout: float = 30.0) -> Future[UssdReply]:
        """Run a USSD code on the channel; the future gets the network's :class:`UssdReply`."""
        future: Future[UssdReply] = Future()
        self._listener.call(lambda: self.commands.add(Request("ussd", future, code=code), timeout))
        return future

    def reset_modem(self) -> Future[None]:
        """Reboot the channel's GSM module (``svr_reboot_module``)."""
        future: Future[None] = Future()
        self._listener.call(lambda: self.commands.add(Request("reset", future), self.config.ussd_timeout))
        return future

    def set_enabled(self, enabled: bool) -> None:
        self._listener.call(lambda: self._set_enabled(enabled))

    def forget_stored(self, locations: tuple[str, ...]) -> None:
        """A GoIP channel keeps no copies of what it sends: nothing to forget."""

    # --- state (the listener's thread) ----------------------------------------------------

    def _publish(self, **changes: Any) -> None:
        self._state = replace(self._state, updated_at=datetime.now().astimezone(), **changes)
        try:
            self._events.on_state(self._state)
        except Exception:
            log.exception("%s: state sink failed", self.name)

    def _settle_state(self, **changes: Any) -> None:
        """Work out the state word from what is known, with ``changes``."""
        online = self._last_keepalive is not None and self._offline_timer is not None
        if not self._enabled:
            word = DISABLED
        elif not online:
            word = OFFLINE
        elif self._job is not None:
            word = BUSY
        else:
            word = READY
        self._publish(state=word, **changes)

    def _set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled
        self._settle_state()
        if enabled:
            self._next()

    def keepalive(self, packet: wire.Keepalive, address: tuple[str, int]) -> None:
        """A keepalive of this channel came from ``address``."""
        first = self._last_keepalive is None or self._offline_timer is None
        if self._address != address:
            log.info("%s: GoIP channel %s at %s:%d", self.name, self.goip_id, *address)
        self._address = address
        self._last_keepalive = self._listener.clock()
        if self._offline_timer is not None:
            self._offline_timer.cancel()
        self._offline_timer = self._listener.later(self.config.offline_after, self._went_silent)
        rssi = packet.signal
        registered = packet.gsm_login
        changes: dict[str, Any] = dict(
            device=f"goip:{self.goip_id}@{address[0]}:{address[1]}", registered=registered,
            registration=1 if registered else 0, rssi=rssi,
            signal_dbm=None if rssi is None else -113 + 2 * rssi,
            number=packet.num, imei=packet.imei, imsi=packet.imsi, iccid=packet.iccid, operator=packet.operator,
            sim="READY" if packet.iccid or registered else "",
            last_error="" if registered else "the channel is not registered on the GSM network (gsm_status LOGOUT)")
        seen = {k: getattr(self._state, k) for k in changes}
        if first:
            log.info("%s: registered (%s, signal %s)", self.name, "GSM LOGIN" if registered else "GSM LOGOUT",
                     "?" if rssi is None else rssi)
        if first or seen != changes:
            self._settle_state(**changes)
        if registered:
            self._next()

    def _went_silent(self) -> None:
        self._offline_timer = None
        log.warning("%s: no keepalive from GoIP channel %s for %.0fs: offline", self.name, self.goip_id,
                    self.config.offline_after)
        self._settle_state(last_error=f"no keepalive for {self.config.offline_after:.0f}s")

    # --- sending ------------------------------------------------------------------------

    def _enqueue(self, job: _Send) -> None:
        self._queue.append(job)
        self._next()

    def _next(self) -> None:
        if self._job is not None or not self._queue or self._stopping:
            return
        if not (self._enabled and self._state.registered and self._offline_timer is not None):
            while self._queue:  # the router gave it to a line that just went away: back to the queue
                job = self._queue.popleft()
                self._finish(job, RETRY, error=f"line {self.name} cannot send now ({self._state.state})")
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
            self._next()
            return
        job.parts = _sms_parts(text)
        job.sid = self._listener.new_id(self)
        self._settle_state()
        self._transmit(job, "msg", wire.msg(job.sid, text))

    def _transmit(self, job: _Send, stage: str, packet: bytes) -> None:
        job.stage, job.packet, job.tries = stage, packet, 0
        if stage == "send":
            job.sent_send = True
        self._listener.send_to(self._address, packet)
        self._arm(job)

    def _arm(self, job: _Send) -> None:
        if job.timer is not None:
            job.timer.cancel()
        job.timer = self._listener.later(self.config.reply_timeout, lambda: self._timeout(job))

    def _timeout(self, job: _Send) -> None:
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
        self._listener.send_to(self._address, job.packet)
        self._arm(job)

    def _give_up(self, job: _Send, why: str) -> None:
        if job.sent_send:
            log.warning("%s: message %s in doubt: %s (the box may have sent it)", self.name, job.msg.id, why)
            self._end(job, RETRY, error=f"{why}; in doubt: it may have been sent", in_doubt=True)
        else:
            log.warning("%s: message %s not sent: %s", self.name, job.msg.id, why)
            self._end(job, RETRY, error=why)

    def reply(self, packet: wire.Reply, address: tuple[str, int]) -> None:
        """An answer naming one of this line's session or send ids."""
        if self.commands.owns(packet.sid):
            self.commands.reply(packet)
            return
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

    def _error(self, job: _Send, packet: wire.Reply) -> None:
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
            self._publish(registered=False, last_error="the box says the channel is logged out of GSM")
        if job.sent_send and word == "SENDID":
            self._end(job, RETRY, error="the GoIP box forgot the session after SEND; in doubt: it may have been"
                                        " sent", in_doubt=True)
            return
        if job.stage in ("msg", "password") or not job.sent_send or kind == "line_down":
            detail = " ".join(args)[:80] or "ERROR"
            if word == "PASSWORD":
                self._publish(last_error="the GoIP box refused the channel's password (goip_password)")
            self._end(job, RETRY, error=f"the GoIP box refused {job.stage.upper()}: {detail}")
            return
        log.debug("%s: %s at stage %s ignored", self.name, " ".join(args), job.stage)

    def _end(self, job: _Send, outcome: str, *, counts: dict[str, int] | None = None, **result: Any) -> None:
        """End the job: DONE to the box, the result to the router, the line's counters
        (``counts``: what to add; a send adds its parts to ``sent_parts``) to its state."""
        if job.timer is not None:
            job.timer.cancel()
        self._listener.send_to(self._address, wire.done(job.sid))
        self._listener.release_id(job.sid)
        self._job = None
        self._finish(job, outcome, **result)
        changes: dict[str, Any] = {k: getattr(self._state, k) + n for k, n in (counts or {}).items()}
        if outcome == SENT:
            changes.update(sent_parts=self._state.sent_parts + job.parts, last_send_at=datetime.now().astimezone())
        self._settle_state(**changes)
        self.inbound.release()  # reports held while the outcome was unknown find their message now
        self._next()

    def _finish(self, job: _Send, outcome: str, **result: Any) -> None:
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
        self.inbound.drop()
        self.commands.stopped()

    # --- events from the box ------------------------------------------------------------------

    def _received(self) -> None:
        self._publish(received=self._state.received + 1)

    def event(self, packet: wire.Event, address: tuple[str, int]) -> None:
        """An event of this channel: stored (when it is one to store), then acknowledged.

        A ``DELIVER`` that comes while the outcome of a SEND is unknown may report on that
        very send, whose ``OK <sms_no>`` was lost: stored now it would match no message.  It
        is held (unacknowledged) until the send ends, and the SEND is asked about at once."""
        job = self._job
        if packet.verb.upper() == "DELIVER" and job is not None and job.sent_send and job.stage in ("send", "wait"):
            if self.inbound.hold(packet, address):
                self._listener.send_to(self._address, job.packet)  # same tel id: answered from the box's memory
                return
        if self.inbound.event(packet, address) and self._address is None:
            self._address = address


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
