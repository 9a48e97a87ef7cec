"""The dispatcher: one thread that moves messages from the queue to the lines.

Each turn it (1) writes the outcomes the lines reported since the last turn,
in one transaction; (2) works out which lines are idle, in round-robin order
(a line that has just sent goes to the back); (3) reads their SIMs' quota
counters and the waiting messages some idle line could take; (4) applies the
pure rule of :mod:`agent.routing`; (5) marks the chosen rows ``Q`` durably and
hands each to its line's worker.  Then it sleeps until something changes: a
submission (:meth:`Router.wake`), a line's outcome or state, the next
scheduled or backed-off message, or, while lines are idle, a cheap
``PRAGMA data_version`` check every ``poll_interval`` seconds that notices rows
inserted by other programs with plain SQL.

Stopping is in two steps.  :meth:`Router.drain` stops handing out messages
while the sends in flight go on; :meth:`Router.wait_idle` waits (bounded) for
their outcomes, which are written as they come.  Then the shared stop event
ends the thread: the lines cut the sends still running short, and those
(``SendResult.interrupted`` with ``in_doubt``) stay 'Q', so the next start
treats them like the sends of a crash (in doubt, or resolved from the modem's
memory); a send a line had not started yet goes back to waiting as it was.

What it sees is measured in the :class:`~agent.metrics_recorder.Recorder`
it is given: how long each line took from being handed a message to its
result (a send the stop cut short, or one that never started, is not
counted), how long each message took from its ``create_date`` to being
recorded sent, and the final outcomes it wrote (sent, failed, expired).
"""

from __future__ import annotations

import functools
import logging
import math
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from .config import LineConfig, QueueConfig
from .errors import LineOffline
from .limits import LineLimits
from .metrics_recorder import EXPIRED, Recorder
from .modem.bank import ModemBank
from .model import FAILED, RETRY, SENT, OutgoingSms, SendResult
from .routing import Candidate, LineSlot, remaining, retry_delay, route
from .store.queue import Assignment, Outcome, Store
from .model import RELEASE
from .watchdog import NO_BEAT, Heartbeat

log = logging.getLogger(__name__)

STOP_ANSWER_WAIT = 2.0  # seconds the lines have to answer once the stop event is set
TURN_ALLOWANCE = 30.0  # seconds one turn may take (a busy database) before the watchdog calls it hung


@dataclass(frozen=True)
class _InFlight:
    msg: Candidate
    line: str
    iccid: str
    handed: float = 0.0  # time.monotonic() when the line was given the message


