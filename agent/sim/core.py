"""The ground floor of a simulated modem: its bank-wide settings and what its services see of it.

:class:`Settings` is shared by every modem of a bank.  :class:`Core` is the
part of a :class:`~.machine.Machine` that its services (the SMS service of
:mod:`.sms`, the calls of :mod:`.voice`) use: they hold the machine as a
``Core``, so that the machine can own them without a cycle of imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from .profiles import Profile
from .replies import AtError


@dataclass(frozen=True)
class Settings:
    """Bank-wide behaviour of every simulated modem (seconds for the delays)."""

    smsc: str = "+8613800100500"
    send_delay: float = 2.0
    report_delay: float = 0.5
    boot_delay: float = 0.3
    ussd_delay: float = 0.2
    wallclock: Callable[[], datetime] = field(default=lambda: datetime.now().astimezone())
    # Called (on the bank's thread) with one dict per SMS part the network accepted.
    ledger: Callable[[dict], None] | None = None


class Core(Protocol):
    """What a modem's services use of its machine (see :class:`~.machine.Machine`)."""

    index: int
    profile: Profile
    settings: Settings
    number: str | None
    mode: str  # one of the modes of .replies: OFF, CMD, PDU, SENDING
    cnmi: list[int]  # AT+CNMI <mode>,<mt>,<bm>,<ds>,<bfr>
    clip: bool  # AT+CLIP=1: +CLIP after each RING
    crc: bool  # AT+CRC=1: +CRING: VOICE instead of RING

    @property
    def sim_ready(self) -> bool:
        """The SIM is present and unlocked."""

    @property
    def registered(self) -> bool:
        """Registered on the network (home or roaming)."""

    def urc(self, line: str, eol: str = "\r\n") -> None:
        """Send one unsolicited result line."""

    def respond(self, lines: list[str], final: str | None = "OK") -> None:
        """Write a (delayed) response: information lines then a final result."""

    def error_text(self, exc: AtError) -> str:
        """The final line for ``exc`` under the current AT+CMEE setting."""

    def after(self, delay: float, fn: Callable[[], object]) -> None:
        """Run ``fn`` in ``delay`` seconds, unless the modem loses power first."""

    def fmt(self, template: str) -> str:
        """Fill a profile template's fields."""

    def resume(self) -> None:
        """Leave the SENDING mode and handle the input that arrived meanwhile."""
