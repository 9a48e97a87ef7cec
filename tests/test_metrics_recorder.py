"""The recorder the router and the HTTP app measure into: buckets, sums, threads."""

from __future__ import annotations

import threading

from agent.metrics_recorder import Counter, Histogram


def test_histogram_buckets_are_upper_bounds_and_cumulative():
    h = Histogram(("line",), (1.0, 5.0))
    for value in (0.5, 1.0, 3.0, 5.0, 7.0):
        h.observe(value, "sim1")
    snap = h.snapshot()[("sim1",)]
    assert snap.bounds == (1.0, 5.0, float("inf"))
    assert snap.counts == (2, 4, 5)  # a value equal to a bound is in that bucket (le)
    assert snap.count == 5 and snap.total == 16.5
    assert h.empty().counts == (0, 0, 0)


def test_counter_and_histogram_are_thread_safe():
    c = Counter(("dialect", "code"))
    h = Histogram((), (1.0,))

    def work() -> None:
        for _ in range(2000):
            c.inc("goip", "200")
            h.observe(0.5)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.snapshot() == {("goip", "200"): 16000}
    snap = h.snapshot()[()]
    assert snap.counts == (16000, 16000) and snap.total == 8000.0
