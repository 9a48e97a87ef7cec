"""The message ids a door gives out, made from the task they belong to.

A submission the agent splits itself is one task: its id is the task's.  A long
message its client split is one task too, and each part the client sent has an
id of its own, (task, part number).  Both are derived from the database, so
they are the same after a restart, and each leads to the task that the HTTP
dialects show (GoIP ``querysms`` takes the task id, the SMPP id's first number).

SMPP ``message_id``: the task id in decimal (``"57"``); for a part the client sent,
``9`` then the task and the part number in 15 digits, ``PART_BASE + task * 1000 +
part`` (``"9000000000057002"`` is part 2 of task 57).  Decimal digits only, so a
client that reads ids as numbers (Kannel's ``msg-id-type = 0x00``) matches its
receipts too, and no part id is ever a task id.

CMPP ``Msg_Id`` (64 bits, the specification's layout): month, day, hour, minute,
second of the task's creation (local time), then 38 bits where the
specification puts the gateway code (22) and a sequence (16): here
``task * 256 + part`` (part 0: the agent splits).  So the task of a Msg_Id is
``(Msg_Id & (2**38 - 1)) >> 8``.
"""

from __future__ import annotations

import re
from datetime import datetime

LOW_BITS = 38
PART_BITS = 8
MAX_TASK = (1 << (LOW_BITS - PART_BITS)) - 1


PART_BASE = 9 * 10 ** 15


def smpp_id(task: int, part: int = 0) -> str:
    return str(PART_BASE + task * 1000 + part) if part else str(task)


_SMPP_ID = re.compile(r"([0-9]{1,16})")  # ASCII digits only (str.isdigit() takes '²'); fits SQLite's integer


def smpp_task(message_id: str) -> tuple[int, int] | None:
    """(task, part) of an SMPP message id, None if it is not one of ours."""
    found = _SMPP_ID.fullmatch(message_id.strip())
    if found is None:
        return None
    value = int(found[1])
    if value >= PART_BASE:
        return (value - PART_BASE) // 1000, (value - PART_BASE) % 1000
    return value, 0


def cmpp_msg_id(task: int, part: int, created: datetime) -> int:
    """The Msg_Id of ``task`` (part 0: whole), made ``created`` (local time)."""
    low = ((task & MAX_TASK) << PART_BITS) | (part & 0xFF)
    return (created.month << 60 | created.day << 55 | created.hour << 50 | created.minute << 44
            | created.second << 38 | low)


def cmpp_task(msg_id: int) -> tuple[int, int]:
    """(task, part) of one of our Msg_Ids."""
    low = msg_id & ((1 << LOW_BITS) - 1)
    return low >> PART_BITS, low & 0xFF
