"""What waits in the outbox for a door: delivery receipts of its own messages and the
received messages (MO) of every line, in outbox order.

The store writes an outbox row for the door (destination ``smpp`` or ``cmpp``) with
every ``receipt``, ``result`` and ``mo`` event, in the transaction of the data
it reports.  :class:`Feed` reads them in id order and turns each into what the
door sends (:class:`Receipt`, :class:`Received`), dropping what is not the
door's: receipts and results of other dialects' messages, of messages sent
without a report asked for, and results of sends that went out (their
receipt follows).  A failed send (or one expired before any line took it)
becomes a receipt too: UNDELIV, EXPIRED or REJECTD.

An item is handed to one session at a time and deleted only when every PDU
made of it was acknowledged with status 0 (:meth:`Feed.done`); one that a
client refused is due again after a backoff (:meth:`Feed.retry`), and the ones
of a session that ended go back to the queue (:meth:`Feed.release`): delivery
is at least once, in order, across restarts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from ..core import Core
from ..model import BAD_FORMAT, BAD_NUMBER, EXPIRED
from ..store.doors import DoorTask
from ..store.queue import OutboxItem, Store

log = logging.getLogger(__name__)

KINDS = ("receipt", "result", "mo")
RETRY_SECONDS = 5.0
SWEEP_BUDGET = 20_000  # items a sweep looks at (it goes on from there the next time)
TASK_CACHE = 10_000  # tasks remembered (whose door made them does not change)
_SKIP_BATCH = 200  # items looked at beyond the window, most of them other dialects' to skip
TP_EXPIRED = 0x46  # TP-Status: validity period expired


@dataclass(frozen=True)
class Receipt:
    """The final state of one of the door's messages, for one id the client was given."""

    task_id: int
    part: int  # the client's part number, 0 for a message the agent split
    recipient: str
    originator: str
    stat: str  # DELIVRD, UNDELIV, EXPIRED, REJECTD
    state: int  # SMPP message_state: 2 delivered, 3 expired, 5 undeliverable, 8 rejected
    err: int
    submitted: datetime  # local time
    done: datetime
    text: str  # the start of the message's text


@dataclass(frozen=True)
class Received:
    """A received SMS (MO), reassembled."""

    originator: str
    number: str  # the line's own number, '' when unknown
    line: str
    text: str
    encoding: str  # '7', '8', 'U' as the store keeps them
    received: datetime


Note = Receipt | Received


