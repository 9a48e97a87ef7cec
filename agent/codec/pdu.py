"""SMS TPDU codec for PDU-mode modems (3GPP TS 23.040, alphabets per TS 23.038).

:func:`decode` turns a PDU as ``AT+CMGR``/``+CMT``/``+CDS`` show it into a
:class:`Deliver`, :class:`Submit` or :class:`StatusReport`; the ``encode_*``
functions build PDUs for ``AT+CMGS``/``AT+CMGW`` (and for the modem simulator).

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
from datetime import datetime, timedelta, timezone

from agent.codec import gsm7
from agent.errors import EncodeError, PduError

ENCODINGS = ("gsm7", "ucs2", "8bit")

_TZ = {q: timezone(timedelta(minutes=15 * q)) for q in range(-79, 80)}
_DIGIT_CHARS = "0123456789*#abc\x00"  # nibble F (filler) decodes to \x00, then dropped
_SEMI_OCTETS = tuple(_DIGIT_CHARS[b & 15] + _DIGIT_CHARS[b >> 4] for b in range(256))
# swapped-BCD octet -> value, or -1 when a nibble is not a decimal digit
_BCD = tuple((b & 15) * 10 + (b >> 4) if (b & 15) < 10 and (b >> 4) < 10 else -1 for b in range(256))
_DIALABLE = {ord(c): None for c in "0123456789*#"}
_ALPHANUMERIC_TOA = 0xD0
_MAX_VALIDITY_MINUTES = 63 * 7 * 24 * 60


def _dcs_entry(dcs: int) -> tuple[str, int | None]:
    """Return (encoding, message class or None) of a TP-DCS value (23.038 clause 4)."""
    group = dcs >> 4
    if group < 8:  # general data coding, with or without automatic deletion
        klass = dcs & 3 if dcs & 0x10 else None
        if dcs & 0x20:
            return "8bit", klass
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 3], klass
    if group == 0xF:
        return ("8bit" if dcs & 4 else "gsm7"), dcs & 3
    return ("ucs2" if group == 0xE else "gsm7"), None


_DCS = tuple(_dcs_entry(d) for d in range(256))


@dataclass(frozen=True, slots=True)
class Concat:
    """Concatenation info of one part: reference, part count, 1-based sequence."""

    ref: int
    total: int
    seq: int
    ref_bits: int = 8


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


@dataclass(frozen=True, slots=True)
class EncodedPdu:
    """A PDU ready for ``AT+CMGS=<tpdu_length>``: upper-case hex starting with the
    SMSC field, and the number of octets after that field."""

    hex: str
    tpdu_length: int


# --- decoding ----------------------------------------------------------------


class _Reader:
    """A cursor over the TPDU octets; every read past the end is a PduError."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            raise PduError(f"TPDU truncated in {what}: needs {end} octets, has {len(self.buf)}")
        chunk = self.buf[self.pos : end]
        self.pos = end
        return chunk

    def octet(self, what: str) -> int:
        if self.pos >= len(self.buf):
            raise PduError(f"TPDU truncated before {what}")
        self.pos += 1
        return self.buf[self.pos - 1]


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


def _digits(raw: bytes, semi_octets: int) -> str:
    return "".join(map(_SEMI_OCTETS.__getitem__, raw))[:semi_octets].replace("\x00", "")


def _with_ton(toa: int, digits: str) -> str:
    return "+" + digits if (toa >> 4) & 7 == 1 else digits


