"""SMS side of the simulated modem: SIM storage, sending, reports.

Messages the simulated network sends to the modem (deliveries and status
reports) wait in a FIFO until the modem is powered, its SIM unlocked and the
line registered, and (when they are to be stored) until the SIM has a free
slot: a real SMSC retries too.  PDUs come from and go through the codec.

The host sends a PDU directly (AT+CMGS) or writes it to the storage first
(AT+CMGW, stat 2 "STO UNSENT") and sends it from there (AT+CMSS): both take
the send delay, draw the TP-MR from one counter and fail alike.  A stored
message becomes stat 3 ("STO SENT") the moment the network accepted it,
before the answer is written, and stays so (the storage is the SIM's: it
survives reboots and the host closing the port) until the host deletes it.
Every part the network accepted goes to ``settings.ledger`` when set.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NamedTuple

from ..codec import parts, pdu
from ..errors import PduError
from .core import Core
from .replies import OFF, SENDING, AtError

log = logging.getLogger(__name__)


class Stored(NamedTuple):
    """A SIM slot: <stat> (0 unread, 1 read, 2 unsent, 3 sent) and the PDU hex with its SMSC field."""

    stat: int
    pdu: str


@dataclass
class SentMessage:
    """One message the host sent, reassembled from its parts by concat reference.

    ``parts`` are the codec's decoded SMS-SUBMITs in the order they arrived,
    ``references`` the TP-MRs the modem answered for them.  A message shows up
    here with its first part; ``complete`` tells whether all parts arrived.
    """

    recipient: str
    encoding: str
    parts: list = field(default_factory=list)
    references: list[int] = field(default_factory=list)
    srr: bool = False
    flash: bool = False

    @property
    def text(self) -> str:
        ordered = sorted(self.parts, key=lambda p: p.concat.seq if p.concat else 0)
        return "".join(p.text or "" for p in ordered)

    @property
    def complete(self) -> bool:
        first = self.parts[0]
        return first.concat is None or len({p.concat.seq for p in self.parts}) == first.concat.total


def tpdu_length(hexpdu: str) -> int:
    """Octets after the SMSC field of a PDU given in hex (what AT+CMGS/+CMT/+CMGR count)."""
    return len(hexpdu) // 2 - 1 - int(hexpdu[:2], 16)


class SmsState:
    """Storage, counters and records of one modem's SMS service."""

    def __init__(self, machine: Core) -> None:
        self.m = machine
        self.storage: dict[int, Stored] = {}
        self.sent: list[SentMessage] = []
        self.fail_sends: deque[int] = deque()
        self.auto_status_reports = True
        self.report_before_answer = False  # the report's +CDS comes before the +CMGS/+CMSS answer
        self.pdu_text = ""
        self.expected_length = 0
        self.write_stat: int | None = None  # after AT+CMGW's prompt: the <stat> to store with; None: AT+CMGS
        self.memories = ["SM", "SM", "SM"]
        self._next_mr = 0
        self._next_ref = 1
        self._network: deque[tuple[str, str]] = deque()  # (kind, pdu hex) waiting for the modem
        self._reports: dict[int, tuple[str, datetime]] = {}  # mr -> (recipient, submit time)

    @property
    def first(self) -> int:
        return self.m.profile.first_index

    @property
    def last(self) -> int:
        return self.m.profile.first_index + self.m.profile.capacity - 1

    def power_lost(self) -> None:
        self.pdu_text = ""  # a PDU being typed or sent when power goes is lost

    # --- from the network ---------------------------------------------------------

    def deliver(self, sender: str, text: str, *, encoding: str | None, flash: bool) -> list[int]:
        """Encode ``text`` as SMS-DELIVER part(s), queue them; return the SIM indexes used now.

        Long texts go in concatenated parts (8-bit reference, incremented per
        long message).  Raise the codec's EncodeError when it cannot be encoded.
        """
        now = self.m.settings.wallclock()
        encoding = encoding or parts.choose_encoding(text)
        pieces = parts.split(text, encoding=encoding)
        concats: list[pdu.Concat | None] = [None]
        if len(pieces) > 1:
            ref, self._next_ref = self._next_ref, (self._next_ref + 1) % 256
            concats = [pdu.Concat(ref, len(pieces), seq) for seq in range(1, len(pieces) + 1)]
        encoded = [
            pdu.encode_deliver(sender, piece, scts=now, encoding=encoding, concat=concat,
                               smsc=self.m.settings.smsc, flash=flash)
            for piece, concat in zip(pieces, concats)
        ]
        return self._queue([("deliver", e.hex) for e in encoded])

    def deliver_pdu(self, hexpdu: str) -> list[int]:
        """Queue a raw SMS-DELIVER PDU (hex with SMSC field); return the SIM index used now."""
        hexpdu = hexpdu.strip().upper()
        try:
            bytes.fromhex(hexpdu)
        except ValueError:
            raise ValueError(f"not a hex PDU: {hexpdu!r}") from None
        if len(hexpdu) < 4 or tpdu_length(hexpdu) < 1:
            raise ValueError(f"PDU too short: {hexpdu!r}")
        return self._queue([("deliver", hexpdu)])

    def status_report(self, reference: int, status: int = 0) -> None:
        """Queue an SMS-STATUS-REPORT for TP-MR ``reference`` with TP-ST ``status``."""
        recipient, sent_at = self._reports.get(reference, (self.m.number or "+10000000000", None))
        now = self.m.settings.wallclock()
        encoded = pdu.encode_status_report(
            reference, recipient, status=status, scts=sent_at or now, discharge_time=now, smsc=self.m.settings.smsc
        )
        self._queue([("report", encoded.hex)])

    def _queue(self, items: list[tuple[str, str]]) -> list[int]:
        self._network.extend(items)
        done = self.flush_network()
        return [index for item, index in done if any(item is mine for mine in items) and index is not None]

    def flush_network(self) -> list[tuple[tuple[str, str], int | None]]:
        """Hand queued network messages to the modem while it can take them.

        Return ``(item, SIM index or None)`` for each item handed over.
        """
        m = self.m
        done: list[tuple[tuple[str, str], int | None]] = []
        if m.mode == OFF or not m.sim_ready or not m.registered:
            return done
        while self._network:
            item = self._network[0]
            kind, hexpdu = item
            length = tpdu_length(hexpdu)
            direct = m.cnmi[1] == 2 if kind == "deliver" else m.cnmi[3] == 1
            index = None
            if kind == "report" and m.cnmi[3] == 0:
                log.debug("sim%d: status report dropped (CNMI ds=0)", m.index)
            elif direct:
                header = f"+CMT: ,{length}" if kind == "deliver" else f"+CDS: {length}"
                m.urc(f"{header}\r\n{hexpdu}")
            else:
                index = self._free_index()
                if index is None:
                    log.debug("sim%d: SIM memory full, network keeps %d message(s)", m.index, len(self._network))
                    break
                self.storage[index] = Stored(0, hexpdu)
                if kind == "report":
                    m.urc(f'+CDSI: "{m.profile.report_mem}",{index}')
                elif m.cnmi[1] in (1, 3):
                    m.urc(f'+CMTI: "SM",{index}')
            self._network.popleft()
            done.append((item, index))
        return done

    def _free_index(self) -> int | None:
        return next((i for i in range(self.first, self.last + 1) if i not in self.storage), None)

    # --- from the host ----------------------------------------------------------------

    def submit(self) -> None:
        """The host ended a PDU with Ctrl-Z: check it, then send it (AT+CMGS) or store it (AT+CMGW)."""
        m = self.m
        hexpdu = "".join(self.pdu_text.split()).upper()
        self.pdu_text = ""
        stat, self.write_stat = self.write_stat, None
        try:
            decoded = pdu.decode(hexpdu, has_smsc=True)
        except PduError as exc:
            log.debug("sim%d: undecodable PDU %r: %s", m.index, hexpdu, exc)
            decoded = None
        wanted = "SMS-DELIVER" if stat in (0, 1) else "SMS-SUBMIT"
        if decoded is None or decoded.type != wanted or decoded.tpdu_length != self.expected_length:
            m.respond([], m.error_text(AtError("CMS", 304)))
            return
        if stat is not None:
            self._write(stat, hexpdu)
            return
        self._send(decoded, hexpdu)

    def _write(self, stat: int, hexpdu: str) -> None:
        """AT+CMGW: store the PDU with ``stat`` at the first free slot; +CMS ERROR: 322 when full."""
        index = self._free_index()
        if index is None:
            self.m.respond([], self.m.error_text(AtError("CMS", 322)))
            return
        self.storage[index] = Stored(stat, hexpdu)
        self.m.respond([f"+CMGW: {index}"])

    def send_stored(self, index: int, recipient: str | None = None) -> None:
        """AT+CMSS: send the SMS-SUBMIT stored at ``index`` (to ``recipient`` instead when given).

        Raise AtError CMS 321 for an empty slot, CMS 302 for a received
        message (or an undecodable one).  A message already sent (stat 3) is
        sent again, as a real modem does.
        """
        slot = self.storage.get(index)
        if slot is None:
            raise AtError("CMS", 321)
        if slot.stat not in (2, 3):
            raise AtError("CMS", 302)
        try:
            decoded = pdu.decode(slot.pdu, has_smsc=True)
        except PduError:
            raise AtError("CMS", 302) from None
        if decoded.type != "SMS-SUBMIT":
            raise AtError("CMS", 302)
        if recipient:
            decoded = replace(decoded, recipient=recipient)
        self._send(decoded, slot.pdu, index)

    def _send(self, submit, hexpdu: str, index: int | None = None) -> None:  # type: ignore[no-untyped-def]
        """Go quiet for the send delay (input waits), then answer +CMGS (or +CMSS for ``index``)."""
        m = self.m
        for line in m.profile.urcs_after_pdu:
            m.urc(m.fmt(line), m.profile.urc_eol)
        m.mode = SENDING
        m.after(m.settings.send_delay, lambda: self._sent(submit, hexpdu, index))

    def _sent(self, submit, hexpdu: str, index: int | None) -> None:  # type: ignore[no-untyped-def]
        m = self.m
        if self.fail_sends:
            m.respond([], m.error_text(AtError("CMS", self.fail_sends.popleft())))
        elif not m.registered:
            m.respond([], m.error_text(AtError("CMS", 331)))
        elif not self._to_ledger(submit, self._next_mr, hexpdu, index):
            m.respond([], m.error_text(AtError("CMS", 500)))  # what the ledger misses was not sent
        else:
            mr = self._next_mr
            self._next_mr = (mr + 1) % 256
            slot = self.storage.get(index) if index is not None else None
            if slot is not None:
                self.storage[index] = slot._replace(stat=3)  # marked sent before the answer leaves
            self._record(submit, mr)
            if submit.srr and self.auto_status_reports and self.report_before_answer:
                self.status_report(mr, 0)  # the network's report overtakes the modem's answer
            m.respond([f"+CMSS: {mr}" if index is not None else f"+CMGS: {mr}"])
            if submit.srr and self.auto_status_reports and not self.report_before_answer:
                m.after(m.settings.report_delay, lambda: self.status_report(mr, 0))
        m.resume()

    def _to_ledger(self, submit, mr: int, hexpdu: str, index: int | None) -> bool:  # type: ignore[no-untyped-def]
        """Record an accepted part in the ledger (if any); False when that failed."""
        ledger = self.m.settings.ledger
        if ledger is None:
            return True
        concat = submit.concat
        entry = {
            "time": self.m.settings.wallclock().isoformat(timespec="microseconds"),
            "modem": f"sim{self.m.index}",
            "via": "CMGS" if index is None else "CMSS",
            "index": index,
            "recipient": submit.recipient,
            "mr": mr,
            "pdu": hexpdu,
            "text": submit.text,
            "concat": [concat.ref, concat.total, concat.seq] if concat is not None else None,
        }
        try:
            ledger(entry)
        except (OSError, RuntimeError):
            log.exception("sim%d: the ledger refused a part; answering the send with +CMS ERROR: 500", self.m.index)
            return False
        return True

    def _record(self, submit, mr: int) -> None:  # type: ignore[no-untyped-def]
        self._reports[mr] = (submit.recipient, self.m.settings.wallclock())
        message = None
        if submit.concat is not None:
            key = (submit.recipient, submit.concat.ref, submit.concat.total)
            message = next(
                (s for s in reversed(self.sent)
                 if not s.complete and s.parts[0].concat is not None
                 and (s.recipient, s.parts[0].concat.ref, s.parts[0].concat.total) == key),
                None,
            )
        if message is None:
            message = SentMessage(submit.recipient, submit.encoding)
            self.sent.append(message)
        message.parts.append(submit)
        message.references.append(mr)
        message.srr = message.srr or bool(submit.srr)
        message.flash = message.flash or submit.message_class == 0  # class 0: flash
