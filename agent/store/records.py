"""Values the store hands out and takes (the shared ones are in :mod:`agent.model`), and the
digest of a submission."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

def fingerprint(rows: Iterable[Sequence[Any]]) -> str:
    """The digest of what a submission carries, for idempotency: given, per
    message in order, the values that shape what is sent (recipient, text,
    originator, encoding, report, flash, priority, gateway, user, client
    reference, provider, schedule, expiry, as the store writes them), return
    a hex SHA-256.  Texts are JSON-escaped (ASCII), so broken UCS-2 (lone
    surrogates) has a digest too."""
    # One encoder call for the whole submission: a 50,000-number batch takes a tenth of a second.
    text = json.dumps([list(row) for row in rows], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Assignment:
    """The router gave message ``id`` to ``line`` (SIM ``iccid``, '' when unknown)."""

    id: int
    line: str
    iccid: str
    parts: int


@dataclass(frozen=True)
class Outcome:
    """What a line did with one message.

    ``outcome`` is 'sent', 'failed', 'retry' or 'release'; ``references`` the TP-MR of
    each part the network accepted (-1: accepted, reference unknown);
    ``retry_at`` the epoch of the next try; ``give_up`` a 'retry' whose budget
    is spent (the message fails).  ``cause`` overrides the failure_cause the
    store derives from ``error_code`` (e.g. BAD_FORMAT for a text the line
    could not encode, NO_ROUTE)."""

    id: int
    line: str
    iccid: str
    outcome: str
    references: tuple[int, ...] = ()
    parts: int = 0
    error_code: int | None = None
    error: str = ""
    in_doubt: bool = False
    retry_at: float | None = None
    give_up: bool = False
    cause: str = ""


@dataclass(frozen=True)
class SimCounters:
    """Parts a SIM sent on local day ``day`` and in total."""

    iccid: str
    daily_sent: int
    total_sent: int
    day: str


@dataclass(frozen=True)
class OutboxItem:
    """One event waiting to be delivered to one destination (see :mod:`agent.store.outbox`).

    ``created`` and ``next_attempt`` are epochs; ``attempts`` counts the failed
    deliveries so far; ``last_error`` says why the last one failed."""

    id: int
    destination: str
    kind: str
    payload: dict[str, Any] = field(hash=False)
    created: float
    attempts: int
    next_attempt: float
    last_error: str | None = None
