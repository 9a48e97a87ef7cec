"""USSD and the module's reboot on one GoIP channel, one request at a time.

``USSD <sendid> <password> <code>`` (no newline) is answered ``USSD <sendid>
<text>`` (``@`` padding dropped), ``USSDERROR``, or ``USSDEXIT`` (the network
closed the session); it is sent again once, after twice the reply timeout,
with the same send id (the box answers a repeated id from its memory), and
each new request gets a larger id.  ``svr_reboot_module <sendid> <password>``
is answered ``svr_reboot_module <sendid> ok`` and sent again up to
``retries`` times.  Runs in the listener's thread.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable

from ..codec import goip_udp as wire
from ..config import GoipUdpConfig
from ..errors import CommandError, CommandTimeout, LineOffline
from ..model import UssdReply
from .listener import Listener, Timer

log = logging.getLogger(__name__)

USSD_RESENDS = 1


@dataclass
class Request:
    kind: str  # "ussd" or "reset"
    future: Future[Any]
    packet: bytes = b""
    sendid: int = 0
    code: str = ""
    tries: int = 0
    timer: Timer | None = None
    deadline: float = 0.0
    started: float = 0.0


class Commands:
    """The requests of line ``name`` (password ``password``), sent to ``address()``
    while ``online()``.  Their send ids are ``owner``'s (the line): the listener hands
    the replies to it, and it hands those this object :meth:`owns` to :meth:`reply`."""

    def __init__(self, name: str, password: str, config: GoipUdpConfig, listener: Listener,
                 address: Callable[[], tuple[str, int] | None], online: Callable[[], bool], owner: Any) -> None:
        self.name = name
        self._owner = owner
        self.password = password
        self.config = config
        self._listener = listener
        self._address = address
        self._online = online
        self._queue: deque[Request] = deque()
        self._current: Request | None = None

    def owns(self, sid: str) -> bool:
        """True when ``sid`` is the send id of the request in progress."""
        return self._current is not None and sid == str(self._current.sendid)

    def stopped(self) -> None:
        """The listener stops: every request fails (the line is offline)."""
        for command in ([self._current] if self._current else []) + list(self._queue):
            if not command.future.done():
                command.future.set_exception(LineOffline(f"line {self.name} stopped", line=self.name))

    def add(self, command: Request, timeout: float) -> None:
        """Queue ``command``; its future gets the answer, or an error after ``timeout`` seconds."""
        command.started = self._listener.clock()
        command.deadline = command.started + timeout
        self._queue.append(command)
        self._next()

    def _next(self) -> None:
        if self._current is not None or not self._queue:
            return
        command = self._current = self._queue.popleft()
        if not self._online() or self._address() is None:
            self._current = None
            command.future.set_exception(LineOffline(f"line {self.name}: the GoIP channel is offline",
                                                     line=self.name))
            self._next()
            return
        command.sendid = self._listener.new_id(self._owner)
        try:
            if command.kind == "ussd":
                command.packet = wire.ussd(command.sendid, self.password, command.code)
            else:
                command.packet = wire.command("svr_reboot_module", command.sendid, self.password)
        except ValueError as exc:  # what no packet can carry fails the request, never the queue
            self._done(command, error=exc)
            return
        self._send(command)

    def _send(self, command: Request) -> None:
        self._listener.send_to(self._address(), command.packet)
        # A USSD goes to the network: one resend after twice the reply timeout; a reboot is answered at once.
        wait = self.config.reply_timeout * (2 if command.kind == "ussd" else 1)
        wait = max(0.0, min(wait, command.deadline - self._listener.clock()))
        command.timer = self._listener.later(wait, lambda: self._timeout(command))

    def _timeout(self, command: Request) -> None:
        if command is not self._current:
            return
        command.tries += 1
        limit = USSD_RESENDS if command.kind == "ussd" else self.config.retries
        if command.tries > limit or self._listener.clock() >= command.deadline:
            what = f"USSD {command.code}" if command.kind == "ussd" else "svr_reboot_module"
            waited = self._listener.clock() - command.started
            self._done(command, error=CommandTimeout(what, waited, line=self.name))
            return
        self._send(command)

    def reply(self, packet: wire.Reply) -> None:
        """An answer to the request in progress (:meth:`owns` its id)."""
        command = self._current
        assert command is not None
        verb = packet.verb.upper()
        if command.kind == "ussd":
            if verb == "USSD":
                failed = "send failed" in packet.text.lower()
                if failed:
                    error = CommandError(f"USSD {command.code}", "USSD", text=packet.text, line=self.name)
                    self._done(command, error=error)
                else:
                    self._done(command, value=UssdReply(self.name, command.code, 0, packet.text))
            elif verb == "USSDEXIT":
                self._done(command, value=UssdReply(self.name, command.code, 2, packet.text))
            elif verb in ("USSDERROR", "ERROR"):
                self._done(command, error=CommandError(f"USSD {command.code}", verb,
                                                               text=packet.text or " ".join(packet.args),
                                                               line=self.name))
        elif verb == "SVR_REBOOT_MODULE":
            self._done(command, value=None)
            log.info("%s: the GoIP channel's module is rebooting", self.name)
        elif verb == "ERROR":
            error = CommandError("svr_reboot_module", "ERROR", text=" ".join(packet.args), line=self.name)
            self._done(command, error=error)

    def _done(self, command: Request, *, value: Any = None, error: Exception | None = None) -> None:
        if command.timer is not None:
            command.timer.cancel()
        self._listener.release_id(command.sendid)
        self._current = None
        if not command.future.done():
            if error is not None:
                command.future.set_exception(error)
            else:
                command.future.set_result(value)
        self._next()
