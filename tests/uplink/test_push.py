"""The webhook pusher against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from agent.config import PushConfig
from agent.model import CallRecord
from agent.store.queue import Store
from agent.uplink.push import Destination, Pusher, PushRequest

from ..receiver import Receiver

FAST = PushConfig(timeout=2.0, max_age_hours=72.0, backoff=0.05, backoff_max=0.2, workers=2)


def bodies(rec: Receiver, n: int, timeout: float = 5.0) -> list[dict]:
    """Wait until ``rec`` accepted ``n`` requests; return the JSON bodies it accepted."""
    rec.wait(lambda hits: sum(h.status == 200 for h in hits) >= n, timeout)
    return [h.json() for h in rec.delivered()]


def hook(rec: Receiver) -> str:
    return rec.url + "/hook"


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        pause.wait(0.01)


def json_post(url: str) -> Callable[[str, dict], PushRequest]:
    def fmt(kind: str, payload: dict) -> PushRequest:
        return PushRequest("POST", url, json.dumps({"kind": kind, **payload}).encode(),
                           {"Content-Type": "application/json"})
    return fmt


def calls(store: Store, n: int, line: str = "G1", first: int = 0) -> None:
    """Record n calls; their callers '0', '1'... tell the order."""
    for i in range(first, first + n):
        store.inbox.store_call(CallRecord(line, str(i), datetime.now()))


def callers(bodies: list[dict]) -> list[int]:
    return [int(b["caller"]) for b in bodies]


class Rig:
    """Stores and pushers a test made, all stopped at its end."""

    def __init__(self, path) -> None:
        self.path = path
        self.stop = threading.Event()
        self.pushers: list[Pusher] = []
        self.receivers: list[Receiver] = []

    def store(self, targets: dict, clock: Callable[[], float] = time.time) -> Store:
        store = Store(self.path, clock=clock, push_targets=targets)
        store.open()
        return store

    def pusher(self, store: Store, *destinations: Destination, config: PushConfig = FAST,
               clock: Callable[[], float] = time.time) -> Pusher:
        pusher = Pusher(store, list(destinations), config, self.stop, clock=clock, poll=0.5)
        self.pushers.append(pusher)
        pusher.start()
        return pusher

    def receiver(self, port: int = 0, *, start: bool = True) -> Receiver:
        receiver = Receiver(port, start=start)
        self.receivers.append(receiver)
        return receiver

    def halt(self, pusher: Pusher) -> None:
        self.stop.set()
        pusher.wake()
        assert pusher.join(5)


@pytest.fixture
def rig(tmp_path) -> Iterator[Rig]:
    r = Rig(tmp_path / "agent.db")
    yield r
    r.stop.set()
    for p in r.pushers:
        p.wake()
        assert p.join(5)
    for rec in r.receivers:
        rec.close()


def test_delivers_everything_in_order_from_named_threads(rig):
    rec = rig.receiver()
    store = rig.store({"call": ["hook"]})
    calls(store, 30)
    pusher = rig.pusher(store, Destination("hook", json_post(hook(rec))))
    assert callers(bodies(rec, 30)) == list(range(30))
    assert {t.name for t in threading.enumerate() if t.name.startswith("push-")} >= {"push-1"}
    calls(store, 5, first=30)
    pusher.wake()  # what the app does after a store write
    assert callers(bodies(rec, 35)) == list(range(35))
    eventually(lambda: pusher.stats()["hook"] == {"pending": 0, "dropped": 0, "delivered": 35, "last_error": None,
                                                  "failing_since": None})
    first = rec.hits[0]
    assert (first.method, first.path, first.json()["kind"]) == ("POST", "/hook", "call")


def test_refused_then_500s_then_recovered_loses_nothing_and_keeps_order(rig):
    rec = rig.receiver(start=False)  # nothing listens on its port yet
    store = rig.store({"call": ["hook"]})
    calls(store, 10)
    pusher = rig.pusher(store, Destination("hook", json_post(hook(rec))))
    eventually(lambda: (pusher.stats()["hook"]["last_error"] or "").startswith("no connection"))
    failing_since = pusher.stats()["hook"]["failing_since"]
    assert failing_since is not None
    rec.failures = 3
    rec.start()
    assert callers(bodies(rec, 10)) == list(range(10))
    statuses = [(h.status, h.json()["caller"]) for h in rec.hits]
    assert statuses[:4] == [(500, "0")] * 3 + [(200, "0")]  # the head was retried; nothing overtook it
    eventually(lambda: pusher.stats()["hook"]["pending"] == 0 and pusher.stats()["hook"]["failing_since"] is None)
    assert pusher.stats()["hook"]["dropped"] == 0


def test_a_dead_destination_does_not_hold_up_another(rig):
    live, dead = rig.receiver(), rig.receiver(start=False)
    store = rig.store({"call": ["dead", "live"]})
    calls(store, 5)
    one_thread = PushConfig(timeout=2.0, backoff=0.05, backoff_max=0.2, workers=1)
    pusher = rig.pusher(store, Destination("dead", json_post(hook(dead))), Destination("live", json_post(hook(live))),
                        config=one_thread)
    assert callers(bodies(live, 5)) == list(range(5))
    calls(store, 5, first=5)
    pusher.wake()
    assert callers(bodies(live, 10)) == list(range(10))
    eventually(lambda: pusher.stats()["live"]["delivered"] == 10)  # counted just after the receiver saw it
    stats = pusher.stats()
    assert stats["dead"]["pending"] == 10 and stats["dead"]["failing_since"] is not None


def test_items_older_than_max_age_are_given_up_and_counted(rig, caplog):
    offset = [0.0]

    def clock() -> float:
        return time.time() + offset[0]

    dead = rig.receiver(start=False)
    store = rig.store({"call": ["hook"]}, clock=clock)
    calls(store, 4)
    pusher = rig.pusher(store, Destination("hook", json_post(hook(dead))), clock=clock)
    eventually(lambda: pusher.stats()["hook"]["last_error"] is not None)
    caplog.set_level(logging.WARNING, logger="agent.uplink.push")
    offset[0] = 73 * 3600.0  # three days later
    calls(store, 1, first=4)  # a fresh one stays
    pusher.wake()
    eventually(lambda: pusher.stats()["hook"]["dropped"] == 4)
    assert pusher.stats()["hook"]["pending"] == 1
    given_up = [r for r in caplog.records if "given up" in r.getMessage()]
    assert len(given_up) == 1 and "4 push(es)" in given_up[0].getMessage()
    assert given_up[0].levelno == logging.WARNING


def test_a_new_pusher_on_the_same_file_delivers_what_the_first_left(rig):
    rec = rig.receiver()
    rec.failures = 10 ** 6  # down, answering 500
    store = rig.store({"call": ["hook"]})
    calls(store, 6)
    first = rig.pusher(store, Destination("hook", json_post(hook(rec))))
    eventually(lambda: first.stats()["hook"]["last_error"] == "HTTP 500")
    rig.halt(first)
    store.close()
    with rec.cond:
        rec.failures = 0
    rig.stop = threading.Event()  # the agent starts again
    store = rig.store({"call": ["hook"]})
    second = rig.pusher(store, Destination("hook", json_post(hook(rec))))
    assert callers(bodies(rec, 6)) == list(range(6))
    eventually(lambda: second.stats()["hook"]["pending"] == 0)


def test_skips_formatter_errors_and_bad_urls(rig, caplog):
    rec = rig.receiver()
    store = rig.store({"call": ["hook"]})
    calls(store, 6)
    post = json_post(hook(rec))

    def fmt(kind: str, payload: dict) -> PushRequest | None:
        n = int(payload["caller"])
        if n == 1:
            return None  # not for this destination: done, not counted
        if n == 2:
            raise KeyError("no such field")
        if n == 3:
            return PushRequest("GET", "file:///etc/passwd")
        return post(kind, payload)

    pusher = rig.pusher(store, Destination("hook", fmt))
    assert callers(bodies(rec, 3)) == [0, 4, 5]
    eventually(lambda: pusher.stats()["hook"] == {"pending": 0, "dropped": 2, "delivered": 3, "last_error": None,
                                                  "failing_since": None})
    [crash] = [r for r in caplog.records if "cannot be formatted" in r.getMessage()]
    assert crash.exc_info is not None and crash.exc_info[0] is KeyError


def test_stops_promptly_and_idles_quietly(rig):
    rec = rig.receiver()
    store = rig.store({"call": ["a", "b", "c"]})
    pusher = rig.pusher(store, *[Destination(n, json_post(hook(rec))) for n in "abc"])
    names = {t.name for t in threading.enumerate() if t.name.startswith("push-")}
    assert names == {"push-1", "push-2"}
    cpu = time.process_time()
    threading.Event().wait(0.3)
    assert time.process_time() - cpu < 0.1  # idle: waiting, not spinning
    started = time.monotonic()
    rig.halt(pusher)
    assert time.monotonic() - started < 1.0
    assert not {t.name for t in threading.enumerate()} & names


def test_duplicate_destination_names_are_refused(rig):
    store = rig.store({})
    fmt = json_post("http://127.0.0.1:9/")
    with pytest.raises(ValueError):
        Pusher(store, [Destination("a", fmt), Destination("a", fmt)], FAST, threading.Event())
