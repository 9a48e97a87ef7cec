"""SMS TPDU codec for PDU-mode modems (3GPP TS 23.040, alphabets per TS 23.038):
the public module of the codec.

:func:`decode` turns a PDU as ``AT+CMGR``/``+CMT``/``+CDS`` show it into a
:class:`Deliver`, :class:`Submit` or :class:`StatusReport`; :func:`to_json`
presents one as ``sms-agent pdu decode`` prints it. The ``encode_*`` functions
build PDUs for ``AT+CMGS``/``AT+CMGW`` (and for the modem simulator).

This module holds the decoder, the decoded message types and their JSON form.
It re-exports the encoders and :class:`EncodedPdu` from
:mod:`agent.codec.tpdu_encode`, and :class:`Concat`, :func:`concat_header` and
:data:`ENCODINGS` from :mod:`agent.codec.tpdu_fields` (the field codecs both
directions share); import them from here.

Decoding policies, where the standard or real modems leave room:

* Errors: any input that cannot be decoded raises :class:`PduError` and
  nothing else (bad hex, empty input, wrong types, truncation, impossible
  dates). Truncated user data (fewer octets than TP-UDL needs) is an error;
  octets beyond what TP-UDL needs are ignored, as is everything after TP-ST in
  a status report (TP-PI and beyond are not exposed; SIM storage pads with 0xFF).
  A TP-UDL above the 160-septet/140-octet maximum is accepted when the data is
  there: rejecting it would lose a readable message.
* Years: the two-digit year ``yy`` is 20yy (2000-2099). 23.040 gives no century;
  every SMSC timestamp we can receive is after 2000, and the encoders accept
  only 2000-2099, so decode(encode(t)) == t. A clock reset to ``98`` shows as 2098.
* Time zones: a time zone octet whose units digit is not BCD (e.g. 0xE1, 0xA0)
  is read as +00:00. An impossible date or time (month 13, hour 24, a non-BCD
  digit) raises PduError, so ``scts`` is always a real, tz-aware datetime.
* Data coding (23.038 clause 4): reserved alphabet values and reserved groups
  (0x80-0xBF) are GSM 7-bit; in group 0xF the reserved bit 3 is ignored, so
  0xFB is GSM 7-bit class 3 and 0xF9 GSM 7-bit class 1 (a sender putting UCS-2
  text behind 0xF9 gets garbage, never an exception: we do not guess alphabets
  from content). Compressed user data (bit 5 in groups 00/01) is returned as
  '8bit' since we do not implement 23.042 decompression.
* UCS-2 is read as UTF-16BE, so surrogate pairs (emoji) become real characters;
  a lone surrogate or an odd final octet becomes U+FFFD.
* 8-bit user data: ``data`` holds the raw octets (UDH excluded) and ``text``
  the same octets read as ISO-8859-1.
* User data header: IEs are kept in ``udh`` as (IEI, data). A trailing IE that
  overruns the header is dropped. A concatenation IE with total 0 or a sequence
  number outside 1..total is ignored (23.040 9.2.3.24.1), as is an IE with the
  wrong length. When an IE repeats, the last one wins. TP-UDHI with empty user
  data is an error.
* TP-MTI 3 (reserved) is decoded as SMS-DELIVER (23.040 9.2.3.1).
* Addresses: TON international gets a leading ``+``; semi-octets 0xA-0xE are
  ``* # a b c``; alphanumeric (TON 5) holds floor(semi_octets * 4 / 7) septets,
  so no padding ``@`` is invented. An SMSC field without digits gives None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.codec import gsm7
from agent.codec.tpdu_encode import EncodedPdu, encode_deliver, encode_status_report, encode_submit
from agent.codec.tpdu_fields import (
    _DCS,
    ENCODINGS,
    Concat,
    _Reader,
    _digits,
    _enhanced_validity,
    _interpret_udh,
    _read_address,
    _relative_validity,
    _split_udh,
    _timestamp,
    _with_ton,
    concat_header,
)
from agent.errors import EncodeError, PduError

__all__ = [
    "ENCODINGS",
    "Concat",
    "Deliver",
    "EncodeError",
    "EncodedPdu",
    "PduError",
    "StatusReport",
    "Submit",
    "concat_header",
    "decode",
    "encode_deliver",
    "encode_status_report",
    "encode_submit",
    "to_json",
]


@dataclass(frozen=True, slots=True)
class Deliver:
    """A decoded SMS-DELIVER (mobile terminated). ``ports`` is (destination, source)."""

    smsc: str | None
    sender: str
    text: str
    encoding: str
    data: bytes | None
    scts: datetime
    concat: Concat | None
    pid: int
    dcs: int
    message_class: int | None
    udh: tuple[tuple[int, bytes], ...]
    ports: tuple[int, int] | None
    sri: bool
    more_messages: bool
    tpdu_length: int

    @property
    def type(self) -> str:
        return "SMS-DELIVER"


@dataclass(frozen=True, slots=True)
class Submit:
    """A decoded SMS-SUBMIT. ``validity`` is a timedelta (relative or enhanced
    format), a datetime (absolute format) or None (no validity period)."""

    smsc: str | None
    recipient: str
    text: str
    encoding: str
    data: bytes | None
    concat: Concat | None
    mr: int
    srr: bool
    validity: timedelta | datetime | None
    pid: int
    dcs: int
    message_class: int | None
    udh: tuple[tuple[int, bytes], ...]
    ports: tuple[int, int] | None
    tpdu_length: int

    @property
    def type(self) -> str:
        return "SMS-SUBMIT"


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A decoded SMS-STATUS-REPORT; ``reference`` is the TP-MR of the submit."""

    smsc: str | None
    reference: int
    recipient: str
    scts: datetime
    discharge_time: datetime
    status: int
    tpdu_length: int

    @property
    def type(self) -> str:
        return "SMS-STATUS-REPORT"


