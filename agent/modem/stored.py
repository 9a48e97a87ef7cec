"""send_mode = store: the copies of outgoing messages in one modem's storage.

A line in store mode writes each part with AT+CMGW, has the places recorded
(see :mod:`agent.modem.sender`), and sends them with AT+CMSS; the modem marks
a part "STO SENT" (stat 3) once the network took it.  This module keeps that
storage in order, for the line's own thread (it owns the port):

* :meth:`StoredSends.forget` deletes the copies of a message once its
  outcome is on disk (the router asks, through the line's inbox);
* :meth:`StoredSends.settle`, each time the modem is (re)initialised, settles
  the messages an earlier run left being sent on this line from the modem's
  memory: every part "STO SENT" -> sent (exactly once, not in doubt); every
  part "STO UNSENT" -> nothing went out, back to waiting as it was; some
  parts sent and the rest still stored -> the rest is sent now, so the
  message is complete and sent once; a part missing -> it cannot be told:
  back to waiting in doubt, as for a modem that keeps no copy.  Then every
  stored outgoing message nobody waits for (a crash between AT+CMGW and the
  record of its place, a copy whose delete failed) is deleted, except the
  copies of sends whose outcome the router has not written yet.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable

from ..errors import AtParseError, CommandError
from .storage import Storage
from ..model import RETRY, SENT, LineEvents, SendResult

log = logging.getLogger(__name__)

STO_UNSENT, STO_SENT = 2, 3


def place(location: str) -> tuple[str | None, int]:
    """``"SM:3"`` -> ("SM", 3); ``"3"`` -> (None, 3)."""
    mem, _, index = location.rpartition(":")
    return (mem or None), int(index)


class StoredSends:
    """The stored copies of one line's messages (see the module doc)."""

    def __init__(self, line: str, events: LineEvents, *,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.line = line
        self._events = events
        self._now = now
        self._waiting: set[str] = set()  # copies of sends whose outcome is not on disk yet

    def sent(self, result: SendResult) -> None:
        """A send ended: its copies stay until :meth:`forget` (after the outcome is written)."""
        self._waiting.update(result.stored)

    def forget(self, storage: Storage, locations: tuple[str, ...]) -> None:
        """Delete the copies at ``locations`` (their outcome is on disk).  A copy
        that cannot be deleted now is left for :meth:`settle`'s sweep."""
        for location in locations:
            self._waiting.discard(location)
            mem, index = place(location)
            try:
                storage.delete_stored(index, storage=mem)
            except CommandError as exc:
                log.warning("%s: stored copy %s not deleted (%s); swept later", self.line, location, exc)

    def settle(self, storage: Storage) -> int:
        """Settle the messages an earlier run left being sent on this line, then
        sweep the copies nobody waits for.  Return how many messages were settled.
        The channel's exceptions (a modem that stops answering) propagate: what
        is not settled yet is settled at the next initialisation."""
        settled = 0
        for message_id, locations in self._events.unresolved(self.line):
            result = self._settle_one(storage, message_id, locations)
            self._events.on_resolved(result)
            self.forget(storage, tuple(locations))
            settled += 1
        self._sweep(storage)
        return settled

    def _settle_one(self, storage: Storage, message_id: object, locations: list[str]) -> SendResult:
        stats = [storage.stored_status(index, storage=mem) for mem, index in map(place, locations)]
        n = len(locations)
        if not locations or any(s not in (STO_UNSENT, STO_SENT) for s in stats):
            log.warning("%s: message %s: its stored copy is gone; it may have been sent: back to waiting,"
                        " in doubt", self.line, message_id)
            return SendResult(message_id, self.line, RETRY, (-1,) * n, n, error="stored copy missing",
                              in_doubt=True, at=self._now(), interrupted=True)
        if all(s == STO_UNSENT for s in stats):
            log.info("%s: message %s was not sent before the agent stopped (the modem says so): back to waiting",
                     self.line, message_id)
            return SendResult(message_id, self.line, RETRY, (), n, error="not sent", at=self._now(),
                              interrupted=True)
        refs = []
        for (mem, index), stat in zip(map(place, locations), stats):
            if stat == STO_SENT:
                refs.append(-1)  # sent before: its reference is not kept by the modem
                continue
            try:
                storage.use(mem or storage.mem2)
                refs.append(storage.send_stored(index))
            except AtParseError:
                refs.append(-1)
            except CommandError as exc:
                log.warning("%s: message %s: its remaining parts could not be sent (%s): back to waiting,"
                            " in doubt", self.line, message_id, exc)
                return SendResult(message_id, self.line, RETRY, (-1,) * n, n, exc.code, str(exc), in_doubt=True,
                                  at=self._now(), interrupted=True)
        log.info("%s: message %s was sent before the agent stopped (the modem says so%s): recorded as sent once",
                 self.line, message_id, "; its last parts sent now" if any(r >= 0 for r in refs) else "")
        return SendResult(message_id, self.line, SENT, tuple(refs), n, at=self._now())

    def _sweep(self, storage: Storage) -> None:
        for item in storage.stored_submits():
            location = f"{item.storage}:{item.index}"
            if location in self._waiting:
                continue
            try:
                storage.delete_stored(item.index, storage=item.storage)
                log.info("%s: stored message %s that nobody waits for deleted", self.line, location)
            except CommandError as exc:
                log.warning("%s: stored message %s not deleted: %s", self.line, location, exc)
