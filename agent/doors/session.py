"""What the sessions of both binary protocols share: the requests the agent sent and
awaits answers to (the window), the outbox items they carry, and the timers.

A protocol subclasses :class:`BaseSession` and supplies the PDUs: its
``frame`` decodes and answers, ``_deliver_pdus`` turns an outbox note into the
PDUs that carry it, ``_keepalive``/``_goodbye_pdu`` make enquire_link /
unbind (CMPP_ACTIVE_TEST / CMPP_TERMINATE).  A PDU is made once, with sequence
number 0; :meth:`BaseSession.request` writes the number it takes into the
header (at ``seq_at``) as it sends.  Calls come from the listener's thread only.

A refused login's answer may be held back (:meth:`BaseSession.refuse_login`,
the door's throttle of guessing); the connection closes once it is sent.

Timers (``[smpp]``/``[cmpp]`` keys): a connection that has not bound within
``bind_timeout`` is closed; with no PDU from the client for ``enquire_link``
seconds the agent sends its keep-alive, and with none for
``inactivity_timeout`` it closes; a request of the agent unanswered after
``response_timeout`` closes the session (its items are delivered again later).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..config_doors import DoorTimers
from .feed import Feed, Note
from .listener import Conn

log = logging.getLogger(__name__)

KEEPALIVE, DELIVERY, GOODBYE = "keepalive", "delivery", "goodbye"


@dataclass
class Pending:
    kind: str
    sent: float
    item: int | None = None


@dataclass
class _Item:
    """An outbox item handed to this session: the sequence numbers of the PDUs made of
    it this time, not yet acknowledged (a late answer to an earlier round does not count)."""

    seqs: set[int] = field(default_factory=set)


class BaseSession:
    """One connection of a door; ``door`` names it in logs."""

    header = 12
    max_frame = 4096
    seq_at = 8  # the sequence number's offset in the header

    def __init__(self, conn: Conn, feed: Feed, timers: DoorTimers, door: str, now: float) -> None:
        self.conn = conn
        self.feed = feed
        self.timers = timers
        self.door = door
        self.opened = now
        self.last_rx = now
        self.last_tx = now
        self.bound = False
        self.receives = False  # takes deliveries (SMPP receiver/transceiver; every CMPP session)
        self.stopping = False
        self._seq = 0
        self._pending: dict[int, Pending] = {}
        self._items: dict[int, _Item] = {}
        self._goodbye_answered = False
        self._later: list[tuple[float, bytes, str]] = []  # refused logins' answers held back: (when, PDU, why)
        self.submitted = 0

    # --- sequence numbers and sending -------------------------------------------------------

    def next_seq(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    def send(self, data: bytes, now: float | None = None) -> None:
        self.conn.send(data)
        if now is not None:
            self.last_tx = now

    def request(self, kind: str, pdu: bytes, now: float, item: int | None = None) -> int:
        """Send ``pdu`` (made with sequence number 0) under the next sequence number; return it."""
        seq = self.next_seq()
        self._pending[seq] = Pending(kind, now, item)
        at = self.seq_at
        self.send(pdu[:at] + seq.to_bytes(4, "big") + pdu[at + 4:], now)
        return seq

    def refuse_login(self, answer: bytes, now: float, delay: float, why: str) -> None:
        """Answer a refused bind / CMPP_CONNECT with ``answer`` after ``delay`` seconds, then close."""
        if delay:
            self._later.append((now + delay, answer, why))
        else:
            self.send(answer, now)
            self.close(why)

    def close(self, why: str) -> None:
        if not self.conn.dead and not self.conn.closing:
            log.info("%s: session %s closed: %s", self.door, self.conn.peer, why)
        self.conn.close_after_output()

    # --- answers to the agent's requests ----------------------------------------------------

    def answered(self, seq: int, ok: bool, error: str = "") -> Pending | None:
        """The client answered our request ``seq`` (``ok``: status 0)."""
        pending = self._pending.pop(seq, None)
        if pending is None:
            return None
        if pending.kind == GOODBYE:
            self._goodbye_answered = True
        entry = self._items.get(pending.item) if pending.item is not None else None
        if entry is not None and seq in entry.seqs:
            if ok:
                entry.seqs.discard(seq)
                if not entry.seqs:
                    del self._items[pending.item]
                    self.feed.done(pending.item)
            else:
                del self._items[pending.item]
                self.feed.retry(pending.item, error or "refused")
                log.warning("%s: %s refused a delivery (%s): tried again later", self.door, self.conn.peer, error)
        return pending

    # --- the listener's calls -----------------------------------------------------------------

    def in_flight(self) -> int:
        return sum(1 for p in self._pending.values() if p.kind == DELIVERY)

    def pump(self, now: float) -> None:
        if not (self.bound and self.receives) or self.stopping or not self.feed.dirty:
            return
        room = self.timers.window - self.in_flight()
        if room <= 0:
            return
        for item, notes in self.feed.take(room):
            try:
                pdus = [pdu for note in notes for pdu in self._deliver_pdus(note)]
            except Exception:  # an item that cannot be made would fail every session in turn
                log.exception("%s: outbox item %d cannot be sent as a PDU: given up", self.door, item.id)
                self.feed.drop(item.id, "cannot be sent as a PDU")
                continue
            if not pdus:
                self.feed.done(item.id)
                continue
            entry = self._items[item.id] = _Item()
            for pdu in pdus:
                entry.seqs.add(self.request(DELIVERY, pdu, now, item.id))

    def timer(self, now: float) -> float | None:
        if self._later:
            for item in [item for item in self._later if item[0] <= now]:
                self._later.remove(item)
                self.send(item[1], now)
                self.close(item[2])
            if self._later:
                return min(item[0] for item in self._later)
            return None
        t = self.timers
        if not self.bound:
            if now - self.opened >= t.bind_timeout:
                self.close(f"not bound within {t.bind_timeout:g} s")
                return None
            return self.opened + t.bind_timeout
        oldest = min((p.sent for p in self._pending.values()), default=None)
        if oldest is not None and now - oldest >= t.response_timeout:
            self.close(f"no answer within {t.response_timeout:g} s")
            return None
        if now - self.last_rx >= t.inactivity_timeout:
            self.close(f"nothing heard for {t.inactivity_timeout:g} s")
            return None
        quiet = max(self.last_rx, self.last_tx)
        if now - quiet >= t.enquire_link and not any(p.kind == KEEPALIVE for p in self._pending.values()):
            self.request(KEEPALIVE, self._keepalive(), now)
            quiet = now
        due = [quiet + t.enquire_link, self.last_rx + t.inactivity_timeout]
        if oldest is not None:
            due.append(oldest + t.response_timeout)
        if self.feed.retry_at is not None and self.receives:
            if self.feed.retry_at <= now:
                self.feed.retry_at = None
                self.feed.dirty = True
            else:
                due.append(self.feed.retry_at)
        return min(due)

    def goodbye(self) -> bool:
        self.stopping = True
        if not self.bound or self.conn.dead:
            self.close("the agent stops")
            return False
        self.request(GOODBYE, self._goodbye_pdu(), self.last_tx)
        return True

    @property
    def done(self) -> bool:
        return self._goodbye_answered or self.conn.dead

    def closed(self) -> None:
        self.feed.release(list(self._items))
        self._items.clear()
        self._pending.clear()

    # --- for the protocol ------------------------------------------------------------------------

    def _deliver_pdus(self, note: Note) -> list[bytes]:
        raise NotImplementedError

    def _keepalive(self) -> bytes:
        raise NotImplementedError

    def _goodbye_pdu(self) -> bytes:
        raise NotImplementedError
