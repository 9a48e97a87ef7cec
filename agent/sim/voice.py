"""Incoming calls (RING, +CLIP, ATH/ATA) and USSD (AT+CUSD) of the simulated modem.

See :mod:`.replies` for the handler contract.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NamedTuple

from ..codec import gsm7
from ..errors import CodecError
from .replies import AtError, Reply, int_param, number_type, params

if TYPE_CHECKING:
    from .machine import Machine

log = logging.getLogger(__name__)


class Call(NamedTuple):
    """An incoming call: who called and whether the host hung it up with ATH."""

    caller: str
    hung_up: bool = False


class VoiceState:
    """The calls of one modem: at most one ringing or answered at a time."""

    def __init__(self, machine: Machine) -> None:
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


def _hang_up(m: Machine, op: str, args: str) -> list[str]:
    m.voice.hang_up()
    return []


def _answer(m: Machine, op: str, args: str) -> list[str]:
    if m.voice.current is None:
        raise AtError("RAW", "NO CARRIER")
    m.voice.answered = True  # ringing stops; ATH later ends the call
    return []


def _pack(text: str) -> str:
    septets = gsm7.encode(text)
    if len(septets) % 8 == 7:
        septets.append(0x0D)  # 23.038 6.1.2.3.1: CR pads 7 spare bits, not '@'
    return gsm7.pack(septets).hex().upper()


def _unpack(hexstr: str) -> str:
    data = bytes.fromhex(hexstr)
    septets = gsm7.unpack(data, len(data) * 8 // 7)
    if len(data) % 7 == 0 and septets and septets[-1] in (0x00, 0x0D):
        septets.pop()  # the pad septet of a 7-septet-multiple string
    return gsm7.decode(septets)


def _cusd(m: Machine, op: str, args: str) -> Reply | list[str]:
    if op == "read":
        return ["+CUSD: 1"]
    if op == "test":
        return ["+CUSD: (0-2)"]
    if op != "set":
        return []
    values = params(args)
    mode = int_param(values[0] or "0", 0, 2)
    if mode == 2 or len(values) < 2 or not values[1]:
        return []
    m.require_sim()
    if not m.registered:
        raise AtError("CME", 30)
    code = values[1]
    if m.ussd_packed:
        # Huawei in ^USSDMODE=1 wants packed GSM-7 hex and refuses text.
        try:
            code = _unpack(code)
        except (ValueError, CodecError):
            raise AtError("ERROR") from None
    answer = m.ussd_answers.get(code, f"Your balance is {10 + m.index}.00 CNY. Valid until 2030-12-31.")
    payload = _pack(answer) if m.ussd_packed else answer
    return Reply(then=lambda: m.after(m.settings.ussd_delay, lambda: m.urc(f'+CUSD: 0,"{payload}",15')))


HANDLERS = {
    "H": _hang_up,
    "+CHUP": _hang_up,
    "A": _answer,
    "+CUSD": _cusd,
}
