"""Incoming calls of the simulated modem: RING/+CRING and +CLIP until the host hangs up.

The AT commands (ATH, ATA, AT+CUSD) are in :mod:`.voice_at`.
"""

from __future__ import annotations

from typing import NamedTuple

from .core import Core
from .replies import number_type


class Call(NamedTuple):
    """An incoming call: who called and whether the host hung it up with ATH."""

    caller: str
    hung_up: bool = False


class VoiceState:
    """The calls of one modem: at most one ringing or answered at a time."""

    def __init__(self, machine: Core) -> None:
        self.m = machine
        self.calls: list[Call] = []
        self.current: int | None = None  # index in calls of the ringing/answered call
        self.answered = False

    def ring(self, caller: str, times: int, interval: float) -> None:
        """Start ringing: RING (or +CRING) and +CLIP every ``interval`` s, ``times`` times."""
        self.calls.append(Call(caller))
        self.current = len(self.calls) - 1
        self.answered = False
        self._tick(self.current, 0, times, interval)

    def _tick(self, call: int, count: int, times: int, interval: float) -> None:
        m = self.m
        if self.current != call or self.answered:
            return
        if count >= times:
            self.current = None  # the caller gave up
            if m.profile.call_end:
                m.urc(m.profile.call_end)
            return
        m.urc("+CRING: VOICE" if m.crc else "RING")
        if m.clip:
            number = self.calls[call].caller
            m.urc(f'+CLIP: "{number}",{number_type(number)}{m.profile.clip_tail}')
        m.after(interval, lambda: self._tick(call, count + 1, times, interval))

    def hang_up(self) -> None:
        if self.current is not None:
            self.calls[self.current] = self.calls[self.current]._replace(hung_up=True)
        self.current = None
        self.answered = False

    def power_lost(self) -> None:
        self.current = None
        self.answered = False
