"""Waiting on a condition that another thread or process makes true, with a deadline."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0,
               what: str | Callable[[], str] = "condition") -> Any:
    """Re-check ``predicate`` until it is truthy (returned) or ``timeout`` passes
    (fail, saying ``what``, or what it returns then)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        pause.wait(0.02)
