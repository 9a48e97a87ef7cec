"""USSD on a line: send a code, wait for the network's +CUSD answer.

Part of the line worker (runs in its thread).  The answer may come inside
the command's response (before ``OK``) or later as an unsolicited ``+CUSD``;
release notices (``+CUSD: 2`` "Initiating Release", ``+CUSD: 3`` other client)
that follow an answer are ignored.  The payload is decoded per its DCS:
plain text, GSM-7 packed hex or UCS2 hex.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Callable

from ..codec import at
from ..codec.ussd import decode_ussd
from ..errors import AtParseError, ModemError
from .channel import Urc
from ..model import UssdReply

if TYPE_CHECKING:
    from .session import Session


class UssdTimeout(ModemError):
    """The network gave no +CUSD answer in time."""


class UssdWaiter:
    def run(self, session: Session | None, urcs: deque[Urc], code: str, timeout: float,
            clock: Callable[[], float]) -> UssdReply:
        """Send ``code`` and return the network's reply within ``timeout`` seconds.

        Raise ValueError for a malformed code, CommandError when the modem
        refuses the command, UssdTimeout when no answer comes.
        """
        if session is None:
            raise UssdTimeout("line not connected")
        resp = session.start_ussd(code)
        for line in resp.lines:
            reply = self._reply(session.line, code, line)
            if reply is not None:
                return reply
        deadline = clock() + timeout
        while True:
            for urc in list(urcs):
                if urc.name == "+CUSD":
                    urcs.remove(urc)
                    reply = self._reply(session.line, code, urc.line)
                    if reply is not None:
                        return reply
            left = deadline - clock()
            if left <= 0 or math.isnan(left):
                raise UssdTimeout(f"no USSD answer to {code} within {timeout:g}s", line=session.line)
            session.channel.pump(left, None)

    @staticmethod
    def _reply(line_name: str, code: str, text: str) -> UssdReply | None:
        if not text.lstrip().startswith("+CUSD"):
            return None
        try:
            status, payload, dcs = at.parse_cusd(text)
        except AtParseError:
            return None
        if status in (2, 3) and not payload:
            return None  # a release notice, not the answer
        return UssdReply(line_name, code, status, decode_ussd(payload, dcs) if payload else "")
