"""The SMPP 3.4 door: the box as an SMSC for ESMEs on the LAN (Kannel, Jasmin, smpplib...).

Binds: bind_transmitter, bind_receiver and bind_transceiver with ``[smpp]
system_id`` / ``password`` (compared in constant time; a wrong pair gets
ESME_RBINDFAIL, then the connection closes).  In a session: submit_sm and
data_sm (transmitter, transceiver), query_sm, enquire_link both ways, unbind
both ways, generic_nack for what is unknown or cannot be read; other
commands (submit_multi, cancel_sm, replace_sm) get generic_nack with
ESME_RINVCMDID.

submit_sm: the destination (TON 1 adds '+'), the text by data_coding (0 GSM
default alphabet, 1 ASCII, 3 Latin-1, 8 UCS2, 2/4 8-bit...), message_payload,
the client's own concatenation (esm_class UDHI with a concatenation header, or
the sar_* TLVs: parts are kept until the set is complete, each answered with its
own id), registered_delivery (bits 0-1 non-zero: a receipt is wanted),
schedule_delivery_time and validity_period in both SMPP time formats,
priority_flag 0-3.  The message is committed before submit_sm_resp carries its
id (:mod:`agent.doors.ids`).

deliver_sm to receivers and transceivers: received messages (a long one whole
in message_payload, or, with ``long_mo = udh``... see :data:`UDH_PARTS`) and
delivery receipts (esm_class 0x04, the usual ``id:... stat:...`` text, the
receipted_message_id and message_state TLVs), from the outbox, in order, each
deleted on deliver_sm_resp status 0 (:mod:`agent.doors.feed`).
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from datetime import datetime, timezone

from ..codec import smpp
from ..codec.parts import split
from ..model import NewMessage
from .door import Door
from .feed import Note, Receipt, Received
from .ids import smpp_id, smpp_task
from .intake import BAD_TEXT, NO_LINE, SYSTEM, THROTTLED, TOO_LONG, Refusal
from .listener import Conn
from .session import BaseSession

log = logging.getLogger(__name__)

SHORT_MAX = 254  # octets of short_message; a longer MO goes in message_payload (or in UDH parts)
UDH_PARTS = "UDH"  # a bind whose system_type is this gets long MOs as concatenated parts instead
_NUMBER = re.compile(r"\+?[0-9*#]{1,20}")
_REFUSALS = {TOO_LONG: smpp.ESME_RINVMSGLEN, BAD_TEXT: smpp.ESME_RINVDCS, NO_LINE: smpp.ESME_RSUBMITFAIL,
             THROTTLED: smpp.ESME_RTHROTTLED, SYSTEM: smpp.ESME_RSYSERR}
_BINDS = {smpp.BIND_TRANSMITTER: (True, False), smpp.BIND_RECEIVER: (False, True),
          smpp.BIND_TRANSCEIVER: (True, True)}


class Invalid(Exception):
    """A submit_sm field the agent cannot take: answer with ``status``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