def _read_address(r: _Reader, what: str) -> str:
    semi_octets = r.octet(what)
    toa = r.octet(what)
    raw = r.take((semi_octets + 1) // 2, what)
    if (toa >> 4) & 7 == 5:  # alphanumeric, GSM 7-bit packed
        return gsm7.decode(gsm7.unpack(raw, semi_octets * 4 // 7))
    return _with_ton(toa, _digits(raw, semi_octets))


def _timestamp(raw: bytes) -> datetime:
    year, month, day, hour, minute, second = map(_BCD.__getitem__, raw[:6])
    if -1 in (year, month, day, hour, minute, second):
        raise PduError(f"timestamp {raw.hex().upper()} has a non-decimal digit")
    tz = raw[6]
    quarters = 0 if tz >> 4 > 9 else (tz & 7) * 10 + (tz >> 4)
    if tz & 0x08:
        quarters = -quarters
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=_TZ[quarters])
    except ValueError as exc:
        raise PduError(f"timestamp {raw.hex().upper()} is not a valid date: {exc}") from None


def _relative_validity(vp: int) -> timedelta:
    if vp <= 143:
        return timedelta(minutes=(vp + 1) * 5)
    if vp <= 167:
        return timedelta(minutes=720 + (vp - 143) * 30)
    if vp <= 196:
        return timedelta(days=vp - 166)
    return timedelta(weeks=vp - 192)


def _enhanced_validity(raw: bytes) -> timedelta | None:
    fmt = raw[0] & 7  # 23.040 9.2.3.12.3; formats 4-7 are reserved: no period
    if fmt == 1:
        return _relative_validity(raw[1])
    if fmt == 2:
        return timedelta(seconds=raw[1])
    if fmt == 3:
        hours, minutes, seconds = map(_BCD.__getitem__, raw[1:4])
        if -1 in (hours, minutes, seconds):
            raise PduError(f"enhanced validity {raw.hex().upper()} has a non-decimal digit")
        return timedelta(hours=hours, minutes=minutes, seconds=seconds)
    return None


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


def _split_udh(header: bytes) -> tuple[tuple[int, bytes], ...]:
    ies = []
    i = 0
    while i + 2 <= len(header):
        end = i + 2 + header[i + 1]
        if end > len(header):
            break
        ies.append((header[i], header[i + 2 : end]))
        i = end
    return tuple(ies)


def _interpret_udh(udh: tuple[tuple[int, bytes], ...]):
    """Return (concat, ports, locking shift language, single shift language)."""
    concat = ports = None
    locking = single = 0
    for iei, value in udh:
        size = len(value)
        if iei == 0x00 and size == 3:
            concat = _valid_concat(value[0], value[1], value[2], 8)
        elif iei == 0x08 and size == 4:
            concat = _valid_concat(value[0] << 8 | value[1], value[2], value[3], 16)
        elif iei == 0x04 and size == 2:
            ports = (value[0], value[1])
        elif iei == 0x05 and size == 4:
            ports = (value[0] << 8 | value[1], value[2] << 8 | value[3])
        elif iei == 0x24 and size == 1:
            single = value[0]
        elif iei == 0x25 and size == 1:
            locking = value[0]
    return concat, ports, locking, single


def _valid_concat(ref: int, total: int, seq: int, bits: int) -> Concat | None:
    return Concat(ref, total, seq, bits) if 1 <= seq <= total else None


# --- encoding ----------------------------------------------------------------


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


def concat_header(concat: Concat | None) -> bytes:
    """Given concatenation info (or None), return the whole user data header that
    carries it (UDHL included; b'' for None). Raise EncodeError when a field is
    out of range (ref for its ref_bits, 1 <= seq <= total <= 255)."""
    if concat is None:
        return b""
    ref, total, seq, bits = concat.ref, concat.total, concat.seq, concat.ref_bits
    if bits not in (8, 16) or not 0 <= ref < 1 << bits or not 1 <= seq <= total <= 255:
        raise EncodeError(f"invalid concatenation {concat}")
    if bits == 8:
        return bytes((5, 0x00, 3, ref, total, seq))
    return bytes((6, 0x08, 4, ref >> 8, ref & 0xFF, total, seq))


def _finish(smsc: str | None, tpdu: bytes) -> EncodedPdu:
    if smsc is None:
        field = b"\x00"
    else:
        toa, semi_octets = _number_parts(smsc)
        field = bytes((1 + len(semi_octets), toa)) + semi_octets
    return EncodedPdu((field + tpdu).hex().upper(), len(tpdu))


def _number_parts(number: str) -> tuple[int, bytes]:
    """Return the type of address and the swapped semi-octets of a dialable number."""
    digits = number[1:] if number.startswith("+") else number
    if not digits or digits.translate(_DIALABLE) or len(digits) > 20:
        raise EncodeError(f"{number!r} is not a phone number (+, then 1-20 of 0-9 * #)")
    nibbles = digits.replace("*", "A").replace("#", "B") + "F" * (len(digits) % 2)
    swapped = "".join(nibbles[i + 1] + nibbles[i] for i in range(0, len(nibbles), 2))
    return (0x91 if number.startswith("+") else 0x81), bytes.fromhex(swapped)


def _number_address(number: str) -> bytes:
    toa, semi_octets = _number_parts(number)
    return bytes((len(number.lstrip("+")), toa)) + semi_octets


def _sender_address(sender: str) -> bytes:
    digits = sender[1:] if sender.startswith("+") else sender
    if digits and not digits.translate(_DIALABLE):
        return _number_address(sender)
    septets = gsm7.encode_bytes(sender)
    if not 0 < len(septets) <= 11:
        raise EncodeError(f"alphanumeric sender {sender!r} must take 1-11 septets")
    return bytes(((7 * len(septets) + 3) // 4, _ALPHANUMERIC_TOA)) + gsm7.pack(septets)


def _swap(value: int) -> int:
    return (value % 10) << 4 | value // 10


def _encode_timestamp(ts: datetime) -> bytes:
    offset = ts.utcoffset() if isinstance(ts, datetime) else None
    if offset is None:
        raise EncodeError(f"timestamp {ts!r} must be a tz-aware datetime")
    if not 2000 <= ts.year <= 2099:
        raise EncodeError(f"timestamp year {ts.year} is outside 2000-2099")
    quarters, rest = divmod(int(offset.total_seconds()), 900)
    if rest or not -79 <= quarters <= 79:
        raise EncodeError(f"UTC offset {offset} is not a whole number of quarter hours within ±19:45")
    tz = _swap(abs(quarters)) | (0x08 if quarters < 0 else 0)
    fields = (ts.year - 2000, ts.month, ts.day, ts.hour, ts.minute, ts.second)
    return bytes(map(_swap, fields)) + bytes((tz,))


def _relative_vp(minutes: int) -> int:
    """Return the smallest relative TP-VP whose period is at least ``minutes``."""
    if not 0 <= minutes <= _MAX_VALIDITY_MINUTES:
        raise EncodeError(f"validity must be 0..{_MAX_VALIDITY_MINUTES} minutes, not {minutes}")
    if minutes <= 720:  # 5-minute steps
        return max(0, -(-minutes // 5) - 1)
    if minutes <= 1440:  # 30-minute steps
        return 143 + -(-(minutes - 720) // 30)
    if minutes <= 30 * 1440:  # days
        return 166 + -(-minutes // 1440)
    return 192 + -(-minutes // 10080)  # weeks


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
    if validity is None or isinstance(validity, datetime):
        return validity and validity.isoformat()
    hours, rest = divmod(validity.seconds, 3600)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (rest // 60, "M"), (rest % 60, "S")) if n)
    days = f"{validity.days}D" if validity.days else ""
    return "P" + days + ("T" + clock if clock else "") if days or clock else "PT0S"
