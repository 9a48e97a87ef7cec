"""What the running agent measures as it works, for ``/metrics``: labelled counters and histograms.

The ground floor, no I/O and no foreign library: :class:`Recorder` is made
by :class:`agent.app.App` and handed to the parts that see the times (the
router: how long a line took to send, how long a message waited; the HTTP
app: how long a sending request took to be answered, and every request's
status code); :mod:`agent.api.metrics` reads its snapshots and renders them.
Every method is safe to call from any thread.  Nothing here survives a
restart: the counts start at 0 with the process, as Prometheus expects of a
counter (``rate()`` and ``increase()`` take the reset in stride).
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass

from .model import FAILED, SENT

Labels = tuple[str, ...]

# Upper bounds in seconds (+Inf is implied).
HTTP_ACCEPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SEND_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0)
QUEUE_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 4 * 3600.0, 86400.0)

EXPIRED = "expired"
RESULTS = (SENT, FAILED, EXPIRED)  # the results ``Recorder.messages`` counts


@dataclass(frozen=True)
class HistogramSnapshot:
    """One labelled series: ``counts[i]`` observations <= ``bounds[i]`` (cumulative,
    the last bound being +Inf, so ``counts[-1] == count``), and their ``total``."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    total: float

    @property
    def count(self) -> int:
        return self.counts[-1]


class Counter:
    """Counts by label values (``labels`` names them, in order)."""

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self._lock = threading.Lock()
        self._counts: dict[Labels, int] = {}

    def inc(self, *values: str, n: int = 1) -> None:
        """Add ``n`` (>= 0) to the series of ``values`` (one per label)."""
        assert len(values) == len(self.labels) and n >= 0
        with self._lock:
            self._counts[values] = self._counts.get(values, 0) + n

    def snapshot(self) -> dict[Labels, int]:
        with self._lock:
            return dict(self._counts)


class Histogram:
    """Observations by label values into the fixed ``buckets`` (ascending upper bounds)."""

    def __init__(self, labels: Labels, buckets: tuple[float, ...]) -> None:
        assert list(buckets) == sorted(set(buckets)), buckets
        self.labels = labels
        self.bounds = (*buckets, float("inf"))
        self._lock = threading.Lock()
        self._series: dict[Labels, tuple[list[int], list[float]]] = {}  # per-bucket counts, [sum]

    def observe(self, value: float, *values: str) -> None:
        """Count ``value`` in the series of ``values`` (one per label)."""
        assert len(values) == len(self.labels)
        slot = bisect.bisect_left(self.bounds, value)  # the first bound >= value
        with self._lock:
            counts, total = self._series.setdefault(values, ([0] * len(self.bounds), [0.0]))
            counts[slot] += 1
            total[0] += value

    def snapshot(self) -> dict[Labels, HistogramSnapshot]:
        with self._lock:
            series = {k: (list(c), t[0]) for k, (c, t) in self._series.items()}
        out = {}
        for key, (counts, total) in series.items():
            cumulative, running = [], 0
            for n in counts:
                running += n
                cumulative.append(running)
            out[key] = HistogramSnapshot(self.bounds, tuple(cumulative), total)
        return out

    def empty(self) -> HistogramSnapshot:
        """The snapshot of a series that has seen nothing (to show a known series before its first value)."""
        return HistogramSnapshot(self.bounds, (0,) * len(self.bounds), 0.0)


class Recorder:
    """The agent's measurements since the process started.

    ``http_requests`` (dialect, code): every request the HTTP app answered;
    ``http_accept`` (dialect): seconds from a request to a sending endpoint
    until its reply; ``send_duration`` (line): seconds from the router handing
    a message to a line until the line's result; ``queue_to_sent`` (no label):
    seconds from a message's ``create_date`` until it was recorded sent;
    ``messages`` (result): the router's final outcomes, ``sent``, ``failed``
    (refused by the network, or its retries given up) and ``expired``;
    ``door_submits`` (door, status): submissions a binary door answered, by
    the status it answered (``0`` accepted, else the protocol's code in hex);
    ``door_accept`` (door): seconds from a submission read to its answer
    written; ``door_sessions``: each door's connections now."""

    def __init__(self) -> None:
        self.http_requests = Counter(("dialect", "code"))
        self.http_accept = Histogram(("dialect",), HTTP_ACCEPT_BUCKETS)
        self.send_duration = Histogram(("line",), SEND_BUCKETS)
        self.queue_to_sent = Histogram((), QUEUE_BUCKETS)
        self.messages = Counter(("result",))
        self.door_submits = Counter(("door", "status"))
        self.door_accept = Histogram(("door",), HTTP_ACCEPT_BUCKETS)
        self.door_sessions: dict[str, int] = {}  # door -> connections now (set by the door's thread)