class SmppSession(BaseSession):
    header = smpp.HEADER_SIZE
    max_frame = smpp.MAX_PDU
    seq_at = 12

    def __init__(self, door: Door, conn: Conn, now: float, *, system_id: str, password: str,
                 latin1: bool = False) -> None:
        super().__init__(conn, door.feed, door.timers, door.name, now)
        self._latin1 = latin1  # data_coding 0 is ISO-8859-1 here, not the GSM default alphabet
        self._door = door
        self._system_id = system_id
        self._password = password
        self.transmits = False
        self.udh_parts = False

    # --- frames from the client ---------------------------------------------------------------

    def bad_frame(self, length: int) -> None:
        self.send(smpp.generic_nack(0, smpp.ESME_RINVCMDLEN))
        self.close(f"a PDU of {length} octets")

    def frame(self, data: bytes, now: float) -> None:
        self.last_rx = now
        try:
            pdu = smpp.decode(data)
        except smpp.PduError as exc:
            if (exc.nack or not exc.command_id or exc.command_id & smpp.RESP_BIT
                    or exc.command_id | smpp.RESP_BIT not in smpp.NAMES):  # outbind, alert_notification: no _resp
                self.send(smpp.generic_nack(exc.sequence, exc.status), now)
            else:
                self.send(smpp.encode(exc.command_id | smpp.RESP_BIT, exc.sequence, status=exc.status), now)
            log.info("smpp: %s sent a PDU that cannot be read: %s", self.conn.peer, exc)
            return
        cid = pdu.command_id
        if cid & smpp.RESP_BIT or cid == smpp.GENERIC_NACK:
            self._response(pdu)
        elif cid in _BINDS:
            self._bind(pdu, now)
        elif cid == smpp.ENQUIRE_LINK:
            self.send(smpp.encode(smpp.ENQUIRE_LINK_RESP, pdu.sequence), now)
        elif cid == smpp.UNBIND:
            self.send(smpp.encode(smpp.UNBIND_RESP, pdu.sequence), now)
            self.bound = False
            self.close("unbound by the client")
        elif cid in (smpp.SUBMIT_SM, smpp.DATA_SM):
            self._submit(pdu, now)
        elif cid == smpp.QUERY_SM:
            self._query(pdu, now)
        else:
            self.send(smpp.generic_nack(pdu.sequence, smpp.ESME_RINVCMDID), now)

    def _response(self, pdu: smpp.Pdu) -> None:
        error = "" if pdu.status == 0 else f"status 0x{pdu.status:08X}"
        self.answered(pdu.sequence, pdu.status == 0, error)

    def _bind(self, pdu: smpp.Pdu, now: float) -> None:
        resp = pdu.command_id | smpp.RESP_BIT
        if self.bound:
            self.send(smpp.encode(resp, pdu.sequence, status=smpp.ESME_RALYBND), now)
            return
        system_id = str(pdu.fields.get("system_id", ""))
        password = str(pdu.fields.get("password", ""))
        ok_id = hmac.compare_digest(system_id.encode("latin-1"), self._system_id.encode("latin-1"))
        ok_pw = hmac.compare_digest(password.encode("latin-1"), self._password.encode("latin-1"))
        if not (ok_id and ok_pw):
            delay = self._door.login_failed(self.conn.peer, "wrong system_id or password")
            self.refuse_login(smpp.encode(resp, pdu.sequence, status=smpp.ESME_RBINDFAIL), now, delay, "bind refused")
            return
        self.transmits, self.receives = _BINDS[pdu.command_id]
        self.udh_parts = str(pdu.fields.get("system_type", "")).upper() == UDH_PARTS
        self.bound = True
        tlvs = {}
        if int(pdu.fields.get("interface_version") or 0) >= 0x34:
            tlvs[smpp.SC_INTERFACE_VERSION] = smpp.tlv_u8(0x34)
        self.send(smpp.encode(resp, pdu.sequence, fields={"system_id": self._system_id}, tlvs=tlvs), now)
        log.info("smpp: %s bound as %s", self.conn.peer, smpp.NAMES[pdu.command_id].replace("bind_", ""))
        self.feed.dirty = True

    # --- submit_sm / data_sm ------------------------------------------------------------------------

    def _submit(self, pdu: smpp.Pdu, now: float) -> None:
        resp = pdu.command_id | smpp.RESP_BIT
        if not (self.bound and self.transmits):
            self.send(smpp.encode(resp, pdu.sequence, status=smpp.ESME_RINVBNDSTS), now)
            return
        try:
            message, concat = _message(pdu, latin1=self._latin1)
            if concat is None or concat[1] == 1:
                taken = self._door.intake.whole([message])
                message_id = smpp_id(taken.task_id)
            else:
                ref, total, seq = concat
                key = f"{message.originator}|{message.recipient}|{ref}|{total}"
                taken = self._door.intake.part(key, seq, total, [message])
                message_id = smpp_id(taken.task_id, seq)
        except (Invalid, Refusal) as exc:
            status = exc.status if isinstance(exc, Invalid) else _REFUSALS[exc.kind]
            self.send(smpp.encode(resp, pdu.sequence, status=status), now)
            self._door.answered(status, now, time.monotonic())
            log.info("smpp: %s refused from %s: %s", smpp.NAMES.get(pdu.command_id), self.conn.peer, exc)
            return
        self.submitted += 1
        self.send(smpp.encode(resp, pdu.sequence, fields={"message_id": message_id}), now)
        self._door.answered(0, now, time.monotonic())

    def _query(self, pdu: smpp.Pdu, now: float) -> None:
        found = smpp_task(str(pdu.fields.get("message_id", "")))
        rows = self._door.core.messages_by_task(found[0]) if found else []
        task = self._door.core.door_task(found[0]) if found else None
        if not rows or task is None or task.source != self._door.name:
            self.send(smpp.encode(smpp.QUERY_SM_RESP, pdu.sequence, status=smpp.ESME_RQUERYFAIL), now)
            return
        row = rows[0]
        state, error = _state(row)
        final = row.get("delivered_date") or row.get("sent_date") or ""
        final_date = smpp.format_time(_aware(final, self._door)) if final and state != 1 else ""
        self.send(smpp.encode(smpp.QUERY_SM_RESP, pdu.sequence, fields={
            "message_id": pdu.fields.get("message_id", ""), "final_date": final_date, "message_state": state,
            "error_code": error}), now)

    # --- deliver_sm -------------------------------------------------------------------------------------

    def _deliver_pdus(self, note: Note) -> list[bytes]:
        if isinstance(note, Receipt):
            return [self._receipt(note)]
        assert isinstance(note, Received)
        return self._received(note)

    def _receipt(self, r: Receipt) -> bytes:
        message_id = smpp_id(r.task_id, r.part)
        text = smpp.receipt_text(message_id, submitted=1, delivered=1 if r.stat == "DELIVRD" else 0,
                                 submit_date=r.submitted, done_date=r.done, stat=r.stat, err=r.err, text=r.text)
        src_ton, src = _address(r.recipient)
        dst_ton, dst = _address(r.originator)
        fields = {"source_addr_ton": src_ton, "source_addr_npi": 1, "source_addr": src,
                  "dest_addr_ton": dst_ton, "dest_addr_npi": 1 if dst else 0, "destination_addr": dst,
                  "esm_class": 0x04, "data_coding": 0, "short_message": text.encode("ascii", "replace")}
        tlvs = [(smpp.RECEIPTED_MESSAGE_ID, smpp.tlv_cstr(message_id)), (smpp.MESSAGE_STATE, smpp.tlv_u8(r.state))]
        if r.err:
            tlvs.append((smpp.NETWORK_ERROR_CODE, bytes([3]) + (r.err & 0xFFFF).to_bytes(2, "big")))
        return smpp.encode(smpp.DELIVER_SM, 0, fields=fields, tlvs=tlvs)

    def _octets(self, text: str, encoding: str) -> tuple[int, bytes]:
        """(data_coding, octets) of a text for deliver_sm, data_coding 0 as ``default_alphabet`` says."""
        if self._latin1 and encoding == "7":
            try:
                return 0, text.encode("latin-1")
            except UnicodeEncodeError:
                pass  # not Latin-1: UCS2 as encode_text chooses
        return smpp.encode_text(text, encoding)

    def _received(self, m: Received) -> list[bytes]:
        coding, data = self._octets(m.text, m.encoding)
        src_ton, src = _address(m.originator)
        dst_ton, dst = _address(m.number)
        base = {"source_addr_ton": src_ton, "source_addr_npi": 1, "source_addr": src, "dest_addr_ton": dst_ton,
                "dest_addr_npi": 1 if dst else 0, "destination_addr": dst, "data_coding": coding}
        if len(data) <= SHORT_MAX:
            return [smpp.encode(smpp.DELIVER_SM, 0, fields={**base, "short_message": data})]
        if not self.udh_parts:
            return [smpp.encode(smpp.DELIVER_SM, 0, fields={**base, "short_message": b""},
                                tlvs=[(smpp.MESSAGE_PAYLOAD, data)])]
        # Concatenated parts cut by the SMS rules (an escape or surrogate pair stays whole), all in
        # the whole text's coding.
        unit = "ucs2" if coding == 8 else "gsm7" if coding == 0 and not self._latin1 else "8bit"
        texts = split(m.text, encoding=unit, max_parts=255)
        ref = hash((m.originator, m.text, m.received)) & 0xFF
        encoding = "U" if coding == 8 else m.encoding
        return [smpp.encode(smpp.DELIVER_SM, 0, fields={
                    **base, "esm_class": 0x40,
                    "short_message": smpp.udh_bytes(smpp.Udh(ref, len(texts), i, 8)) + self._octets(text, encoding)[1]})
                for i, text in enumerate(texts, start=1)]

    def _keepalive(self) -> bytes:
        return smpp.encode(smpp.ENQUIRE_LINK, 0)

    def _goodbye_pdu(self) -> bytes:
        return smpp.encode(smpp.UNBIND, 0)


