"""Outbox -> MQTT events, at QoS 1, each row deleted only once the broker acknowledged it.

The store writes one outbox row per event for the destination ``mqtt``
(kinds ``result``, ``receipt``, ``mo``, ``call``) in the transaction of the
data it reports.  :class:`Forwarder` turns rows into publications (see
:func:`publications`) and hands them to the MQTT client through a
``publish`` callable; the client reports each PUBACK back (:meth:`Forwarder.acked`).

* At most ``window`` rows are with the client at a time: the client's memory
  holds no more than the forwarder tracks, and the store stays the store.
* A row is deleted when every publication made of it is acknowledged (PUBACK,
  or for MQTT 5 a PUBACK without an error reason code); a refused one is
  published again after a backoff (1 s doubling to 60 s), counted in
  ``attempts``, its reason in ``last_error``.
* Order: each (re)connection splits the outbox in two.  Rows there at that
  moment are the *backlog*, replayed in id order at ``replay_rate`` rows per
  second; rows written after it are *live*, published at once in id order,
  so a long backlog never holds back what happens now.  Backlog events carry
  ``"replayed": true``; every event carries ``seq`` (its outbox id, growing)
  for a consumer that wants one order.
* A lost connection forgets what was handed over: the client drops its
  unacknowledged messages when it reconnects, and everything not yet
  acknowledged is replayed from the outbox (at least once: a PUBACK lost with
  the connection means that event comes twice).
* Bounds, applied every ``housekeeping`` seconds: rows older than
  ``max_age_seconds`` and the oldest beyond ``max_items`` are given up,
  counted per destination in the store (across restarts) and logged.

Only the thread that calls :meth:`Forwarder.pump` touches the state; the
client's thread only queues signals (:meth:`acked`, :meth:`connected`,
:meth:`disconnected`), so a callback never waits for the database.
"""

from __future__ import annotations

import collections
import json
import logging
import time
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any, Callable

from ..model import Publication
from ..store.queue import OutboxItem, Store

log = logging.getLogger(__name__)

DESTINATION = "mqtt"
KINDS = ("result", "receipt", "mo", "call")  # what the store must address to DESTINATION
TOPICS = {"mo": "mo", "result": "dr", "receipt": "dr", "call": "calls"}
WINDOW = 100
BATCH = 200
BACKOFF, BACKOFF_MAX = 1.0, 60.0
HOUSEKEEPING = 10.0

# publish(generation, topic relative to the prefix, payload) -> the client's message id,
# or None when not taken (not connected, or the connection it was meant for is gone).
Publish = Callable[[int, str, bytes], "int | None"]
# A dialect's formatter: (kind, payload) of an outbox event -> its own publication, or None.
EventFormatter = Callable[[str, dict[str, Any]], "Publication | None"]


def publications(item: OutboxItem, *, replayed: bool,
                 formatters: Sequence[EventFormatter] = ()) -> list[Publication]:
    """What an outbox row is published as: its event on ``mo``, ``dr`` or
    ``calls`` (the outbox payload plus ``seq``, ``kind`` and ``replayed``), and
    what each of the dialects' ``formatters`` makes of it (e.g. SOMP's
    ``somp/receive/...``).  Empty for a row of an unknown kind or an
    unreadable payload."""
    topic = TOPICS.get(item.kind)
    if topic is None or "unreadable" in item.payload:
        return []
    event = {"seq": item.id, "kind": item.kind, "replayed": replayed, **item.payload}
    out = [Publication(topic, json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "backslashreplace"))]
    for formatter in formatters:
        extra = formatter(item.kind, item.payload)
        if extra is not None:
            out.append(extra)
    return out


@dataclass
class _Row:
    item: OutboxItem
    mids: set[int] = field(default_factory=set)
    refused: str = ""


