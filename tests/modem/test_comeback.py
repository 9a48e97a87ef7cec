"""A modem that comes back is taken back within seconds, whatever rung of the
recovery ladder its line had reached: the simulated bank's unplug/replug and
hang/unhang through the real line worker, with the ladder's waits made long
(a 60 s backoff, a 300 s quarantine, a 20 s reset wait) to show that none of
them is waited out.  Each test prints the delay it measured (``pytest -s``)."""

from __future__ import annotations

import glob
import threading
import time
from dataclasses import replace

import pytest

from agent.config import LineConfig
from agent.model import OFFLINE, READY, RECOVERING, SENT, OutgoingSms

from ..conftest import FAST, RecordingEvents, wait_state

BACK_WITHIN = 10.0  # seconds from the modem's return to its next message sent
# The ladder's waits, long: a line that waited one out would miss BACK_WITHIN.
LONG_WAITS = dict(health_interval=2.0, reopen_backoff=30.0, reopen_backoff_max=60.0, quarantine_retry=300.0,
                  reset_wait=20.0)
# The waits that put a hung modem's line on a rung, and keep it there long: how many
# failed reopens put it in quarantine, and a short reset wait to get past the reset.
HUNG_ON = {"reset": dict(quarantine_after=5), "reopen": dict(quarantine_after=5, reset_wait=0.5),
           "quarantine": dict(quarantine_after=1, reset_wait=0.5)}


def not_answering(state) -> bool:
    return state.state in (OFFLINE, RECOVERING) and "not answering" in state.last_error


def on_rung(rung: str):
    return lambda s: s.recovery_step == rung and s.state in (OFFLINE, RECOVERING)


def sent_after(worker, events, since: float, text: str) -> float:
    """Wait for the line to be back, send ``text`` through it; return the seconds
    from ``since`` to the send's result, failing past BACK_WITHIN."""
    deadline = since + BACK_WITHIN
    wait_state(worker, lambda s: s.state == READY, events, max(0.0, deadline - time.monotonic()))
    result = worker.submit(OutgoingSms(id=1, recipient="+100", text=text)).result(max(0.1, deadline - time.monotonic()))
    elapsed = time.monotonic() - since
    assert result.outcome == SENT
    assert elapsed <= BACK_WITHIN, f"sent {elapsed:.1f}s after the modem came back"
    return elapsed


@pytest.mark.parametrize("rung", ["reopen", "quarantine"])
def test_a_replugged_modem_is_taken_back_at_once(make_bank, make_worker, rung):
    modem = make_bank(["generic"])[0]
    # Unplugged: one reopen at once, then the backoff (1 minute), or quarantine after it.
    worker, events = make_worker(modem, **LONG_WAITS, quarantine_after=6 if rung == "reopen" else 2)
    wait_state(worker, lambda s: s.state == READY, events)
    modem.unplug()
    wait_state(worker, on_rung(rung), events)
    threading.Event().wait(1.5)  # well into the wait: a minute of backoff or five of quarantine
    assert worker.state.recovery_step == rung
    modem.replug()
    elapsed = sent_after(worker, events, time.monotonic(), "replugged")
    assert modem.sent[-1].text == "replugged"
    print(f"\nreplug ({rung}) -> sent in {elapsed:.2f}s")


def test_a_modem_replugged_on_another_port_is_found_by_imei_at_once(make_bank, tmp_path):
    from agent.modem.bank import ModemBank

    sim = make_bank(["generic", "generic"])
    modem = sim[0]
    scan = str(tmp_path / "sim0" / "*")
    lines = tuple(LineConfig(name=m.name, device=m.path) for m in sim.modems)
    stop = threading.Event()
    events = RecordingEvents()
    bank = ModemBank(lines, replace(FAST, scan=(scan,), **LONG_WAITS, quarantine_after=2), events, stop)
    bank.start()
    try:
        worker = bank[modem.name]
        wait_state(worker, lambda s: s.state == READY, events)
        modem.unplug()
        wait_state(worker, on_rung("quarantine"), events)
        threading.Event().wait(1.5)
        new_path = modem.replug(new_path=True)
        since = time.monotonic()
        assert new_path != lines[0].device and new_path in glob.glob(scan)
        elapsed = sent_after(worker, events, since, "found you")
        assert worker.state.device == new_path and modem.sent[-1].text == "found you"
        print(f"\nreplug on {new_path} -> sent in {elapsed:.2f}s")
    finally:
        stop.set()
        bank.stop()


def test_a_hung_modem_is_shown_not_answering_within_one_health_interval(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem, health_interval=2.0)
    wait_state(worker, lambda s: s.state == READY, events)
    # The worst moment to hang: right after a health check and its sweep of the storage were answered.
    checks = modem.commands.count("AT+CMGL=4")
    assert modem.wait_for(lambda m: m.commands.count("AT+CMGL=4") > checks, 5)
    threading.Event().wait(0.1)
    modem.hang()
    since = time.monotonic()
    state = wait_state(worker, not_answering, events, 5)
    elapsed = time.monotonic() - since
    assert elapsed <= 2.0 + 0.1, f"shown {elapsed:.2f}s after the hang"  # + 0.1 s for the threads to run
    print(f"\nhang -> shown not answering in {elapsed:.2f}s ({state.state}: {state.last_error})")


def test_a_send_silent_for_a_health_interval_shows_not_answering_until_it_answers(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem, health_interval=1.5, send_timeout=30.0)
    wait_state(worker, lambda s: s.state == READY, events)
    modem.set_send_delay(3.0)  # a network that takes its time: the modem says nothing meanwhile
    since = time.monotonic()
    future = worker.submit(OutgoingSms(id=2, recipient="+100", text="slow"))
    wait_state(worker, not_answering, events, 3)
    shown = time.monotonic() - since
    assert 1.4 <= shown <= 2.0 and not future.done()
    assert future.result(5).outcome == SENT
    wait_state(worker, lambda s: s.state == READY, events)
    print(f"\nsend silent -> shown not answering after {shown:.2f}s, ready again once answered")


@pytest.mark.parametrize("rung", ["reset", "reopen", "quarantine"])
def test_an_unhung_modem_sends_again_within_seconds(make_bank, make_worker, rung):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem, **{**LONG_WAITS, **HUNG_ON[rung]})
    wait_state(worker, lambda s: s.state == READY, events)
    modem.hang()
    wait_state(worker, not_answering, events, 5)
    wait_state(worker, on_rung(rung), events, 10)
    threading.Event().wait(1.5)  # into the reset's 20 s wait, the backoff's 30 s, the quarantine's 300 s
    assert worker.state.recovery_step == rung
    modem.unhang()
    elapsed = sent_after(worker, events, time.monotonic(), "answering again")
    assert modem.sent[-1].text == "answering again"
    print(f"\nunhang ({rung}) -> sent in {elapsed:.2f}s")


def test_a_silent_modem_waiting_to_reopen_is_only_asked(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem, **{**LONG_WAITS, **HUNG_ON["reopen"]})
    wait_state(worker, lambda s: s.state == READY, events)
    modem.hang()
    wait_state(worker, on_rung("reopen"), events, 10)
    seen = len(events.states)
    threading.Event().wait(4.0)  # a probe or two (every 3 s): AT on a port of its own, no reopen
    assert len(events.states) == seen, events.states[seen:]
