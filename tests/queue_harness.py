"""The agent end to end inside the test process, wired by :class:`agent.app.App`:
a real store file, the simulated bank on ptys, real line workers, the router,
the store sink and the HTTP server, with an injectable clock so that
midnight and schedules can be crossed."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import fields, replace
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.app import App
from agent.config import Config, LineConfig, ModemsConfig, QueueConfig, parse
from agent.core import Core
from agent.jobs import Jobs
from agent.model import NewMessage
from agent.modem.bank import ModemBank
from agent.router import Router
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


_TIMINGS = {"health_interval", "command_timeout", "send_timeout", "reopen_backoff", "reopen_backoff_max",
            "quarantine_after", "quarantine_retry", "reset_wait"}


class Stack:
    """The agent as :class:`agent.app.App` wires it, on the simulated bank
    ``sim``, its database ``db``: lines with the ``lines`` settings by name, the
    ``queue`` and ``modems`` settings, time zone ``tz`` and ``clock``; HTTP on
    127.0.0.1 and a free port.  Before :meth:`start`, :meth:`send` queues
    through a store of its own on the same file, as an application would.
    ``simulated`` False: the bank's ptys are configured as modem lines
    (``[line:*] device``), as on a box with real modems."""

    def __init__(self, sim, db: Path, *, lines: dict[str, dict] | None = None, queue: QueueConfig | None = None,
                 tz: ZoneInfo | None = None, clock: Clock | None = None, modems: ModemsConfig | None = None,
                 config: Config | None = None, simulated: bool = True) -> None:
        self.sim = sim
        self.db = db
        self.clock = clock or Clock()
        self.tz = tz
        self.queue = queue or QueueConfig(retry_backoff=0.0, poll_interval=0.1)
        base = config or parse("[agent]\nid = test\n[http]\nhost = 127.0.0.1\nport = 0\n", base_dir=db.parent)
        if simulated:
            sections = tuple(LineConfig(name=name, device="", **kw) for name, kw in (lines or {}).items())
        else:
            sections = tuple(LineConfig(name=m.name, device=m.path, **(lines or {}).get(m.name, {}))
                             for m in sim.modems)
        if modems is None:  # the config's [modems], with the short timeouts of FAST
            modems = replace(base.modems, **{f.name: getattr(FAST, f.name) for f in fields(FAST)
                                             if f.name in _TIMINGS})
        self.config = replace(base, agent=replace(base.agent, state_dir=db.parent, database=db,
                                                  timezone=tz.key if tz else base.agent.timezone),
                              modems=modems, queue=self.queue, lines=sections or base.lines)
        self.app = App(self.config, sim=sim if simulated else None, clock=self.clock)
        self._early: Store | None = None

    @property
    def started(self) -> bool:
        return self.app.router is not None

    @property
    def store(self) -> Store:
        if self.started:
            return self.app.store
        if self._early is None:
            self._early = Store(self.db, timezone=self.tz, clock=self.clock, max_parts=self.config.modems.max_parts)
            self._early.open()
        return self._early

    @property
    def router(self) -> Router:
        assert self.app.router is not None, "not started"
        return self.app.router

    @property
    def bank(self) -> ModemBank:
        assert self.app.bank is not None, "not started"
        return self.app.bank

    @property
    def core(self) -> Core:
        assert self.app.core is not None, "not started"
        return self.app.core

    @property
    def jobs(self) -> Jobs:
        assert self.app.jobs is not None, "not started"
        return self.app.jobs

    @property
    def events(self) -> LineSink:
        return self.app.events

    @property
    def lines(self) -> tuple[LineConfig, ...]:
        return tuple(self.core.lines.values())

    def start(self) -> "Stack":
        if self._early is not None:
            self._early.close()
            self._early = None
        self.app.start()
        assert self.app.wait_ready(10), [w.state for w in self.bank]
        return self

    def stop(self) -> None:
        if self._early is not None:
            self._early.close()
        self.app.stop(10)

    def send(self, *messages: NewMessage, task: bool = False) -> list[int]:
        ids = self.store.enqueue(list(messages), task=task, source="test").ids
        if self.started:
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