class Feed:
    """The outbox of door ``door``, for its sessions (all on the door's thread)."""

    def __init__(self, store: Store, core: Core, door: str, *, tz: tzinfo | None) -> None:
        self._outbox = store.outbox
        self._core = core
        self.door = door
        self._tz = tz
        self._busy: set[int] = set()  # items handed to a session, not yet done
        self.delivered = 0
        self.dirty = True  # the outbox may hold items for a session: look (set by any thread)
        self.retry_at: float | None = None  # monotonic time a refused item is due again
        self._swept = 0  # the last outbox id :meth:`sweep` looked at
        self._tasks: dict[int, DoorTask] = {}

    def take(self, limit: int) -> list[tuple[OutboxItem, list[Note]]]:
        """Up to ``limit`` items not handed out yet, each with what to send for it
        (items with nothing for this door are deleted on the way, however many)."""
        out: list[tuple[OutboxItem, list[Note]]] = []
        # Cleared before the read: a wake() from another thread while this reads
        # (a row committed just after the read began) sets it again and is not lost.
        self.dirty = False
        while len(out) < limit:
            batch = limit + len(self._busy) + _SKIP_BATCH
            items = self._outbox.next(self.door, limit=batch)
            skip: list[int] = []
            for item in items:
                if item.id in self._busy:
                    continue
                notes = self._notes(item)
                if not notes:
                    skip.append(item.id)
                    continue
                self._busy.add(item.id)
                out.append((item, notes))
                if len(out) >= limit:
                    break
            if skip:
                self._outbox.done(skip)
            if len(items) < batch or not skip:
                break  # the outbox has no more (or the rest waits for a retry or is handed out)
        if len(out) >= limit:
            self.dirty = True  # there may be more once the window has room
        else:
            self._due_later()
        return out

    def _due_later(self) -> None:
        """The first item may wait for its retry time, recorded by an earlier session or
        by the agent before a restart: look again then (the sessions' timers do)."""
        due = self._outbox.next_attempt(self.door)
        if due is None:
            return
        wait = due - time.time()
        if wait > 0:
            at = time.monotonic() + wait
            if self.retry_at is None or at < self.retry_at:
                self.retry_at = at

    def done(self, item_id: int) -> None:
        self._busy.discard(item_id)
        self._outbox.done([item_id])
        self.delivered += 1
        self.dirty = True

    def retry(self, item_id: int, error: str) -> None:
        """Item ``item_id`` was refused: due again in :data:`RETRY_SECONDS` (the door looks again then)."""
        self._busy.discard(item_id)
        self._outbox.retry(item_id, time.time() + RETRY_SECONDS, error)
        self.retry_at = time.monotonic() + RETRY_SECONDS

    def drop(self, item_id: int, reason: str) -> None:
        """Give item ``item_id`` up (deleted, counted as dropped for the door)."""
        self._busy.discard(item_id)
        self._outbox.drop([item_id], reason)
        self.dirty = True

    def release(self, item_ids: Sequence[int]) -> None:
        for item_id in item_ids:
            self._busy.discard(item_id)
        if item_ids:
            self.dirty = True

    # --- outbox payloads -> notes -------------------------------------------------------------

    def sweep(self, budget: int = SWEEP_BUDGET) -> int:
        """Delete the items this door will never send (other dialects' receipts and results,
        results of sends that went out...) wherever they are, also while no receiver is bound:
        they would pile up for a door whose clients only transmit.  Looks at up to ``budget``
        items after the last one looked at (each item once); return how many were deleted."""
        dropped: list[int] = []
        seen = 0
        while seen < budget:
            items = self._outbox.after(self.door, self._swept, limit=min(500, budget - seen))
            if not items:
                break
            for item in items:
                self._swept = item.id
                seen += 1
                if item.id not in self._busy and self._wanted(item) is None:
                    dropped.append(item.id)
        if dropped:
            self._outbox.done(dropped)
        return len(dropped)

    def _wanted(self, item: OutboxItem) -> DoorTask | bool | None:
        """None when the door never sends ``item``; else its task (a receipt) or True (an MO)."""
        p = item.payload
        if item.kind == "mo":
            return True
        if item.kind not in ("receipt", "result") or not p.get("status_report"):
            return None
        if item.kind == "result" and p.get("status") != "failed":
            return None
        task_id = p.get("task_id")
        if not isinstance(task_id, int):
            return None
        task = self._tasks.get(task_id)
        if task is None:
            task = self._core.door_task(task_id)
            if task is None:
                return None
            if len(self._tasks) >= TASK_CACHE:
                self._tasks.clear()
            self._tasks[task_id] = task
        return task if task.source == self.door else None

    def _notes(self, item: OutboxItem) -> list[Note]:
        p = item.payload
        task = self._wanted(item)
        if task is None:
            return []
        if item.kind == "mo":
            return [Received(str(p.get("originator") or ""), str(p.get("number") or ""), str(p.get("line") or ""),
                             str(p.get("text") or ""), str(p.get("encoding") or "7"),
                             _when(p.get("receive_date")) or datetime.now())]
        assert isinstance(task, DoorTask)
        task_id = task.id
        stat, state, err = _outcome(item.kind, p)
        row = self._core.message(int(p["message_id"])) if isinstance(p.get("message_id"), int) else None
        text = str((row or {}).get("text") or "")[:20]
        originator = str((row or {}).get("originator") or "")
        submitted = datetime.fromtimestamp(task.created, self._tz).replace(tzinfo=None)
        done = _when(p.get("at")) or datetime.now(self._tz).replace(tzinfo=None)
        recipient = str(p.get("recipient") or "")
        return [Receipt(task_id, part, recipient, originator, stat, state, err, submitted, done, text)
                for part in (task.parts or (0,))]


def _outcome(kind: str, p: dict[str, Any]) -> tuple[str, int, int]:
    """(stat, SMPP message_state, err) of a receipt or a failed result."""
    if kind == "receipt":
        status = int(p.get("status") or 0)
        if p.get("delivered"):
            return "DELIVRD", 2, 0
        if status == TP_EXPIRED:
            return "EXPIRED", 3, status
        return "UNDELIV", 5, status
    cause = p.get("failure_cause")
    err = int(p.get("error_code") or 0)
    if cause == EXPIRED:
        return "EXPIRED", 3, err
    if cause in (BAD_FORMAT, BAD_NUMBER):
        return "REJECTD", 8, err
    return "UNDELIV", 5, err


def _when(text: Any) -> datetime | None:
    try:
        return datetime.strptime(str(text), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
