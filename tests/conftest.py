"""Shared fixtures: the simulated modem bank on real pseudo-terminals, line
workers driving it through pyserial, and an event sink tests can wait on."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Callable

import pytest

from agent.config import LineConfig, ModemsConfig
from agent.model import CallRecord, DeliveryReport, IncomingSms, LineState, PartSent

# Short timeouts so that recovery tests run in a second or two.
FAST = ModemsConfig(
    health_interval=60.0,
    command_timeout=0.5,
    send_timeout=3.0,
    reopen_backoff=0.05,
    reopen_backoff_max=0.2,
    quarantine_after=3,
    quarantine_retry=0.3,
    reset_wait=0.5,
)


class RecordingEvents:
    """A line-event sink that records everything and lets tests wait for it."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.sms: list[IncomingSms] = []
        self.reports: list[DeliveryReport] = []
        self.calls: list[CallRecord] = []
        self.states: list[LineState] = []
        self.parts: list[PartSent] = []
        self.refuse_sms = False

    def _add(self, bucket: list, item: object) -> None:
        with self.cond:
            bucket.append(item)
            self.cond.notify_all()

    def on_part_sent(self, part: PartSent) -> None:
        self._add(self.parts, part)

    def on_sms(self, sms: IncomingSms) -> None:
        if self.refuse_sms:
            raise RuntimeError("store unavailable")
        self._add(self.sms, sms)

    def on_report(self, report: DeliveryReport) -> None:
        self._add(self.reports, report)

    def on_call(self, call: CallRecord) -> None:
        self._add(self.calls, call)

    def on_state(self, state: LineState) -> None:
        self._add(self.states, state)

    def wait(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)


def wait_state(worker, predicate: Callable[[LineState], bool], events: RecordingEvents, timeout: float = 5.0) -> LineState:
    """Wait until the worker's snapshot satisfies ``predicate``; fail the test otherwise."""
    ok = events.wait(lambda: predicate(worker.state), timeout)
    assert ok, f"line state never matched; last: {worker.state}"
    return worker.state


@pytest.fixture
def make_bank(tmp_path):
    """make_bank(profiles, send_delay=0, **kw) -> a started SimBank, stopped after the test."""
    from agent.sim.bank import SimBank

    banks = []

    def make(profiles=("generic",), **kw):
        kw.setdefault("send_delay", 0.0)
        bank = SimBank(list(profiles), state_dir=str(tmp_path / f"sim{len(banks)}"), **kw)
        bank.start()
        banks.append(bank)
        return bank

    yield make
    for bank in banks:
        bank.stop()


@pytest.fixture
def make_worker():
    """make_worker(modem, **modems_overrides) -> (worker, events); workers stopped after the test.

    ``make_worker.stop`` is the stop event the workers share.
    """
    from agent.modem.worker import LineWorker

    stop = threading.Event()
    workers = []

    def make(modem, *, line: LineConfig | None = None, locate=None, events=None, **overrides):
        events = events or RecordingEvents()
        line = line or LineConfig(name=modem.name, device=modem.path)
        worker = LineWorker(line, replace(FAST, **overrides), events, stop, locate=locate)
        worker.start()
        workers.append(worker)
        return worker, events

    make.stop = stop  # type: ignore[attr-defined]
    yield make
    stop.set()
    for w in workers:
        w.wake()
    for w in workers:
        assert w.join(5.0), f"{w.name} did not stop"
