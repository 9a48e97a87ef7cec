"""Vendor profiles: the AT commands that differ between modem families.

A :class:`Profile` holds data only; the line worker reads it.  The profile is
chosen from the ``AT+CGMI``/``AT+CGMM`` answers (:func:`detect`) unless the
line's config names one.

Supported families
------------------
``simcom``   SIM800/SIM7600 (``+CCID`` / ``+CICCID``; ``RDY``/``SMS DONE`` banners)
``huawei``   E17xx/E3xx sticks (``^ICCID?`` with swapped nibbles, ``^CURC=0`` to
             silence ``^RSSI``/``^BOOT`` noise, ``^USSDMODE=0`` for text USSD)
``quectel``  EC2x/EG9x/M35 (``+QCCID``; ``+QIND: SMS DONE``)
``zte``      MF/K-series (``+ZDONR``/``+ZPASR`` URC noise is ignored)
``wavecom``  Q24xx (answers ``+CPIN?`` without ``OK``)
``generic``  anything speaking plain 3GPP TS 27.005/27.007
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Every ICCID read command seen on real modems, tried in the profile's order
# until one answers: vendors disagree and some firmwares lack the standard one.
_ICCID_ALL = ("AT+CCID", "AT+ICCID", "AT+CICCID", "AT+QCCID", "AT^ICCID?")


@dataclass(frozen=True)
class Profile:
    name: str
    # Extra commands after the common init; failures are logged, not fatal.
    init_extra: tuple[str, ...] = ()
    iccid_commands: tuple[str, ...] = _ICCID_ALL
    # New SMS as +CMTI (stored, read, deleted only once stored by us) and
    # status reports routed directly as +CDS: mode 2, mt 1, bm 0, ds 1, bfr 0.
    cnmi: str = "AT+CNMI=2,1,0,1,0"
    # Fallback when the modem refuses the preferred CNMI (ds=2: +CDSI).
    cnmi_fallback: str = "AT+CNMI=2,1,0,2,0"
    reset_command: str = "AT+CFUN=1,1"
    # +CPIN? answered without a final OK on some old firmwares.
    cpin_lenient: bool = False


PROFILES: dict[str, Profile] = {
    "generic": Profile("generic"),
    "simcom": Profile(
        "simcom",
        init_extra=("AT+CIURC=0",),
        iccid_commands=("AT+CICCID", "AT+CCID", "AT+ICCID", "AT+QCCID", "AT^ICCID?"),
    ),
    "huawei": Profile(
        "huawei",
        init_extra=("AT^CURC=0", "AT^USSDMODE=0"),
        iccid_commands=("AT^ICCID?", "AT+CCID", "AT+ICCID", "AT+CICCID", "AT+QCCID"),
    ),
    "quectel": Profile(
        "quectel",
        init_extra=('AT+QURCCFG="urcport","usbat"',),
        iccid_commands=("AT+QCCID", "AT+CCID", "AT+ICCID", "AT+CICCID", "AT^ICCID?"),
    ),
    "zte": Profile("zte"),
    "wavecom": Profile("wavecom", cpin_lenient=True, cnmi="AT+CNMI=2,1,0,2,0"),
}

_DETECT = (
    (re.compile(r"simcom|sim\d{3,4}", re.I), "simcom"),
    (re.compile(r"huawei", re.I), "huawei"),
    (re.compile(r"quectel|\bEC2\d|\bEG9\d|\bM35\b", re.I), "quectel"),
    (re.compile(r"\bzte\b", re.I), "zte"),
    (re.compile(r"wavecom", re.I), "wavecom"),
)


def detect(manufacturer: str, model: str = "") -> Profile:
    """Given the ``AT+CGMI`` and ``AT+CGMM`` answers, return the matching profile (generic if none)."""
    text = f"{manufacturer} {model}"
    for pattern, name in _DETECT:
        if pattern.search(text):
            return PROFILES[name]
    return PROFILES["generic"]


def get(name: str) -> Profile:
    """Return the profile called ``name``; KeyError for unknown names (config validates them)."""
    return PROFILES[name]
