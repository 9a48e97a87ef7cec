"""What the binary doors (SMPP, CMPP) keep beside the queue: a message whose parts a
client sends one by one, and the facts a door's message ids are made of.

A client that splits a long text itself (SMPP ``esm_class`` UDHI or the ``sar_*``
TLVs, CMPP ``Pk_total``/``TP_udhi``) sends each part as its own submission and
expects each to be acknowledged, with its own id, before (or while) it sends
the next.  Each part is therefore committed on its own, durably, in
``door_parts``; the first part of a message reserves its task (a ``tasks`` row
with no messages yet), so every part's id is known at once and stays the same
across restarts: the door derives it from (task, part number).  The part that
completes the set queues the whole text into that task in the same
transaction (the store splits it again for the modem), so a crash leaves
either the part alone or the part and the message, never half of each.

A set that stays incomplete (a client that died between parts) is queued with
the parts it has once it is older than the door's timeout (:meth:`Doors.flush_stale`):
an SMS with a gap is worth more to its reader than none.

A retransmitted part (same door, key and part number within the timeout) is
answered with the ids it had, and queues nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from peewee import SqliteDatabase

from ..model import Accepted, NewMessage
from .db import write
from .times import LocalTime

log = logging.getLogger(__name__)

Enqueue = Callable[..., Accepted]


@dataclass(frozen=True)
class DoorTask:
    """A task as a door sees it: when it was made (epoch), which door (``source``)
    made it, and the part numbers its client sent one by one (empty: the
    message came whole)."""

    id: int
    created: float
    source: str
    parts: tuple[int, ...]


@dataclass(frozen=True)
class PartTaken:
    """A part committed: its task (and when that was made), whether it had been
    taken before (``duplicate``: nothing new was stored), and the queued message
    when this part completed its set."""

    task_id: int
    created: float
    duplicate: bool = False
    queued: Accepted | None = None


class Doors:
    """``store.doors`` of :class:`agent.store.queue.Store`; ``enqueue`` is the
    store's own :meth:`~agent.store.queue.Store.enqueue`."""

    def __init__(self, db: SqliteDatabase, times: LocalTime, enqueue: Enqueue) -> None:
        self._db = db
        self._t = times
        self._enqueue = enqueue

    def task(self, task_id: int) -> DoorTask | None:
        """The task ``task_id`` (None when there is no such task)."""
        row = self._db.execute_sql("SELECT created, source FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            return None
        parts = self._db.execute_sql("SELECT part FROM door_parts WHERE task_id = ? ORDER BY part",
                                     (task_id,)).fetchall()
        return DoorTask(task_id, float(row[0]), str(row[1] or ""), tuple(p[0] for p in parts))

    def add_part(self, door: str, key: str, *, part: int, total: int, text: str, encoding: str,
                 messages: Sequence[NewMessage], window: float) -> PartTaken:
        """Commit part ``part`` of ``total`` (1-based) of the message ``key`` names
        (the door's own key: originator, recipients, reference...).  ``messages``
        are the message as this part describes it, one per recipient (their
        text and encoding are replaced by the whole text's when the set is
        complete).  A part seen within ``window`` seconds is a retransmission.
        Raise ValueError when ``part`` is not within 1..``total``."""
        if not 1 <= part <= total or not messages:
            raise ValueError(f"part {part} of {total}")
        now = self._t.now()
        template = json.dumps([_plain(m) for m in messages], ensure_ascii=False, default=str)
        with write(self._db, durable=True):
            open_task = None
            for task_id, done, created in self._db.execute_sql(
                    "SELECT DISTINCT task_id, done, (SELECT created FROM tasks WHERE id = task_id) FROM door_parts"
                    " WHERE door = ? AND key = ? AND total = ? AND created >= ? ORDER BY task_id DESC",
                    (door, key, total, now - window)).fetchall():
                seen = self._db.execute_sql("SELECT 1 FROM door_parts WHERE task_id = ? AND part = ?",
                                            (task_id, part)).fetchone()
                if seen is not None:
                    return PartTaken(task_id, float(created or now), duplicate=True)
                if not done and open_task is None:
                    open_task = (task_id, float(created or now))
            if open_task is None:
                task_id = self._db.execute_sql("INSERT INTO tasks (created, source, client_ref, count)"
                                               " VALUES (?, ?, '', 0)", (now, door)).lastrowid
                open_task = (task_id, now)
            task_id, created = open_task
            self._db.execute_sql(
                "INSERT INTO door_parts (door, key, task_id, part, total, text, encoding, message, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (door, key, task_id, part, total, text, encoding, template, now))
            have = self._db.execute_sql("SELECT COUNT(*) FROM door_parts WHERE task_id = ?", (task_id,)).fetchone()[0]
            queued = self._complete(task_id, door) if have >= total else None
        return PartTaken(task_id, created, queued=queued)

    def flush_stale(self, older_than: float) -> int:
        """Queue every incomplete set whose first part came more than ``older_than``
        seconds ago, with the parts it has; return how many were queued."""
        cutoff = self._t.now() - older_than
        stale = self._db.execute_sql(
            "SELECT task_id, door, COUNT(*), MAX(total) FROM door_parts WHERE done = 0 GROUP BY task_id, door"
            " HAVING MIN(created) < ?", (cutoff,)).fetchall()
        for task_id, door, have, total in stale:
            with write(self._db, durable=True):
                still = self._db.execute_sql("SELECT 1 FROM door_parts WHERE task_id = ? AND done = 0",
                                             (task_id,)).fetchone()
                if still is None:
                    continue
                self._complete(task_id, door)
            log.warning("%s: task %d had %d of its %d parts after %.0f s; queued with what came", door, task_id,
                        have, total, older_than)
        return len(stale)

    def _complete(self, task_id: int, door: str) -> Accepted:
        """Queue the text of task ``task_id``'s parts, in part order, inside the caller's transaction."""
        rows = self._db.execute_sql("SELECT text, encoding, message FROM door_parts WHERE task_id = ? ORDER BY part",
                                    (task_id,)).fetchall()
        text = "".join(r[0] or "" for r in rows)
        encodings = {r[1] for r in rows}
        encoding = "8" if "8" in encodings else "U" if "U" in encodings else "7"
        messages = [replace(_message(m), text=text, encoding=encoding) for m in json.loads(rows[0][2])]
        accepted = self._enqueue(messages, source=door, task_id=task_id)
        self._db.execute_sql("UPDATE door_parts SET done = 1, text = NULL WHERE task_id = ?", (task_id,))
        return accepted


def _plain(m: NewMessage) -> dict[str, Any]:
    out = asdict(m)
    for key in ("scheduled", "expires"):
        if out[key] is not None:
            out[key] = out[key].isoformat()
    return out


def _message(d: dict[str, Any]) -> NewMessage:
    for key in ("scheduled", "expires"):
        if d.get(key):
            d[key] = datetime.fromisoformat(d[key])
    return NewMessage(**d)
