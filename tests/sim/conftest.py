"""Fixtures for testing the simulated modem bank itself, through pyserial on its ptys."""

from __future__ import annotations

import re
import time

import pytest
import serial


# A final result code as a whole line (rule 4 of design.md: never a prefix match).
FINAL = re.compile(rb"\r\n(OK|ERROR|\+CM[ES] ERROR: [^\r\n]*|COMMAND NOT SUPPORT|NO CARRIER)\r\n")


class Port:
    """A host-side serial port on a simulated modem: write, then read with deadlines.

    Bytes read past what a call returns stay buffered for the next call.
    """

    def __init__(self, path: str) -> None:
        self.serial = serial.Serial(path, 115200, timeout=0.05)
        self.buffer = b""

    def close(self) -> None:
        self.serial.close()

    def write(self, data: bytes) -> None:
        self.serial.write(data)

    def _fill(self, deadline: float) -> bool:
        # Block for the first byte only (bounded by the 0.05 s port timeout).
        chunk = self.serial.read(max(1, self.serial.in_waiting))
        self.buffer += chunk
        return time.monotonic() < deadline

    def until(self, pattern: bytes | re.Pattern, timeout: float = 2.0) -> bytes:
        """Return everything up to and including ``pattern``; AssertionError on timeout."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.buffer)
            if match:
                out, self.buffer = self.buffer[: match.end()], self.buffer[match.end() :]
                return out
            if not self._fill(deadline):
                raise AssertionError(f"{pattern!r} not seen within {timeout}s; got {self.buffer!r}")

    def final(self, timeout: float = 2.0) -> bytes:
        """Return the bytes up to and including the next final result code."""
        return self.until(FINAL, timeout)

    def cmd(self, command: str, timeout: float = 2.0) -> bytes:
        self.write(command.encode() + b"\r")
        return self.final(timeout)

    def quiet_for(self, seconds: float) -> bytes:
        """Read for ``seconds`` and return (and consume) whatever arrived."""
        deadline = time.monotonic() + seconds
        while self._fill(deadline):
            pass
        out, self.buffer = self.buffer, b""
        return out


@pytest.fixture
def sim(make_bank):
    """sim(profiles=('simcom',), **kw) -> a started SimBank with short delays, stopped after the test."""

    def make(profiles=("simcom",), **kw):
        kw.setdefault("send_delay", 0.05)
        kw.setdefault("report_delay", 0.05)
        kw.setdefault("boot_delay", 0.1)
        kw.setdefault("ussd_delay", 0.02)
        return make_bank(profiles, **kw)

    return make


@pytest.fixture
def port():
    """port(path) -> an open Port with echo already off unless echo=True; closed after the test."""
    ports: list[Port] = []

    def open_port(path: str, *, echo: bool = False) -> Port:
        p = Port(path)
        ports.append(p)
        if not echo:
            p.cmd("ATE0")
        return p

    yield open_port
    for p in ports:
        try:
            p.close()
        except Exception:
            pass
