"""Hearing a modem that comes back: a ping that asks again each second, and a
long command telling when the modem went silent and when it spoke again."""

from __future__ import annotations

import threading
import time

import pytest

from agent.errors import CommandTimeout
from agent.modem.channel import Channel
from agent.modem.port import Port
from agent.modem.session import PING_RETRY, Session

try:
    from .scripted import ScriptedModem, Step
except ImportError:  # tests/modem is not a package: pytest put this directory on sys.path
    from scripted import ScriptedModem, Step


@pytest.fixture
def scripted():
    made: list[tuple[ScriptedModem, Port]] = []

    def make(steps, **channel_kw) -> tuple[ScriptedModem, Channel]:
        modem = ScriptedModem(steps).start()
        port = Port(modem.path)
        port.open()
        made.append((modem, port))
        return modem, Channel(port, on_urc=lambda urc: None, name="t", **channel_kw)

    yield make
    for modem, port in made:
        port.close()
        modem.close()


def test_ping_asks_again_and_swallows_the_late_answer(scripted):
    # The first AT is lost; the second is answered; the first's OK then comes late.
    modem, channel = scripted([Step(b"AT\r"), Step(b"AT\r", b"\r\nOK\r\n\r\nOK\r\n"),
                               Step(b"AT+CSQ\r", b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")])
    session = Session(channel, line="t", timeout=5.0)
    t0 = time.monotonic()
    session.ping()
    assert PING_RETRY * 0.9 < time.monotonic() - t0 < PING_RETRY + 1.0
    assert session.info("AT+CSQ") == "+CSQ: 20,99"  # not the late OK
    modem.check()


def test_ping_gives_up_after_its_timeout(scripted):
    _, channel = scripted([])
    session = Session(channel, line="t", timeout=5.0)
    t0 = time.monotonic()
    with pytest.raises(CommandTimeout) as err:
        session.ping(1.5)
    assert 1.4 < time.monotonic() - t0 < 2.5
    assert err.value.command == "AT" and err.value.timeout == 1.5


def test_a_long_command_tells_when_the_modem_is_silent_and_when_it_speaks(scripted):
    heard: list[tuple[str, bool, float]] = []
    gate = threading.Event()
    modem, channel = scripted(
        [Step(b"AT+SLOW\r"), Step(b"", b"\r\nOK\r\n", gate=gate), Step(b"AT+FAST\r"),
         Step(b"", b"\r\nOK\r\n", gate=gate)],
        on_silence=lambda command, silent: heard.append((command, silent, time.monotonic() - t0)),
        silence_after=0.3)
    t0 = time.monotonic()
    threading.Timer(0.6, gate.set).start()
    channel.command("AT+SLOW", timeout=3.0, expect="")
    assert [(c, s) for c, s, _ in heard] == [("AT+SLOW", True), ("AT+SLOW", False)]
    assert 0.25 < heard[0][2] < 0.55 and heard[1][2] >= 0.55
    heard.clear()
    channel.command("AT+FAST", timeout=0.3, expect="")  # not longer than the silence: not watched
    assert heard == []
    modem.check()
