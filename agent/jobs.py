"""Periodic jobs on one thread, scheduled with ``schedule``.

* The daily quota reset at local midnight in the configured timezone.  The
  job runs every minute and resets the counters whose day is over, so it is
  exact to the minute, needs no timezone support from ``schedule``, and is
  right after a restart across midnight (the store also treats a counter of
  an earlier day as zero when it reads it).
* Incomplete multipart messages older than ``reassembly_timeout`` are stored
  with their gaps marked (hourly).
* Finished rows older than ``purge_days`` are deleted (hourly; 0 = never).

The thread sleeps on the shared stop event until the next job is due.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable
from zoneinfo import ZoneInfo

import schedule

from .config import QueueConfig
from .store.queue import Store
from .watchdog import NO_BEAT, Heartbeat

log = logging.getLogger(__name__)

SETTLE_WAIT = 600.0  # seconds a store-mode line has to settle what an earlier run left being sent
JOB_ALLOWANCE = 600.0  # seconds the jobs of one round may take (a purge of a large database)


class Jobs:
    def __init__(self, store: Store, config: QueueConfig, tz: ZoneInfo | None, stop: threading.Event, *,
                 unresolved_before: float | None = None, clock: Callable[[], float] = time.time) -> None:
        """``unresolved_before``: the start of this run, when some line keeps
        copies of its sends (send_mode = store); messages an earlier run left
        being sent that their line has not settled ``SETTLE_WAIT`` seconds after
        it are requeued in doubt."""
        self.store = store
        self._unresolved_before = unresolved_before
        self._clock = clock
        self.config = config
        self.tz = tz
        self._stop = stop
        self.scheduler = schedule.Scheduler()
        self.scheduler.every(1).minutes.do(self._guard, self.reset_daily)
        self.scheduler.every(1).hours.do(self._guard, self.flush_parts)
        if unresolved_before is not None:
            self.scheduler.every(1).minutes.do(self._guard, self.requeue_unsettled)
        if config.purge_days > 0:
            self.scheduler.every(1).hours.do(self._guard, self.purge)
        self._thread = threading.Thread(target=self._run, name="jobs", daemon=True)
        self.heartbeat: Heartbeat = NO_BEAT  # the watchdog's, set before start()

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        self.heartbeat.beat(JOB_ALLOWANCE)
        self.run_all()  # catch up at start: a restart may have crossed midnight
        while True:
            wait = max(self.scheduler.idle_seconds or 60.0, 0.0)
            self.heartbeat.beat(wait + JOB_ALLOWANCE)
            if self._stop.wait(wait):
                break
            self.scheduler.run_pending()

    def run_all(self) -> None:
        for job in (self.reset_daily, self.flush_parts, self.purge):
            self._guard(job)

    @staticmethod
    def _guard(job) -> None:  # type: ignore[no-untyped-def]
        try:
            job()
        except Exception:
            log.exception("job %s failed", getattr(job, "__name__", job))

    def requeue_unsettled(self) -> None:
        before = self._unresolved_before
        if before is None or self._clock() < before + SETTLE_WAIT:
            return
        n = self.store.requeue_in_flight(before=before)
        if n:
            log.warning("%d message(s) left being sent by an earlier run were not settled by their line within"
                        " %.0f s (the line is gone or offline): requeued, flagged in doubt", n, SETTLE_WAIT)
        self._unresolved_before = None  # once is enough: later rows are this run's

    def reset_daily(self) -> None:
        n = self.store.sims.reset_daily()
        if n:
            log.info("new day: daily counters of %d SIM(s) reset", n)

    def flush_parts(self) -> None:
        n = self.store.inbox.flush_stale_parts(self.config.reassembly_timeout)
        if n:
            log.warning("%d incomplete long message(s) stored with missing parts", n)

    def purge(self) -> None:
        if self.config.purge_days > 0:
            n = self.store.purge(self.config.purge_days)
            if n:
                log.info("purged %d old row(s)", n)
