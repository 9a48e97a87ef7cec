"""Every AT command the simulated modem answers: the command set its machine is given."""

from __future__ import annotations

from . import commands, sms_at, voice_at
from .replies import CommandSet

COMMANDS = CommandSet(
    handlers={**commands.HANDLERS, **sms_at.HANDLERS, **voice_at.HANDLERS},
    # Vendor commands answered only by the families that have them.
    vendor_only=frozenset({*commands.ICCID_COMMANDS, "^CURC", "^USSDMODE"}),
)
