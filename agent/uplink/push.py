"""Webhooks: deliver the store's outbox to HTTP destinations.

Each :class:`Destination` has a name (the outbox rows addressed to it, see
:mod:`agent.store.outbox`) and a formatter that turns an event into the HTTP
request to make, or None to skip it.  :class:`Pusher` runs a small pool of
threads (``push-1``, ``push-2``...) that serve the destinations:

* per destination, items go strictly in outbox order; one that fails (no
  connection, a timeout, an answer other than 2xx) is retried after
  ``backoff`` seconds, doubling up to ``backoff_max``, and the items after it
  wait; other destinations go on (a destination is never served by two
  threads at once, and with fewer threads than destinations a dead one holds
  a thread for at most ``timeout`` per attempt);
* an item older than ``max_age_hours`` is given up (deleted, counted per
  destination in the store, logged at WARNING); so is one whose formatter
  raises (logged with its traceback) or asks for something other than
  http(s);
* an item is deleted from the outbox only after its 2xx: delivery is at
  least once, across restarts (a new pusher on the same file resumes).

Requests go only to the URL the formatter names: no proxy from the
environment, redirects are not followed (a 3xx is a failure), and URLs are
never logged (a Jindi URL template carries the message text).  Threads wait on
a condition until a destination is due (its retry time) or :meth:`Pusher.wake`
says new items may be there, and look again every ``poll`` seconds anyway, so
an idle pusher costs nothing but that poll.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..config import PushConfig
from ..model import Formatter, PushRequest
from ..store.queue import OutboxItem, Store
from ..watchdog import Heartbeat, Watchdog

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0
BATCH = 50
ROUND_ALLOWANCE = 30.0  # seconds of work besides the pushes' own timeouts before the watchdog calls a thread hung
_READ_LIMIT = 65536  # bytes of an answer read (and ignored) before the connection is closed


@dataclass(frozen=True)
class Destination:
    """A webhook: its ``name`` (as in the store's ``push_targets``) and the
    formatter of its requests, ``(kind, payload) -> PushRequest | None``."""

    name: str
    format: Formatter


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a push goes to its configured URL or fails."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


@dataclass
class _State:
    """A destination's scheduling state; ``busy`` and ``due`` are guarded by the pusher's condition."""

    destination: Destination
    due: float = 0.0  # when to look at it next (clock epoch)
    busy: bool = False
    woken: bool = False  # wake() came while it was being served
    delivered: int = 0
    last_error: str | None = None
    failing_since: float | None = None


class Pusher:
    """Delivers the outbox of ``store`` to ``destinations`` (see the module doc).

    ``config`` gives timeout, backoff, backoff_max, max_age_hours and workers;
    ``stop`` is the agent's stop event (set it, then :meth:`wake`, then
    :meth:`join`); ``clock`` returns epoch seconds and must agree with the
    store's clock (retry times are stored as epochs).  Raise ValueError when
    two destinations share a name."""

    def __init__(self, store: Store, destinations: Sequence[Destination], config: PushConfig,
                 stop: threading.Event, *, clock: Callable[[], float] = time.time,
                 poll: float = POLL_SECONDS, batch: int = BATCH) -> None:
        names = [d.name for d in destinations]
        if len(set(names)) != len(names):
            raise ValueError(f"push destinations with the same name: {names}")
        self._store = store
        self._config = config
        self._stop = stop
        self._clock = clock
        self._poll = poll
        self._batch = batch
        self._states = [_State(d) for d in destinations]
        self._cond = threading.Condition()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
        workers = min(max(config.workers, 1), len(destinations))
        self._threads = [threading.Thread(target=self._run, name=f"push-{i}", daemon=True)
                         for i in range(1, workers + 1)]
        self._beats: dict[str, Heartbeat] = {}

    def start(self) -> None:
        """Start the worker threads (none when there is no destination)."""
        for thread in self._threads:
            thread.start()

    def watch(self, watchdog: Watchdog) -> None:
        """Give each worker thread a heartbeat of ``watchdog`` (before :meth:`start`)."""
        for thread in self._threads:
            self._beats[thread.name] = watchdog.register(thread.name, thread.is_alive)

    def _beat(self, within: float | None) -> None:
        beat = self._beats.get(threading.current_thread().name)
        if beat is not None:
            beat.beat(within)

    def wake(self) -> None:
        """New items may be in the outbox (or the stop event was set): look now.
        A destination waiting for a retry keeps waiting: its new items queue behind."""
        now = self._clock()
        with self._cond:
            for state in self._states:
                state.woken = True
                if state.failing_since is None:
                    state.due = min(state.due, now)
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the threads to end, ``timeout`` seconds in all; True when they have."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per destination: ``pending`` and ``dropped`` (from the store; dropped counts
        across restarts), ``delivered`` (since start), ``last_error`` (None after a
        success), ``failing_since`` (epoch of the first failure in a row, or None)."""
        stored = self._store.outbox.stats()
        out = {}
        for state in self._states:
            counts = stored.get(state.destination.name, {})
            out[state.destination.name] = {
                "pending": counts.get("pending", 0), "dropped": counts.get("dropped", 0),
                "delivered": state.delivered, "last_error": state.last_error,
                "failing_since": state.failing_since}
        return out

    # --- the threads -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while (state := self._take()) is not None:
                try:
                    due = self._serve(state)
                except Exception:
                    log.exception("%s: push round failed; trying again shortly", state.destination.name)
                    due = self._clock() + self._poll
                self._release(state, due)
        finally:
            self._store.close()

    def _take(self) -> _State | None:
        """Wait until some idle destination is due and claim it; None once stopping."""
        with self._cond:
            while not self._stop.is_set():
                now = self._clock()
                idle = [s for s in self._states if not s.busy]
                ready = [s for s in idle if s.due <= now]
                if ready:
                    state = min(ready, key=lambda s: s.due)  # the longest waiting first
                    state.busy, state.woken = True, False
                    return state
                timeout = min([s.due - now for s in idle] + [self._poll])
                self._beat(max(timeout, 0.0) + ROUND_ALLOWANCE)
                self._cond.wait(timeout)
            return None

    def _release(self, state: _State, due: float) -> None:
        with self._cond:
            if state.woken and state.failing_since is None:
                due = self._clock()  # items may have come while it was being served
            state.busy, state.woken, state.due = False, False, due
            self._cond.notify_all()

    def _serve(self, state: _State) -> float:
        """Deliver a batch of ``state``'s due items in order; return when to look again."""
        name = state.destination.name
        expired = self._store.outbox.expire(name, self._config.max_age_hours * 3600)
        if expired:
            log.warning("%s: %d push(es) older than %g h given up", name, expired, self._config.max_age_hours)
        items = self._store.outbox.next(name, self._batch)
        if not items:
            # The first item may wait for a retry planned before a restart.
            head = self._store.outbox.next_attempt(name)
            now = self._clock()
            return min(head, now + self._poll) if head is not None else now + self._poll
        for item in items:
            if self._stop.is_set():
                return self._clock()
            self._beat(self._config.timeout + ROUND_ALLOWANCE)
            retry_at = self._deliver(state, item)
            if retry_at is not None:
                return retry_at
        return self._clock() if len(items) == self._batch else self._clock() + self._poll

    def _deliver(self, state: _State, item: OutboxItem) -> float | None:
        """Push one item; return None when it is settled (delivered, skipped or
        given up), else the time of its retry (the failure is recorded)."""
        name = state.destination.name
        try:
            request = state.destination.format(item.kind, item.payload)
        except Exception:
            log.exception("%s: outbox item %d (%s) cannot be formatted: given up", name, item.id, item.kind)
            self._store.outbox.drop([item.id], f"{name}: formatter failed")
            return None
        if request is None:
            self._store.outbox.done([item.id])
            return None
        if urlsplit(request.url).scheme.lower() not in ("http", "https"):
            log.error("%s: outbox item %d asks for a %r URL, not http(s): given up", name, item.id,
                      urlsplit(request.url).scheme)
            self._store.outbox.drop([item.id], f"{name}: not an http(s) URL")
            return None
        error = self._send(request)
        if error is None:
            self._store.outbox.done([item.id])
            state.delivered += 1
            if state.failing_since is not None:
                log.info("%s: pushes delivered again after %.0f s of failures", name,
                         self._clock() - state.failing_since)
            state.failing_since, state.last_error = None, None
            return None
        delay = min(self._config.backoff_max, self._config.backoff * 2 ** min(item.attempts, 30))
        retry_at = self._clock() + delay
        self._store.outbox.retry(item.id, retry_at, error)
        if state.failing_since is None:
            state.failing_since = self._clock()
            log.warning("%s: push failed (%s); retrying in %g s, later pushes to it wait", name, error, delay)
        else:
            log.info("%s: push failed again (%s); next try in %g s", name, error, delay)
        state.last_error = error
        return retry_at

    def _send(self, request: PushRequest) -> str | None:
        """Make the request; return None on a 2xx answer, else what went wrong."""
        req = urllib.request.Request(request.url, data=request.body, headers=dict(request.headers),
                                     method=request.method.upper())
        try:
            with self._opener.open(req, timeout=self._config.timeout) as response:
                response.read(_READ_LIMIT)
                status = response.status
        except urllib.error.HTTPError as exc:  # non-2xx (and refused redirects)
            exc.close()
            status = exc.code
        except urllib.error.URLError as exc:
            return f"no connection: {exc.reason}"
        except TimeoutError:
            return f"no answer within {self._config.timeout:g} s"
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None if 200 <= status < 300 else f"HTTP {status}"
