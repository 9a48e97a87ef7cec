"""Deterministic identities of simulated modems and their SIM cards.

Tests assert on these values, so every field is a pure function of the
modem's 1-based index and its profile's IMEI type allocation code.
"""

from __future__ import annotations

from dataclasses import dataclass

# (operator name as +COPS gives it, MCC+MNC, own-number prefix); cycled by index
# so that a bank holds SIMs of several providers (the router has provider rules).
_OPERATORS = (
    ("CHINA MOBILE", "46000", "+86139"),
    ("CHN-UNICOM", "46001", "+86130"),
    ("CHN-CT", "46011", "+86133"),
)


@dataclass(frozen=True)
class Identity:
    """What a modem and its SIM tell about themselves.

    ``number`` is the subscriber number AT+CNUM reports (None: the SIM has none).
    ``lac``/``ci`` are the serving cell's location area and cell id.
    """

    imei: str
    imsi: str
    iccid: str
    number: str | None
    operator: str
    mccmnc: str
    lac: int
    ci: int


def luhn_digit(digits: str) -> str:
    """Return the Luhn check digit that makes ``digits + check`` valid."""
    total = 0
    # Double every second digit counted from the right of the final number,
    # i.e. starting with the rightmost digit of the payload.
    for pos, ch in enumerate(reversed(digits)):
        d = int(ch)
        if pos % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    """Return True when the all-digit ``number`` ends in its correct Luhn digit."""
    return number.isdigit() and len(number) > 1 and luhn_digit(number[:-1]) == number[-1]


def identity_for(index: int, tac: str) -> Identity:
    """Given a 1-based modem index and an 8-digit TAC, return that modem's identity.

    IMEI: 15 digits (TAC + 6-digit serial + Luhn). IMSI: 15 digits with the
    operator's MCC/MNC. ICCID: 19 digits starting 8986 with a Luhn digit (19
    digits so that Huawei's nibble-swapped form shows the ``F`` pad).
    """
    if index < 1:
        raise ValueError("modem index starts at 1")
    operator, mccmnc, prefix = _OPERATORS[(index - 1) % len(_OPERATORS)]
    imei_body = f"{tac}{index:06d}"
    iccid_body = f"898600{mccmnc[-2:]}20{index:08d}"
    return Identity(
        imei=imei_body + luhn_digit(imei_body),
        imsi=f"{mccmnc}{1234500000 + index:010d}",
        iccid=iccid_body + luhn_digit(iccid_body),
        number=f"{prefix}{index:08d}",
        operator=operator,
        mccmnc=mccmnc,
        lac=0x2AF5 + index,
        ci=0x0B88E350 + index * 17,
    )


def swapped_iccid(iccid: str) -> str:
    """Return ``iccid`` as Qualcomm-based Huawei sticks print it: F-padded, nibble-swapped."""
    padded = iccid + "F" * (len(iccid) % 2)
    return "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