def _message(pdu: smpp.Pdu, *, latin1: bool = False) -> tuple[NewMessage, tuple[int, int, int] | None]:
    """The submit_sm / data_sm as a message, and (ref, total, seq) when it is a part the client made;
    with ``latin1``, data_coding 0 is read as ISO-8859-1."""
    f = pdu.fields
    dest = str(f.get("destination_addr", "")).strip()
    if int(f.get("dest_addr_ton") or 0) == 1 and dest and not dest.startswith("+"):
        dest = "+" + dest
    if not _NUMBER.fullmatch(dest):
        raise Invalid(smpp.ESME_RINVDSTADR, f"destination {dest!r}")
    esm = int(f.get("esm_class") or 0)
    body = bytes(f.get("short_message") or b"")
    payload = pdu.tlvs.get(smpp.MESSAGE_PAYLOAD)
    if payload is not None:
        if body:
            raise Invalid(smpp.ESME_RINVOPTPARAMVAL, "both short_message and message_payload")
        body = payload
    concat = None
    if esm & 0x40:
        try:
            udh, body = smpp.split_udh(body)
        except smpp.PduError as exc:
            raise Invalid(exc.status, str(exc)) from None
        if udh is not None:
            concat = (udh.ref | (udh.ref_bits << 16), udh.total, udh.seq)
    elif pdu.tlvs.get(smpp.SAR_MSG_REF_NUM) is not None:
        ref, total, seq = (pdu.tlv_int(smpp.SAR_MSG_REF_NUM), pdu.tlv_int(smpp.SAR_TOTAL_SEGMENTS),
                           pdu.tlv_int(smpp.SAR_SEGMENT_SEQNUM))
        if ref is None or not total or not seq or seq > total:
            raise Invalid(smpp.ESME_RINVOPTPARAMVAL, "sar_* TLVs incomplete or inconsistent")
        concat = (ref | (16 << 16), total, seq)
    coding = int(f.get("data_coding") or 0)
    try:
        text, encoding = smpp.decode_text(3 if latin1 and coding == 0 else coding, body)
    except ValueError as exc:
        raise Invalid(smpp.ESME_RINVDCS, str(exc)) from None
    if not text:
        raise Invalid(smpp.ESME_RINVMSGLEN, "no text")
    priority = int(f.get("priority_flag") or 0)
    if priority > 3:
        raise Invalid(smpp.ESME_RINVPRTFLG, f"priority_flag {priority}")
    now = datetime.now(timezone.utc)
    try:
        scheduled = smpp.parse_time(str(f.get("schedule_delivery_time") or ""), now)
    except ValueError:
        raise Invalid(smpp.ESME_RINVSCHED, "schedule_delivery_time") from None
    try:
        expires = smpp.parse_time(str(f.get("validity_period") or ""), now)
    except ValueError:
        raise Invalid(smpp.ESME_RINVEXPIRY, "validity_period") from None
    if expires is not None and (expires <= now or (scheduled is not None and expires <= scheduled)):
        raise Invalid(smpp.ESME_RINVEXPIRY, "validity_period has passed")
    registered = int(f.get("registered_delivery") or 0)
    message = NewMessage(recipient=dest, text=text, encoding=encoding, priority=priority,
                         status_report=bool(registered & 0x03), scheduled=scheduled, expires=expires,
                         originator=str(f.get("source_addr", ""))[:20])
    return message, concat


def _state(row: dict) -> tuple[int, int]:
    """(message_state, error_code) of a queue row, for query_sm."""
    status, delivery = row.get("status"), row.get("delivery")
    if status == "F":
        return (3 if row.get("failure_cause") == "EXPIRED" else 5), int(row.get("error_code") or 0) & 0xFF
    if status == "S" and delivery == "delivered":
        return 2, 0
    if status == "S" and delivery == "failed":
        return 5, 0
    return 1, 0


def _aware(text: str, door: Door) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=door.tz).astimezone(timezone.utc)
    except ValueError:
        return datetime.now(timezone.utc)


def _address(number: str) -> tuple[int, str]:
    """(TON, digits) of a number: '+' means international (TON 1)."""
    number = "".join(c for c in number if " " <= c <= "~")  # an address field carries ASCII only
    if number.startswith("+"):
        return 1, number[1:21]
    return 0, number[:20]  # 21 octets with the NUL


def session_factory(system_id: str, password: str, *, latin1: bool = False):
    """Sessions of the SMPP door with these credentials (``latin1``: what data_coding 0 means)."""
    def make(door: Door, conn: Conn, now: float) -> SmppSession:
        return SmppSession(door, conn, now, system_id=system_id, password=password, latin1=latin1)
    return make
