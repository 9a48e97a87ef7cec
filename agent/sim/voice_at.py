"""AT handlers of the simulated modem's calls (ATH, AT+CHUP, ATA) and USSD (AT+CUSD).

See :mod:`.replies` for the handler contract.  The calls themselves are in
:mod:`.voice`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..codec import gsm7
from ..errors import CodecError
from .replies import AtError, Reply, int_param, params

if TYPE_CHECKING:
    from .machine import Machine


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
