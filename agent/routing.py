"""The routing rule, pure: which waiting message goes to which idle line.

Given the messages waiting to be sent and the idle lines in round-robin
order, :func:`route` returns the assignments and the messages that expired.
No I/O, no clock of its own (``now`` is an epoch float passed in), so it is
table-tested; the dispatcher thread in :mod:`agent.router` applies it.

The rule (GoIP's round robin, with quotas):

* Messages are considered highest ``priority`` first, then oldest (lowest id).
* A message whose ``expires`` has passed is expired, never sent late.
* A message whose ``scheduled`` or ``not_before`` (retry backoff) time has not
  come is skipped; it does not hold back the others.
* A message goes to the *first* idle line, in the order given, that may take
  it: the pinned line if ``gateway`` names one (a pin wins over a provider),
  else any line of its ``provider`` group, else any line; and whose SIM has
  room for all its parts today and in total (``None`` = unlimited).
* A retried message avoids the line that last failed it when another allowed
  line is idle.
* Each line takes at most one message per call; the caller moves a line
  that has sent to the back of its queue.
* A message that no idle line can take waits (it is not failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

ANY = "*"


@dataclass(frozen=True)
class Candidate:
    """A message waiting in the queue, as the router needs to see it."""

    id: int
    recipient: str
    text: str = ""
    encoding: str = "7"  # Jindi: '7' GSM-7 (UCS2 when it does not fit), '8' 8-bit, 'U' UCS2
    gateway: str = ANY  # '*' or the name of the line it is pinned to
    provider: str = ""  # '' any provider group
    priority: int = 0
    parts: int = 1
    errors: int = 0
    status_report: bool = True
    flash: bool = False
    in_doubt: bool = False
    scheduled: float | None = None
    expires: float | None = None
    not_before: float | None = None
    last_line: str = ""  # the line that last failed it
    created: float | None = None  # epoch of its create_date (to the second; None unreadable)


@dataclass(frozen=True)
class LineSlot:
    """An idle line able to send now, with what its SIM may still send."""

    name: str
    provider: str = ""
    daily_left: int | None = None  # None: unlimited
    total_left: int | None = None

    def has_room(self, parts: int) -> bool:
        return all(left is None or left >= parts for left in (self.daily_left, self.total_left))


@dataclass
class Plan:
    assignments: list[tuple[Candidate, LineSlot]] = field(default_factory=list)
    expired: list[Candidate] = field(default_factory=list)


def allowed(msg: Candidate, line: LineSlot) -> bool:
    """True when ``line`` may carry ``msg`` (pin, provider group and quota room)."""
    if msg.gateway not in ("", ANY):
        if msg.gateway != line.name:
            return False
    elif msg.provider and msg.provider != line.provider:
        return False
    return line.has_room(msg.parts)


def due(msg: Candidate, now: float) -> bool:
    return all(t is None or t <= now for t in (msg.scheduled, msg.not_before))


def route(candidates: Iterable[Candidate], idle: Sequence[LineSlot], now: float) -> Plan:
    """Assign waiting messages to idle lines (see the module doc for the rule)."""
    plan = Plan()
    free = list(idle)
    for msg in sorted(candidates, key=lambda m: (-m.priority, m.id)):
        if msg.expires is not None and msg.expires <= now:
            plan.expired.append(msg)
            continue
        if not free or not due(msg, now):
            continue
        fits = [line for line in free if allowed(msg, line)]
        if not fits:
            continue
        choice = next((line for line in fits if line.name != msg.last_line), fits[0])
        plan.assignments.append((msg, choice))
        free.remove(choice)
    return plan


def retry_delay(errors: int, *, base: float = 30.0, maximum: float = 900.0) -> float:
    """Seconds before the ``errors``-th retry: ``base`` doubling per error, capped at ``maximum``."""
    return min(base * 2 ** max(errors - 1, 0), maximum)


def remaining(limit: int, used: int) -> int | None:
    """What a quota leaves: None when unlimited (limit < 0), else never below 0."""
    return None if limit < 0 else max(limit - used, 0)