class Forwarder:
    """Delivers ``store``'s rows for :data:`DESTINATION` through ``publish`` (see the module doc).

    ``notify`` is called (from any thread) when :meth:`pump` has work; ``clock``
    is monotonic seconds."""

    def __init__(self, store: Store, publish: Publish, notify: Callable[[], None], *, replay_rate: float,
                 formatters: Sequence[EventFormatter] = (),
                 max_age_seconds: float, max_items: int, window: int = WINDOW, batch: int = BATCH,
                 housekeeping: float = HOUSEKEEPING, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._publish = publish
        self._formatters = tuple(formatters)
        self._notify = notify
        self._rate = max(replay_rate, 0.001)
        self._burst = max(1.0, self._rate * 0.05)  # a pump publishes at most 50 ms of replay at once
        self._max_age = max_age_seconds
        self._max_items = max_items
        self._window = window
        self._batch = batch
        self._housekeeping = housekeeping
        self._clock = clock
        self._signals: collections.deque[tuple[Any, ...]] = collections.deque()
        self._generation: int | None = None  # of the connection publications go to; None: not connected
        self._rows: dict[int, _Row] = {}  # handed to the client, by outbox id
        self._mids: dict[int, int] = {}  # client message id -> outbox id
        self._retry: dict[int, tuple[float, OutboxItem]] = {}  # refused rows: when to publish again
        self._live_after = 0
        self._backlog_after = 0
        self._boundary = 0
        self._tokens = 0.0
        self._refilled = 0.0
        self._replay_started: float | None = None
        self._replay_count = 0
        self._next_housekeeping = 0.0
        self.published = 0  # rows acknowledged since start
        self.last_error: str | None = None

    # --- signals, from the client's thread ----------------------------------------------

    def acked(self, mid: int, ok: bool, reason: str = "") -> None:
        """The broker answered the publication ``mid`` (``ok`` False: it refused it, ``reason``)."""
        self._signals.append(("ack", mid, ok, reason))
        self._notify()

    def connected(self, generation: int) -> None:
        """A connection (number ``generation``) is up; publications may go to it."""
        self._signals.append(("up", generation))
        self._notify()

    def disconnected(self) -> None:
        self._signals.append(("down",))
        self._notify()

    # --- the owner thread -----------------------------------------------------------------

    @property
    def generation(self) -> int | None:
        """The connection publications go to (set once its backlog is measured), None when none."""
        return self._generation

    @property
    def inflight(self) -> int:
        """Rows handed to the client and not yet acknowledged."""
        return len(self._rows)

    @property
    def replay_left(self) -> bool:
        """True while a backlog is being replayed."""
        return self._generation is not None and self._backlog_after < self._boundary

    def pump(self) -> float:
        """Take the signals, settle acknowledged rows, hand over what may go now,
        keep the bounds; return the seconds until it wants to run again anyway."""
        now = self._clock()
        self._take_signals(now)
        if now >= self._next_housekeeping:
            self._next_housekeeping = now + self._housekeeping
            self._keep_bounds()
        if self._generation is None:
            return self._housekeeping
        self._publish_retries(now)
        self._publish_live()
        return self._publish_backlog(now)

    def settle(self) -> None:
        """Delete what was acknowledged, publish nothing more: for the last moments
        of a clean stop, once the owner thread has ended."""
        self._take_signals(self._clock())

    def _take_signals(self, now: float) -> None:
        done: list[int] = []
        while self._signals:
            signal = self._signals.popleft()
            if signal[0] == "ack":
                self._settle(signal[1], signal[2], signal[3], now, done)
            elif signal[0] == "up":
                self._done(done)
                done = []
                self._restart(signal[1], now)
            else:
                self._generation = None
        self._done(done)

    def _done(self, ids: list[int]) -> None:
        if ids:
            self._store.outbox.done(ids)
            self.published += len(ids)  # counted once deleted: stats never show a row twice

    def _settle(self, mid: int, ok: bool, reason: str, now: float, done: list[int]) -> None:
        row_id = self._mids.pop(mid, None)
        row = self._rows.get(row_id) if row_id is not None else None
        if row is None:
            return  # a status or reply publication, or one of a connection gone
        row.mids.discard(mid)
        if not ok:
            row.refused = reason or "refused"
        if row.mids:
            return
        del self._rows[row.item.id]
        if not row.refused:
            done.append(row.item.id)
            return
        delay = min(BACKOFF_MAX, BACKOFF * 2 ** min(row.item.attempts, 16))
        self._store.outbox.retry(row.item.id, time.time() + delay, f"PUBACK: {row.refused}")
        self._retry[row.item.id] = (now + delay, row.item)
        self.last_error = f"event {row.item.id} refused by the broker: {row.refused}"
        log.warning("mqtt: %s; publishing it again in %g s", self.last_error, delay)

    def _restart(self, generation: int, now: float) -> None:
        """A new connection: whatever the old one held is forgotten (the client
        dropped it); everything in the outbox now is the backlog."""
        self._generation = generation
        self.last_error = None
        self._rows.clear()
        self._mids.clear()
        self._retry.clear()
        self._boundary = self._store.outbox.last_id(DESTINATION)
        self._backlog_after = 0
        self._live_after = self._boundary
        self._tokens, self._refilled = self._burst, now
        pending = self._store.outbox.stats().get(DESTINATION, {}).get("pending", 0)
        self._replay_started, self._replay_count = (now, pending) if pending else (None, 0)
        if pending:
            log.info("mqtt: replaying a backlog of %d event(s) at up to %g/s", pending, self._rate)

    def _hand(self, item: OutboxItem, replayed: bool) -> bool:
        """Publish one row; False when the client did not take it (the connection is gone)."""
        pubs = publications(item, replayed=replayed, formatters=self._formatters)
        if not pubs:
            self._store.outbox.drop([item.id], f"mqtt: event {item.id} of kind {item.kind!r} cannot be published")
            return True
        assert self._generation is not None
        row = _Row(item)
        for pub in pubs:
            mid = self._publish(self._generation, pub.topic, pub.payload)
            if mid is None:
                return False  # what was taken is dropped by the client at its next connection
            row.mids.add(mid)
            self._mids[mid] = item.id
        self._rows[item.id] = row
        return True

    def _room(self) -> int:
        return self._window - len(self._rows)

    def _publish_retries(self, now: float) -> None:
        for row_id, (due, item) in sorted(self._retry.items()):
            if due > now or self._room() <= 0:
                break
            del self._retry[row_id]
            if not self._hand(item, replayed=row_id <= self._boundary):
                return

    def _publish_live(self) -> None:
        while self._room() > 0:
            items = self._store.outbox.after(DESTINATION, self._live_after, min(self._room(), self._batch))
            for item in items:
                if not self._hand(item, replayed=False):
                    return
                self._live_after = item.id
            if len(items) < self._batch:
                return

    def _publish_backlog(self, now: float) -> float:
        if self._backlog_after >= self._boundary:
            return self._housekeeping
        self._tokens = min(self._burst, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now
        want = min(int(self._tokens), self._room(), self._batch)
        if want > 0:
            items = self._store.outbox.after(DESTINATION, self._backlog_after, want, upto=self._boundary)
            for item in items:
                if not self._hand(item, replayed=True):
                    return self._housekeeping
                self._backlog_after = item.id
                self._tokens -= 1
            if len(items) < want:  # nothing more up to the boundary (acknowledged rows are gone)
                self._backlog_after = self._boundary
        if self._backlog_after >= self._boundary:
            if self._replay_started is not None:
                log.info("mqtt: backlog of %d event(s) handed over in %.1f s", self._replay_count,
                         now - self._replay_started)
                self._replay_started = None
            return self._housekeeping
        if self._room() <= 0:
            return self._housekeeping  # an acknowledgement will wake the pump
        return max(0.0, (min(self._burst, 1.0 + self._rate * 0.02) - self._tokens) / self._rate)

    def _keep_bounds(self) -> None:
        expired = self._store.outbox.expire(DESTINATION, self._max_age)
        trimmed = self._store.outbox.trim(DESTINATION, self._max_items)
        if expired:
            log.warning("mqtt: %d undelivered event(s) older than %g h given up", expired, self._max_age / 3600)
        if trimmed:
            log.warning("mqtt: %d oldest undelivered event(s) given up: more than %d waiting", trimmed,
                        self._max_items)
        if expired or trimmed:
            self.last_error = f"{expired + trimmed} undelivered event(s) given up (see the dropped counter)"