# --- decoding ----------------------------------------------------------------


def decode(pdu: str | bytes, *, has_smsc: bool = True) -> Deliver | Submit | StatusReport:
    """Given a PDU as hex (any case, surrounding whitespace allowed) or raw bytes,
    starting with the SMSC field unless ``has_smsc`` is False, return the decoded
    TPDU. Raise PduError, and only PduError, when it cannot be decoded."""
    if isinstance(pdu, str):
        try:
            data = bytes.fromhex(pdu.strip())
        except ValueError:
            raise PduError("PDU is not an even-length hex string") from None
    elif isinstance(pdu, (bytes, bytearray, memoryview)):
        data = bytes(pdu)
    else:
        raise PduError(f"PDU must be str or bytes, not {type(pdu).__name__}")
    try:
        return _decode(data, has_smsc)
    except PduError:
        raise
    except Exception as exc:  # a decoder bug must not take the modem loop down
        raise PduError(f"undecodable PDU ({type(exc).__name__}: {exc})") from exc


def _decode(data: bytes, has_smsc: bool) -> Deliver | Submit | StatusReport:
    smsc = None
    if has_smsc:
        if not data:
            raise PduError("empty PDU")
        size = data[0]
        if 1 + size > len(data):
            raise PduError(f"SMSC field of {size} octets exceeds the PDU")
        if size:
            digits = _digits(data[2 : 1 + size], 2 * (size - 1))
            smsc = _with_ton(data[1], digits) if digits else None
        data = data[1 + size :]
    r = _Reader(data)
    fo = r.octet("first octet")
    mti = fo & 3
    if mti == 1:
        return _decode_submit(r, fo, smsc)
    if mti == 2:
        return _decode_status_report(r, smsc)
    return _decode_deliver(r, fo, smsc)


def _decode_deliver(r: _Reader, fo: int, smsc: str | None) -> Deliver:
    sender = _read_address(r, "originating address")
    pid = r.octet("TP-PID")
    dcs = r.octet("TP-DCS")
    scts = _timestamp(r.take(7, "TP-SCTS"))
    encoding, klass = _DCS[dcs]
    text, raw, udh, concat, ports = _read_user_data(r, bool(fo & 0x40), encoding)
    return Deliver(smsc, sender, text, encoding, raw, scts, concat, pid, dcs, klass,
                   udh, ports, bool(fo & 0x20), not fo & 0x04, len(r.buf))


def _decode_submit(r: _Reader, fo: int, smsc: str | None) -> Submit:
    mr = r.octet("TP-MR")
    recipient = _read_address(r, "destination address")
    pid = r.octet("TP-PID")
    dcs = r.octet("TP-DCS")
    vpf = (fo >> 3) & 3
    validity: timedelta | datetime | None = None
    if vpf == 2:
        validity = _relative_validity(r.octet("TP-VP"))
    elif vpf == 1:
        validity = _enhanced_validity(r.take(7, "TP-VP"))
    elif vpf == 3:
        validity = _timestamp(r.take(7, "TP-VP"))
    encoding, klass = _DCS[dcs]
    text, raw, udh, concat, ports = _read_user_data(r, bool(fo & 0x40), encoding)
    return Submit(smsc, recipient, text, encoding, raw, concat, mr, bool(fo & 0x20),
                  validity, pid, dcs, klass, udh, ports, len(r.buf))


