"""The queue end to end inside the test process: a real store file, the
simulated bank on ptys, real line workers, the router and the store sink,
with an injectable clock so that midnight and schedules can be crossed."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.config import LineConfig, QueueConfig
from agent.jobs import Jobs
from agent.modem.bank import ModemBank
from agent.router import Router
from agent.model import NewMessage
from agent.store.queue import Store
from agent.store.sink import LineSink

from .conftest import FAST


class Clock:
    """Wall-clock time plus an offset the test can advance."""

    def __init__(self, start: float | None = None) -> None:
        self.offset = 0.0 if start is None else start - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class Stack:
    def __init__(self, sim, db: Path, *, lines: dict[str, dict] | None = None, queue: QueueConfig | None = None,
                 tz: ZoneInfo | None = None, clock: Clock | None = None, modems=FAST) -> None:
        self.sim = sim
        self.db = db
        self.clock = clock or Clock()
        self.tz = tz
        overrides = lines or {}
        self.lines = tuple(LineConfig(name=m.name, device=m.path, **overrides.get(m.name, {})) for m in sim.modems)
        self.queue = queue or QueueConfig(retry_backoff=0.0, poll_interval=0.1)
        self.stop_event = threading.Event()
        self.store = Store(db, timezone=tz, clock=self.clock, max_parts=modems.max_parts)
        self.store.open()
        self.router_wakes = True  # False: only the test wakes the router
        self.events = LineSink(self.store, {line.name: line.provider for line in self.lines},
                               report_window_hours=self.queue.report_window_hours,
                               wake_router=lambda: self.router_wakes and self.router.wake())
        self.bank = ModemBank(self.lines, modems, self.events, self.stop_event)
        self.router = Router(self.store, self.bank, {line.name: line for line in self.lines}, self.queue,
                             self.stop_event, clock=self.clock, timezone=tz)
        self.jobs = Jobs(self.store, self.queue, tz, self.stop_event)

    def start(self, *, router: bool = True) -> "Stack":
        self.bank.start()
        assert self.bank.wait_started(10), [w.state for w in self.bank]
        if router:
            self.router.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.bank.stop(5)
        self.router.wake()
        self.router.join(5)
        self.store.close()

    def send(self, *messages: NewMessage, task: bool = False) -> list[int]:
        ids = self.store.enqueue(list(messages), task=task, source="test").ids
        self.router.wake()
        return ids

    def row(self, msg_id: int) -> dict:
        row = self.store.message(msg_id)
        assert row is not None
        return row

    def wait_rows(self, ids, predicate, timeout: float = 10.0) -> list[dict]:
        """Wait until every row satisfies ``predicate`` (re-reading the database)."""
        deadline = time.monotonic() + timeout
        done = threading.Event()
        while True:
            rows = [self.row(i) for i in ids]
            if all(predicate(r) for r in rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"rows never matched: {rows}")
            done.wait(0.02)  # the rows change in another thread's transactions

    def wait_sql(self, query: str, predicate, timeout: float = 5.0) -> list[tuple]:
        """Re-run ``query`` until ``predicate(rows)`` holds; return the rows."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.sql(query)
            if predicate(rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"{query}: {rows}")
            threading.Event().wait(0.02)

    def sql(self, query: str, params=()) -> list[tuple]:
        """Run SQL on a separate connection, as an application on the box would."""
        con = sqlite3.connect(self.db, timeout=5)
        try:
            with con:
                return con.execute(query, params).fetchall()
        finally:
            con.close()


def msg(recipient: str = "+8613912345678", text: str = "hello", **kw) -> NewMessage:
    return NewMessage(recipient=recipient, text=text, **kw)


def no_backoff(queue: QueueConfig | None = None, **kw) -> QueueConfig:
    return replace(queue or QueueConfig(), retry_backoff=0.0, poll_interval=0.1, **kw)
