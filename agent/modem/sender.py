"""Sending one message on a line: encode its parts, AT+CMGS each, classify the outcome.

Part of the line worker (runs in its thread and updates its state counters).
A message is split into parts by the codec (GSM-7 when every character fits,
else UCS2; 153/67 per part), each part sent with its own AT+CMGS; the
network's TP-MR of each part is kept for status-report matching (-1 when
the modem answered OK without one).

Outcomes: SENT when every part was accepted; FAILED for permanent errors
(bad number, barred, a text that cannot be encoded); RETRY for temporary ones
(``TEMPORARY_CMS``, a plain ERROR, a timeout or a lost port), to be routed
again.  ``in_doubt`` is set when some part may have left: parts were accepted
before a failure, or the modem went quiet after the PDU was written.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..codec import parts, pdu
from ..errors import AtParseError, CommandError, CommandTimeout, EncodeError, PortError
from .types import FAILED, RETRY, SENT, TEMPORARY_CMS, OutgoingSms, SendResult

if TYPE_CHECKING:
    from .session import Session
    from .worker import LineWorker


class Sender:
    def __init__(self, worker: LineWorker) -> None:
        self.w = worker
        # Concatenation references are per line; a random start keeps two
        # boxes (or a restarted one) from reusing the same ref for one recipient.
        self._ref = int.from_bytes(os.urandom(1), "big")

    def _next_ref(self) -> int:
        self._ref = (self._ref + 1) % 256
        return self._ref

    def encode(self, msg: OutgoingSms) -> list[pdu.EncodedPdu]:
        """The PDUs of every part of ``msg``; EncodeError when it cannot be sent as asked."""
        if msg.data is not None:
            return [pdu.encode_submit(msg.recipient, data=msg.data, encoding="8bit", srr=msg.status_report,
                                      validity_minutes=msg.validity_minutes, flash=msg.flash)]
        return parts.encode_submits(msg.recipient, msg.text, ref=self._next_ref(), encoding=msg.encoding,
                                    max_parts=self.w.modems.max_parts, srr=msg.status_report,
                                    validity_minutes=msg.validity_minutes, flash=msg.flash)

    def send(self, session: Session, msg: OutgoingSms) -> tuple[SendResult, Exception | None]:
        """Send every part of ``msg``.

        Return the result, and the exception to raise once the caller has
        answered (a timeout or a lost port: the line needs recovery).
        """
        w = self.w
        try:
            pdus = self.encode(msg)
        except EncodeError as exc:
            return SendResult(msg.id, w.name, FAILED, error=str(exc), at=w._now()), None
        refs: list[int] = []
        for part in pdus:
            try:
                refs.append(session.send_pdu(part.tpdu_length, part.hex))
            except CommandError as exc:
                temporary = exc.kind == "ERROR" or exc.code is None or exc.code in TEMPORARY_CMS
                w._error(str(exc), failed_parts=w.state.failed_parts + 1)
                return SendResult(msg.id, w.name, RETRY if temporary else FAILED, tuple(refs), len(pdus),
                                  exc.code, str(exc), in_doubt=bool(refs), at=w._now()), None
            except AtParseError as exc:
                # OK without +CMGS: the network took the part, its reference is unknown
                # (a status report for it cannot be matched).
                w._error(f"part {len(refs) + 1}: {exc}")
                refs.append(-1)
                w._set(sent_parts=w.state.sent_parts + 1)
                continue
            except (CommandTimeout, PortError) as exc:
                w._set(failed_parts=w.state.failed_parts + 1)
                return SendResult(msg.id, w.name, RETRY, tuple(refs), len(pdus), None, str(exc),
                                  in_doubt=True, at=w._now()), exc
            w._set(sent_parts=w.state.sent_parts + 1)
        return SendResult(msg.id, w.name, SENT, tuple(refs), len(pdus), at=w._now()), None
