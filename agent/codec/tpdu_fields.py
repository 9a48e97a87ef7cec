"""Field codecs of SMS TPDUs (3GPP TS 23.040 clause 9.2.3), shared by the decoder
in :mod:`agent.codec.pdu` and the encoders in :mod:`agent.codec.tpdu_encode`.

This module holds, for each field, the reading side (raising PduError) and the
writing side (raising EncodeError):

* addresses (TP-OA/TP-DA/TP-RA and the SMSC number): semi-octet digits, type of
  address, alphanumeric senders;
* timestamps (TP-SCTS/TP-DT, absolute TP-VP), always 2000-2099 with a time zone
  in quarter hours;
* validity periods (relative and enhanced TP-VP);
* TP-DCS: :data:`ENCODINGS` and the table mapping each DCS octet to its
  alphabet and message class;
* the user data header: splitting it into IEs, reading concatenation, port and
  national language IEs, and building the concatenation header
  (:class:`Concat`, :func:`concat_header`).

The decoding policies these readers implement (century, invalid time zones,
reserved DCS values, malformed IEs, address digits) are the ones documented in
:mod:`agent.codec.pdu`. Names with a leading underscore are for the codec
modules only; the public names are re-exported by :mod:`agent.codec.pdu`.
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


# --- addresses ---------------------------------------------------------------


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


# --- timestamps and validity periods -----------------------------------------


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


# --- user data header --------------------------------------------------------


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
