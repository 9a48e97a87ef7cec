"""The router never loses a wake-up: a result or a line coming free always gets a full turn.

Regression: a wake-up that came just as the router's wait ended by timeout was
cleared before the next turn, which then took the quick path (nothing seemed
to have changed) although it had just recorded results; the lines sat idle
with messages waiting until something else woke the router.
"""

from __future__ import annotations

import threading

from agent.config import QueueConfig
from agent.model import NullEvents
from agent.modem.bank import ModemBank
from agent.router import Router
from agent.store.queue import Store

from .conftest import FAST
from .waiting import wait_until


def test_a_wake_that_comes_as_the_wait_times_out_makes_the_next_turn_full(tmp_path):
    # The router alone (its turns are the test's): only the test wakes it.
    store = Store(tmp_path / "agent.db")
    store.open()
    stop = threading.Event()
    router = Router(store, ModemBank((), FAST, NullEvents(), stop), {}, QueueConfig(poll_interval=0.1), stop)
    turns: list[bool] = []

    def turn(woken: bool) -> float:
        turns.append(woken)
        return 0.01  # a short wait, that times out

    real_wait = router._woke.wait

    def wait_then_wake(timeout: float | None = None) -> bool:
        got = real_wait(timeout)
        if len(turns) == 2:
            router.wake()  # e.g. a line's result, arriving just as the wait ended
        return got

    router._turn = turn  # type: ignore[method-assign]
    router._woke.wait = wait_then_wake  # type: ignore[method-assign]
    router.start()
    try:
        wait_until(lambda: len(turns) >= 4, what="four turns")
        assert turns[:4] == [True, False, True, False]
    finally:
        stop.set()
        router.wake()
        router.join(5)
        store.close()