def _decode_status_report(r: _Reader, smsc: str | None) -> StatusReport:
    mr = r.octet("TP-MR")
    recipient = _read_address(r, "recipient address")
    scts = _timestamp(r.take(7, "TP-SCTS"))
    discharge = _timestamp(r.take(7, "TP-DT"))
    status = r.octet("TP-ST")
    return StatusReport(smsc, mr, recipient, scts, discharge, status, len(r.buf))


def _read_user_data(r: _Reader, udhi: bool, encoding: str):
    """Return (text, 8-bit data or None, udh, concat, ports) of TP-UDL + TP-UD."""
    udl = r.octet("TP-UDL")
    needed = (udl * 7 + 7) // 8 if encoding == "gsm7" else udl
    present = len(r.buf) - r.pos
    if needed > present:
        raise PduError(f"user data truncated: TP-UDL {udl} ({encoding}) needs {needed} octets, {present} present")
    ud = r.take(needed, "user data")
    header_len = 0
    udh: tuple[tuple[int, bytes], ...] = ()
    if udhi:
        if not ud:
            raise PduError("TP-UDHI is set but the user data is empty")
        header_len = 1 + ud[0]
        if header_len > len(ud):
            raise PduError(f"user data header of {header_len} octets exceeds the user data")
        udh = _split_udh(ud[1:header_len])
    concat, ports, locking, single = _interpret_udh(udh)
    if encoding == "gsm7":
        header_septets = (header_len * 8 + 6) // 7
        count = udl - header_septets
        if count < 0:
            raise PduError(f"TP-UDL of {udl} septets is shorter than the user data header")
        septets = gsm7.unpack(ud[header_len:], count, header_septets * 7 - header_len * 8)
        return gsm7.decode(septets, locking=locking, single=single), None, udh, concat, ports
    body = ud[header_len:]
    if encoding == "ucs2":
        return body.decode("utf-16-be", "replace"), None, udh, concat, ports
    return body.decode("latin-1"), body, udh, concat, ports


# --- presentation ------------------------------------------------------------


def to_json(msg: Deliver | Submit | StatusReport) -> dict:
    """Given a decoded message, return the JSON-ready dict printed by
    ``sms-agent pdu decode``. Every type has: type, smsc, text, encoding, data
    (hex of 8-bit data, else None), scts (ISO-8601; None for SUBMIT), concat
    ({ref, total, seq} or None) and tpdu_length. DELIVER adds sender; SUBMIT
    recipient, mr, srr and validity (ISO-8601 duration or datetime, or None);
    both add pid, dcs, message_class and ports ([destination, source] or None).
    STATUS-REPORT adds recipient, reference, status and discharge_time, with
    text and encoding None."""
    if isinstance(msg, StatusReport):
        return {"type": msg.type, "smsc": msg.smsc, "recipient": msg.recipient, "text": None,
                "encoding": None, "data": None, "scts": msg.scts.isoformat(), "concat": None,
                "reference": msg.reference, "status": msg.status,
                "discharge_time": msg.discharge_time.isoformat(), "tpdu_length": msg.tpdu_length}
    concat = msg.concat
    out = {
        "type": msg.type,
        "smsc": msg.smsc,
        **({"sender": msg.sender} if isinstance(msg, Deliver) else {"recipient": msg.recipient}),
        "text": msg.text,
        "encoding": msg.encoding,
        "data": None if msg.data is None else msg.data.hex().upper(),
        "scts": msg.scts.isoformat() if isinstance(msg, Deliver) else None,
        "concat": None if concat is None else {"ref": concat.ref, "total": concat.total, "seq": concat.seq},
        "pid": msg.pid,
        "dcs": msg.dcs,
        "message_class": msg.message_class,
        "ports": None if msg.ports is None else list(msg.ports),
        "tpdu_length": msg.tpdu_length,
    }
    if isinstance(msg, Submit):
        out.update(mr=msg.mr, srr=msg.srr, validity=_iso_validity(msg.validity))
    return out


def _iso_validity(validity: timedelta | datetime | None) -> str | None:
    if validity is None:
        return None
    if isinstance(validity, datetime):
        return validity.isoformat()
    hours, rest = divmod(validity.seconds, 3600)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (rest // 60, "M"), (rest % 60, "S")) if n)
    days = f"{validity.days}D" if validity.days else ""
    return "P" + days + ("T" + clock if clock else "") if days or clock else "PT0S"
