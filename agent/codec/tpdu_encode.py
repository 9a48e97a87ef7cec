"""SMS TPDU encoders (3GPP TS 23.040): SMS-SUBMIT for ``AT+CMGS``/``AT+CMGW``,
and SMS-DELIVER and SMS-STATUS-REPORT for the modem simulator.

Every encoder returns an :class:`EncodedPdu` (upper-case hex starting with the
SMSC field, plus the TPDU length that ``AT+CMGS`` wants) holding exactly one
SMS, and raises EncodeError when an argument cannot be encoded: a number that
is not dialable, a text that does not fit its encoding or one part, a
timestamp that is naive or outside 2000-2099, a value out of range. Splitting
long texts into parts is :mod:`agent.codec.parts`'s job.
These names are re-exported by :mod:`agent.codec.pdu`, the public module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agent.codec import gsm7
from agent.codec.tpdu_fields import (
    ENCODINGS,
    Concat,
    _encode_timestamp,
    _number_address,
    _number_parts,
    _relative_vp,
    _sender_address,
    concat_header,
)
from agent.errors import EncodeError


@dataclass(frozen=True, slots=True)
class EncodedPdu:
    """A PDU ready for ``AT+CMGS=<tpdu_length>``: upper-case hex starting with the
    SMSC field, and the number of octets after that field."""

    hex: str
    tpdu_length: int


def encode_submit(recipient: str, text: str = "", *, encoding: str | None = None, data: bytes | None = None,
                  srr: bool = False, validity_minutes: int | None = 1440, mr: int = 0, flash: bool = False,
                  concat: Concat | None = None, smsc: str | None = None) -> EncodedPdu:
    """Given a recipient number (``+`` then digits for international, else digits;
    ``*`` and ``#`` allowed) and a text (or 8-bit ``data``), return one SMS-SUBMIT.

    ``encoding`` None picks GSM 7-bit when every character fits, else UCS-2;
    '8bit' sends ``data``, or the text as ISO-8859-1. ``validity_minutes`` is
    rounded up to the next relative TP-VP step (23.040 9.2.3.12.1), None omits
    TP-VP. ``flash`` sets message class 0, ``srr`` asks for a status report,
    ``concat`` adds a concatenation header. Raise EncodeError when the number is
    not dialable, the text does not fit the encoding or one part, or an
    argument is out of range."""
    if not 0 <= mr <= 255:
        raise EncodeError(f"TP-MR must be 0..255, not {mr}")
    vp = b"" if validity_minutes is None else bytes((_relative_vp(validity_minutes),))
    dcs, udhi, user_data = _user_data(text, encoding, data, flash, concat)
    fo = 0x01 | (0x10 if vp else 0) | (0x20 if srr else 0) | (0x40 if udhi else 0)
    tpdu = bytes((fo, mr)) + _number_address(recipient) + bytes((0, dcs)) + vp + user_data
    return _finish(smsc, tpdu)


def encode_deliver(sender: str, text: str = "", *, scts: datetime, encoding: str | None = None,
                   data: bytes | None = None, concat: Concat | None = None, smsc: str | None = None,
                   flash: bool = False) -> EncodedPdu:
    """Given a sender (a number as for :func:`encode_submit`, or any other text of
    at most 11 GSM 7-bit septets, sent as an alphanumeric address), a text and a
    tz-aware service centre timestamp in 2000-2099, return one SMS-DELIVER with
    "no more messages". Other arguments as for :func:`encode_submit`.
    Raise EncodeError when something cannot be encoded."""
    dcs, udhi, user_data = _user_data(text, encoding, data, flash, concat)
    fo = 0x04 | (0x40 if udhi else 0)
    tpdu = bytes((fo,)) + _sender_address(sender) + bytes((0, dcs)) + _encode_timestamp(scts)
    return _finish(smsc, tpdu + user_data)


def encode_status_report(reference: int, recipient: str, *, status: int, scts: datetime,
                         discharge_time: datetime, smsc: str | None = None) -> EncodedPdu:
    """Given the TP-MR of the submitted message, its recipient number, a TP-ST
    status (0..255) and two tz-aware timestamps, return one SMS-STATUS-REPORT
    without optional parameters. Raise EncodeError when something is out of range."""
    if not 0 <= reference <= 255 or not 0 <= status <= 255:
        raise EncodeError(f"reference and status must be 0..255, not {reference}, {status}")
    tpdu = (bytes((0x06, reference)) + _number_address(recipient) + _encode_timestamp(scts)
            + _encode_timestamp(discharge_time) + bytes((status,)))
    return _finish(smsc, tpdu)


def _finish(smsc: str | None, tpdu: bytes) -> EncodedPdu:
    if smsc is None:
        field = b"\x00"
    else:
        toa, semi_octets = _number_parts(smsc)
        field = bytes((1 + len(semi_octets), toa)) + semi_octets
    return EncodedPdu((field + tpdu).hex().upper(), len(tpdu))


def _user_data(text: str, encoding: str | None, data: bytes | None, flash: bool,
               concat: Concat | None) -> tuple[int, bool, bytes]:
    """Return (TP-DCS, TP-UDHI, TP-UDL + TP-UD)."""
    if data is not None:
        if text or encoding not in (None, "8bit"):
            raise EncodeError("8-bit data goes without text and with encoding '8bit'")
        encoding = "8bit"
    elif encoding is None:
        encoding = "gsm7" if gsm7.can_encode(text) else "ucs2"
    elif encoding not in ENCODINGS:
        raise EncodeError(f"encoding must be one of {ENCODINGS}, not {encoding!r}")
    header = concat_header(concat)
    dcs = {"gsm7": 0x00, "8bit": 0x04, "ucs2": 0x08}[encoding] | (0x10 if flash else 0)
    if encoding == "gsm7":
        septets = gsm7.encode_bytes(text)
        header_septets = (len(header) * 8 + 6) // 7
        udl = header_septets + len(septets)
        if udl > 160:
            raise EncodeError(f"text needs {udl} septets, one SMS holds 160")
        body = gsm7.pack(septets, header_septets * 7 - len(header) * 8)
        return dcs, bool(header), bytes((udl,)) + header + body
    if data is not None:
        body = bytes(data)
    else:
        try:
            body = text.encode("utf-16-be" if encoding == "ucs2" else "latin-1")
        except UnicodeEncodeError as exc:
            raise EncodeError(f"text cannot be encoded as {encoding}: {exc.reason}") from None
    udl = len(header) + len(body)
    if udl > 140:
        raise EncodeError(f"user data needs {udl} octets, one SMS holds 140")
    return dcs, bool(header), bytes((udl,)) + header + body
