"""Stores on real SQLite files in tmp_path, a settable clock, and message builders."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from agent.codec import parts, pdu
from agent.model import DeliveryReport, IncomingSms
from agent.model import NewMessage
from agent.store.queue import Assignment, Outcome, Store

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2024-05-01 12:00:00 in Shanghai (04:00 UTC)
T0 = datetime(2024, 5, 1, 4, 0, tzinfo=timezone.utc).timestamp()


class Clock:
    """A clock tests move by hand."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, clock) -> Iterator[Store]:
    s = Store(tmp_path / "agent.db", timezone=SHANGHAI, clock=clock)
    s.open()
    yield s
    s.close()


@contextmanager
def traced(store: Store) -> Iterator[list[str]]:
    """Record every SQL statement the calling thread's connection runs."""
    statements: list[str] = []
    conn = store._db.connection()
    conn.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        conn.set_trace_callback(None)


def sync_of_commit(statements: list[str]) -> list[str]:
    """For each COMMIT, the synchronous level last set before it."""
    level, out = "NORMAL(default)", []
    for s in statements:
        if s.upper().startswith("PRAGMA SYNCHRONOUS"):
            level = s.split("=")[1].strip().upper()
        elif s.upper().startswith("COMMIT"):
            out.append(level)
    return out


def send(store: Store, *messages: NewMessage, line: str = "G1", iccid: str = "8986001", refs=None,
         outcome: str = "sent") -> list[int]:
    """Enqueue, queue on ``line`` and record an outcome; return the ids."""
    ids = store.enqueue(list(messages)).ids
    rows = [store.message(i) for i in ids]
    store.dispatch.mark_queued([Assignment(r["id"], line, iccid, r["parts"]) for r in rows])
    store.dispatch.record_outcomes([
        Outcome(r["id"], line, iccid, outcome,
                tuple(refs[k] if refs else range(r["parts"])) if outcome == "sent" else (), r["parts"])
        for k, r in enumerate(rows)])
    return ids


def deliver(text: str, *, sender: str = "+8613800000001", line: str = "G1", ref: int = 7,
            scts: datetime | None = None, encoding: str | None = None) -> list[IncomingSms]:
    """The IncomingSms of each part of a message, in sequence order (one when it fits)."""
    scts = scts or datetime(2024, 5, 1, 12, 0, 5, tzinfo=SHANGHAI)
    pdus = parts.encode_delivers(sender, text, ref=ref, scts=scts, encoding=encoding, max_parts=255)
    return [IncomingSms(line, p.hex, pdu.decode(p.hex)) for p in pdus]


def report(reference: int, *, status: int = 0, line: str = "G1", recipient: str = "13600000000",
           minute: int = 1) -> DeliveryReport:
    scts = datetime(2024, 5, 1, 12, minute, 0, tzinfo=SHANGHAI)
    discharge = datetime(2024, 5, 1, 12, minute, 30, tzinfo=SHANGHAI)
    hex_ = pdu.encode_status_report(reference, recipient, status=status, scts=scts, discharge_time=discharge).hex
    return DeliveryReport(line, reference, status, recipient, scts, discharge, hex_)