class Router:
    def __init__(self, store: Store, bank: ModemBank, lines: Mapping[str, LineConfig], config: QueueConfig,
                 stop: threading.Event, *, validity_minutes: int | None = 1440, status_report: bool = True,
                 clock: Callable[[], float] = time.time, timezone: ZoneInfo | None = None,
                 limits: LineLimits | None = None, recorder: Recorder | None = None) -> None:
        self.store = store
        self.bank = bank
        self.lines = lines
        self.limits = limits or LineLimits(store, lines)
        self.config = config
        self._stop = stop
        self._validity = validity_minutes
        self._status_report = status_report
        self._clock = clock
        self._tz = timezone
        self.recorder = recorder or Recorder()
        # wake() counts; the thread compares the count with the one it last acted on,
        # so no wake-up can be lost between a wait ending and the next turn.
        self._wakes = 0
        self._woke = threading.Condition()
        self._done: queue.SimpleQueue[tuple[_InFlight, SendResult]] = queue.SimpleQueue()
        self._order: deque[str] = deque(lines)  # round-robin order of every line
        self._busy: dict[str, _InFlight] = {}
        self._data_version = -1
        self._next_check = 0.0  # when a scheduled or backed-off message becomes due
        self.pusher: Any = None  # anything with wake(): woken when outcomes were written (they may be pushed)
        self.heartbeat: Heartbeat = NO_BEAT  # the watchdog's, set before start()
        self._draining = False
        self._idle = threading.Condition()  # notified when outcomes were written (wait_idle)
        self._thread = threading.Thread(target=self._run, name="router", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Something changed (a submission, a result, a line became usable): look again now."""
        with self._woke:
            self._wakes += 1
            self._woke.notify()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def drain(self) -> None:
        """Hand out no more messages; sends in flight go on and their outcomes are written."""
        self._draining = True
        self.wake()

    def wait_idle(self, timeout: float) -> int:
        """After :meth:`drain`: wait up to ``timeout`` seconds until no send is in
        flight (every outcome written); return how many still are."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy and self._thread.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._idle.wait(left)
            return len(self._busy)

    @property
    def in_flight(self) -> int:
        return len(self._busy)

    # --- the thread --------------------------------------------------------------

    def _run(self) -> None:
        seen = -1  # the first turn is a full one
        while not self._stop.is_set():
            # A turn is "woken" when wake() was called since the previous turn
            # began: one that comes during a turn, or while the thread is between
            # its wait and its next turn, makes the next turn a full one.
            with self._woke:
                woken, seen = self._wakes != seen, self._wakes
            self.heartbeat.beat(TURN_ALLOWANCE)
            try:
                timeout = self._turn(woken)
            except Exception:
                log.exception("router turn failed; trying again shortly")
                timeout = 1.0
            with self._woke:
                if self._wakes == seen and not self._stop.is_set():
                    self.heartbeat.beat(timeout + TURN_ALLOWANCE)
                    self._woke.wait(timeout)
        self._drain_on_stop()

    def _turn(self, woken: bool) -> float:
        """One pass; return how long to sleep at most."""
        freed = self._record_outcomes()  # lines that reported are free again: always look
        if self._draining:
            return self.config.poll_interval
        now = self._clock()
        version = self.store.data_version()
        if not woken and not freed and version == self._data_version and now < self._next_check:
            return min(self.config.poll_interval, self._next_check - now)
        self._data_version = version
        idle = self._idle_slots()
        if idle:
            cands = self.store.dispatch.candidates(now=now, lines=[s.name for s in idle],
                                          providers={s.provider for s in idle if s.provider},
                                          limit=self.config.batch)
            plan = route(cands, idle, now)
            if plan.expired:
                self.store.expire([m.id for m in plan.expired])
                self.recorder.messages.inc(EXPIRED, n=len(plan.expired))
                if self.pusher is not None:
                    self.pusher.wake()
                log.info("%d message(s) expired before they could be sent", len(plan.expired))
            if plan.assignments:
                self._dispatch(plan.assignments)
        due = self.store.dispatch.pending_wakeup(now=now)
        self._next_check = math.inf if due is None else due
        return min(self.config.poll_interval, max(self._next_check - now, 0.0))

    # --- lines -------------------------------------------------------------------------

    def _idle_slots(self) -> list[LineSlot]:
        usable = []
        for name in self._order:
            if name in self._busy:
                continue
            state = self.bank[name].state
            if state.can_send and state.iccid:
                usable.append((name, state.iccid))
        if not usable:
            return []
        counters = self.store.sims.sim_counters([iccid for _, iccid in usable])
        slots = []
        for name, iccid in usable:
            daily_limit, total_limit = self.limits.get(name)
            c = counters.get(iccid)
            daily = remaining(daily_limit, c.daily_sent if c else 0)
            total = remaining(total_limit, c.total_sent if c else 0)
            if daily == 0 or total == 0:
                continue  # at its quota: skipped until midnight or a reset
            slots.append(LineSlot(name, self.limits.provider(name), daily, total))
        return slots

    def _dispatch(self, assignments: list[tuple[Candidate, LineSlot]]) -> None:
        flights = [_InFlight(msg, slot.name, self.bank[slot.name].state.iccid) for msg, slot in assignments]
        moved = set(self.store.dispatch.mark_queued([Assignment(f.msg.id, f.line, f.iccid, f.msg.parts)
                                                     for f in flights]))
        for f in flights:
            if f.msg.id not in moved:
                continue  # changed or deleted by an application since it was read: not ours to send
            # A line that sends goes to the back of the round robin.
            self._order.remove(f.line)
            self._order.append(f.line)
            f = replace(f, handed=time.monotonic())
            self._busy[f.line] = f
            try:
                future = self.bank[f.line].submit(self._outgoing(f.msg))
            except LineOffline as exc:
                self._done.put((f, SendResult(f.msg.id, f.line, RETRY, error=str(exc), at=None)))
                continue
            future.add_done_callback(functools.partial(self._finished, f))

    def _outgoing(self, msg: Candidate) -> OutgoingSms:
        # Jindi encodings: 'U' UCS2, '8' 8-bit (the text's ISO-8859-1 bytes), '7' GSM-7
        # when every character fits, else UCS2 rather than failing the message.
        encoding = {"U": "ucs2", "8": "8bit"}.get(msg.encoding)
        return OutgoingSms(id=msg.id, recipient=msg.recipient, text=msg.text, encoding=encoding,
                           status_report=msg.status_report and self._status_report, flash=msg.flash,
                           validity_minutes=self._validity)

    def _finished(self, flight: _InFlight, fut: Future[SendResult]) -> None:
        """Runs in the worker's thread: queue the outcome and wake the router."""
        try:
            result = fut.result()
        except Exception as exc:  # the future never fails by contract; be safe
            result = SendResult(flight.msg.id, flight.line, RETRY, error=str(exc), in_doubt=True)
        if not result.interrupted:  # cut short by the stop, or never started: not a send's duration
            self.recorder.send_duration.observe(time.monotonic() - flight.handed, flight.line)
        self._done.put((flight, result))
        self.wake()

    # --- outcomes ---------------------------------------------------------------------

    def _record_outcomes(self) -> bool:
        """Write the outcomes the lines reported; True when there were any.
        Copies a line keeps in its modem (send_mode = store) are deleted once
        the outcome is on disk."""
        outcomes: list[Outcome] = []
        copies: list[tuple[str, tuple[str, ...]]] = []
        created: dict[int, float | None] = {}  # message id -> its create_date
        while True:
            try:
                flight, result = self._done.get_nowait()
            except queue.Empty:
                break
            self._busy.pop(flight.line, None)
            if result.interrupted and result.in_doubt:
                log.warning("message %d: the stop cut its send on %s short (%s); it may have gone out:"
                            " left in doubt, settled at the next start", flight.msg.id, flight.line, result.error)
                continue
            outcomes.append(self._outcome(flight, result))
            created[flight.msg.id] = flight.msg.created
            if result.stored:
                copies.append((flight.line, result.stored))
        if outcomes:
            self.store.dispatch.record_outcomes(outcomes, durable=bool(copies))
            self._measure(outcomes, created)
            if self.pusher is not None:
                self.pusher.wake()
        for line, locations in copies:
            try:
                self.bank[line].forget_stored(locations)
            except LineOffline:
                pass  # swept when the line is initialised again
        with self._idle:
            self._idle.notify_all()
        return bool(outcomes)

    def _measure(self, outcomes: list[Outcome], created: Mapping[int, float | None]) -> None:
        """Count the final outcomes just written, and how long each message sent
        waited since its create_date (skipped when that is unreadable or, set by
        an application in another time zone, after the sending)."""
        now = self._clock()
        for o in outcomes:
            if o.outcome == SENT:
                self.recorder.messages.inc(SENT)
                since = created.get(o.id)
                if since is not None and now >= since:
                    self.recorder.queue_to_sent.observe(now - since)
            elif o.outcome == FAILED or (o.outcome == RETRY and o.give_up):
                self.recorder.messages.inc(FAILED)

    def _outcome(self, f: _InFlight, r: SendResult) -> Outcome:
        if r.interrupted:  # never started: the line stopped first
            return Outcome(f.msg.id, f.line, f.iccid, RELEASE)
        if r.outcome == SENT:
            return Outcome(f.msg.id, f.line, f.iccid, "sent", r.references, r.parts, in_doubt=r.in_doubt)
        if r.outcome == FAILED:
            return Outcome(f.msg.id, f.line, f.iccid, "failed", r.references, r.parts, r.error_code, r.error)
        errors = f.msg.errors + 1
        give_up = errors > self.config.max_retries
        retry_at = self._clock() + retry_delay(errors, base=self.config.retry_backoff,
                                               maximum=self.config.retry_backoff_max)
        if not give_up:
            log.info("message %d: %s on %s; retry %d/%d in %.0fs", f.msg.id, r.error or "temporary failure",
                     f.line, errors, self.config.max_retries, retry_at - self._clock())
        return Outcome(f.msg.id, f.line, f.iccid, "retry", r.references, r.parts, r.error_code, r.error,
                       in_doubt=r.in_doubt, retry_at=retry_at, give_up=give_up)

    def _drain_on_stop(self) -> None:
        """At the stop: write the outcomes the lines still report.

        :meth:`drain` and :meth:`wait_idle` gave the sends their time before
        the stop event was set; the lines now answer what they still hold at
        once (a send cut short is ``interrupted``), so a short wait suffices."""
        deadline = time.monotonic() + STOP_ANSWER_WAIT
        while self._busy and time.monotonic() < deadline:
            try:
                flight, result = self._done.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self._done.put((flight, result))
            self._record_outcomes()
        self._record_outcomes()
        if self._busy:
            log.warning("%d send(s) gave no answer at the stop (%s): left in doubt, settled at the next start",
                        len(self._busy), ", ".join(f"message {f.msg.id} on {f.line}" for f in self._busy.values()))
