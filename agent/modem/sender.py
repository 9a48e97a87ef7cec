"""Sending one message on a line: encode its parts, AT+CMGS each, classify the outcome.

Runs in the line's thread, on its :class:`~agent.modem.line.Line` (the sink,
the clock, the part counters of its state).
A message is split into parts by the codec (GSM-7 when every character fits,
else UCS2; 153/67 per part), each part sent with its own AT+CMGS; the
network's TP-MR of each part is kept for status-report matching (-1 when
the modem answered OK without one).

With send_mode = store, every part is first written to the modem's storage
(AT+CMGW) and the places are recorded durably (``LineEvents.on_stored``);
then each is sent from there (AT+CMSS), so that a send cut short by a crash
or a stop is settled from the modem's memory at the next start instead of
sent again.  The result names the places (``SendResult.stored``), deleted
once the outcome is on disk.

Outcomes: SENT when every part was accepted; FAILED for permanent errors
(bad number, barred, a text that cannot be encoded); RETRY for temporary ones
(``TEMPORARY_CMS``, a plain ERROR, a timeout or a lost port), to be routed
again.  ``in_doubt`` is set when some part may have left: parts were accepted
before a failure, or the modem went quiet after the PDU was written.
"""

from __future__ import annotations

import logging
import os
from ..codec import parts, pdu
from ..errors import AtParseError, CommandError, CommandInterrupted, CommandTimeout, EncodeError, PortError
from .line import Line
from .session import Session
from .storage import Storage
from ..model import FAILED, RETRY, SENT, TEMPORARY_CMS, OutgoingSms, PartSent, SendResult

log = logging.getLogger(__name__)


class Sender:
    def __init__(self, line: Line) -> None:
        self._line = line
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
                                    max_parts=self._line.modems.max_parts, srr=msg.status_report,
                                    validity_minutes=msg.validity_minutes, flash=msg.flash)

    def _part_sent(self, part: PartSent) -> None:
        # Told before the next part is sent and before any report read meanwhile
        # is handled (both happen later in this thread), so that a report never
        # arrives ahead of the part it reports on.  A sink failure costs at most
        # that match: the outcome records every part again.
        try:
            self._line.events.on_part_sent(part)
        except Exception:
            log.exception("%s: could not record part %d of message %s", self._line.name, part.seq, part.message_id)

    def send(self, session: Session, msg: OutgoingSms) -> tuple[SendResult, Exception | None]:
        """Send every part of ``msg`` (with send_mode = store: write them all to
        the modem's storage, have their places recorded, then send each from there).

        Return the result, and the exception to raise once the caller has
        answered (a timeout or a lost port: the line needs recovery).
        """
        line = self._line
        try:
            pdus = self.encode(msg)
        except EncodeError as exc:
            return SendResult(msg.id, line.name, FAILED, error=str(exc), at=line.now()), None
        stored: tuple[str, ...] = ()
        if line.config.send_mode == "store":
            written = self._store(session.storage, msg, pdus)
            if isinstance(written[0], SendResult):
                return written  # type: ignore[return-value]
            indexes, stored = written  # type: ignore[misc]

            def send_part(k: int) -> int:
                return session.storage.send_stored(indexes[k])
        else:
            def send_part(k: int) -> int:
                return session.send_pdu(pdus[k].tpdu_length, pdus[k].hex)
        refs: list[int] = []
        for k in range(len(pdus)):
            try:
                refs.append(send_part(k))
            except CommandError as exc:
                temporary = exc.kind == "ERROR" or exc.code is None or exc.code in TEMPORARY_CMS
                line.error(str(exc), failed_parts=line.state.failed_parts + 1)
                return SendResult(msg.id, line.name, RETRY if temporary else FAILED, tuple(refs), len(pdus),
                                  exc.code, str(exc), in_doubt=bool(refs), at=line.now(), stored=stored), None
            except AtParseError as exc:
                # OK without +CMGS: the network took the part, its reference is unknown
                # (a status report for it cannot be matched).
                line.error(f"part {len(refs) + 1}: {exc}")
                refs.append(-1)
            except CommandInterrupted as exc:
                return SendResult(msg.id, line.name, RETRY, tuple(refs), len(pdus), None, str(exc),
                                  in_doubt=True, at=line.now(), interrupted=True, stored=stored), None
            except (CommandTimeout, PortError) as exc:
                line.set(failed_parts=line.state.failed_parts + 1)
                return SendResult(msg.id, line.name, RETRY, tuple(refs), len(pdus), None, str(exc),
                                  in_doubt=True, at=line.now(), stored=stored), exc
            line.set(sent_parts=line.state.sent_parts + 1)
            self._part_sent(PartSent(msg.id, line.name, len(refs), refs[-1], len(pdus)))
        return SendResult(msg.id, line.name, SENT, tuple(refs), len(pdus), at=line.now(), stored=stored), None

    def _store(self, storage: Storage, msg: OutgoingSms,
               pdus: list[pdu.EncodedPdu]) -> tuple[list[int], tuple[str, ...]] | tuple[SendResult, Exception | None]:
        """Write every part to the modem's storage (AT+CMGW) and have the places
        recorded durably before anything is sent.  Return (indexes, locations),
        or the result to answer when that failed: nothing was sent then, so it
        is never in doubt (what was written is deleted again)."""
        line = self._line
        indexes: list[int] = []
        try:
            for part in pdus:
                indexes.append(storage.write_pdu(part.tpdu_length, part.hex))
            locations = tuple(f"{storage.mem2}:{i}" for i in indexes)
            if not line.events.on_stored(msg.id, line.name, locations):
                raise _NotRecorded("the message is no longer being sent")
        except CommandError as exc:
            self._forget(storage, indexes)
            temporary = exc.kind == "ERROR" or exc.code is None or exc.code in TEMPORARY_CMS
            line.error(str(exc))
            return SendResult(msg.id, line.name, RETRY if temporary else FAILED, (), len(pdus), exc.code, str(exc),
                              at=line.now()), None
        except CommandInterrupted as exc:
            return SendResult(msg.id, line.name, RETRY, (), len(pdus), None, str(exc), at=line.now(),
                              interrupted=True), None
        except (CommandTimeout, PortError) as exc:
            # The modem went quiet: what it stored is cleaned up when it is back (orphans).
            return SendResult(msg.id, line.name, RETRY, (), len(pdus), None, str(exc), at=line.now()), exc
        except Exception as exc:  # the store could not record the places (or OK without +CMGW:)
            log.warning("%s: message %s not stored for sending: %s", line.name, msg.id, exc)
            self._forget(storage, indexes)
            return SendResult(msg.id, line.name, RETRY, (), len(pdus), None, f"not stored: {exc}", at=line.now()), None
        return indexes, locations

    def _forget(self, storage: Storage, indexes: list[int]) -> None:
        for index in indexes:
            try:
                storage.delete_stored(index)
            except Exception as exc:  # left for the orphan sweep at the next connect
                log.warning("%s: stored message %d not deleted: %s", self._line.name, index, exc)
                return


class _NotRecorded(Exception):
    pass
