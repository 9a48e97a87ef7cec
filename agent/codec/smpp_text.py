"""Text-level helpers of the SMPP 3.4 codec (:mod:`agent.codec.smpp` re-exports them):

* message text by ``data_coding`` (SMPP 3.4 5.2.19, with the GSM 03.38 data
  coding groups): :func:`decode_text`, :func:`encode_text`;
* the time format of SMPP 3.4 7.1.1 (absolute and relative):
  :func:`parse_time`, :func:`format_time`;
* the text of a delivery receipt (SMPP 3.4 appendix B):
  :func:`receipt_text`, :func:`parse_receipt`.

Text is returned with the agent's encoding letter: ``'7'`` (text the agent may
send as GSM 7-bit or UCS2, whichever fits), ``'U'`` (UCS2) or ``'8'`` (8-bit
data, carried as a str of code points 0-255).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from agent.codec import gsm7
from agent.errors import CodecError, EncodeError


class CodingError(ValueError, CodecError):
    """A short message cannot be read in its data_coding: the coding is not
    supported or the bytes are not valid in it. ``status`` is the SMPP status
    to answer with (ESME_RINVDCS, 0x104, from SMPP 5.0)."""

    status = 0x104

    def __init__(self, data_coding: int, message: str) -> None:
        super().__init__(message)
        self.data_coding = data_coding
        self.message = message


# --- text by data_coding -------------------------------------------------------------------------

_GSM, _ASCII, _LATIN1, _UCS2, _BINARY, _CYRILLIC, _HEBREW = range(7)

# SMPP 3.4 data_coding 0x00-0x0F (SMPP's own meanings), then the GSM 03.38 groups that map cleanly.
_CODINGS: dict[int, int] = {0x00: _GSM, 0x01: _ASCII, 0x02: _BINARY, 0x03: _LATIN1, 0x04: _BINARY,
                            0x06: _CYRILLIC, 0x07: _HEBREW, 0x08: _UCS2}
for _dcs in range(0x10, 0x1C):  # general data coding with a message class: bits 3-2 = alphabet
    _CODINGS[_dcs] = (_GSM, _BINARY, _UCS2)[(_dcs >> 2) & 3]
for _dcs in range(0xC0, 0xE0):  # message waiting indication, discard / store: default alphabet
    _CODINGS[_dcs] = _GSM
for _dcs in range(0xE0, 0xF0):  # message waiting indication, store: UCS2
    _CODINGS[_dcs] = _UCS2
for _dcs in range(0xF0, 0xF8):  # data coding / message class: bit 2 = 8-bit data, else default alphabet
    _CODINGS[_dcs] = _BINARY if _dcs & 4 else _GSM
del _dcs

_NOT_IA5 = re.compile(rb"[\x80-\xff]")
_NOT_SEPTET = _NOT_IA5


def decode_text(data_coding: int, data: bytes) -> tuple[str, str]:
    """Given a data_coding value and the message octets (user data header already
    removed), return (text, encoding letter). Supported: 0 and the GSM default
    alphabet groups (one septet per octet, 0x1B escapes honoured), 1 IA5/ASCII,
    3 Latin-1, 6 ISO-8859-5, 7 ISO-8859-8, 8 and the UCS2 groups (UTF-16BE,
    surrogate pairs joined), 2, 4 and the 8-bit groups (text = octets as Latin-1).
    Raise CodingError for any other coding or for octets not valid in the coding."""
    kind = _CODINGS.get(data_coding)
    data = bytes(data)
    if kind is None:
        raise CodingError(data_coding, f"data_coding 0x{data_coding:02X} is not supported")
    if kind == _BINARY:
        return data.decode("latin-1"), "8"
    if kind == _GSM:
        if _NOT_SEPTET.search(data):
            raise CodingError(data_coding, "octet above 0x7F in a GSM default alphabet message")
        return gsm7.decode(data), "7"
    if kind == _UCS2:
        try:
            return data.decode("utf-16-be"), "U"
        except UnicodeDecodeError as exc:
            raise CodingError(data_coding, f"not valid UCS2 (UTF-16BE): {exc.reason}") from None
    if kind == _ASCII and _NOT_IA5.search(data):
        raise CodingError(data_coding, "octet above 0x7F in an IA5 message")
    codec = {_ASCII: "ascii", _LATIN1: "latin-1", _CYRILLIC: "iso8859-5", _HEBREW: "iso8859-8"}[kind]
    try:
        return data.decode(codec), "7"
    except UnicodeDecodeError as exc:
        raise CodingError(data_coding, f"not valid {codec}: {exc.reason}") from None


def encode_text(text: str, encoding: str) -> tuple[int, bytes]:
    """Given a text and the agent's encoding letter, return (data_coding, octets)
    for a deliver_sm: '7' gives (0, GSM septets one per octet) when every
    character is in the GSM default alphabet or its extension, else
    (8, UTF-16BE); 'U' gives (8, UTF-16BE); '8' gives (4, the text as Latin-1).
    Raise EncodeError for another letter or a text the coding cannot carry."""
    if encoding == "7" and gsm7.can_encode(text):
        return 0, gsm7.encode_bytes(text)
    try:
        if encoding in ("7", "U"):
            return 8, text.encode("utf-16-be")
        if encoding == "8":
            return 4, text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"text cannot be encoded for encoding {encoding!r}: {exc.reason}") from None
    raise EncodeError(f"unknown encoding {encoding!r} (not '7', 'U' or '8')")


# --- time format (SMPP 3.4 7.1.1) ----------------------------------------------------------------

_TIME = re.compile(r"(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d)(\d\d)([-+R])", re.ASCII)


def parse_time(text: str, now: datetime) -> datetime | None:
    """Given a schedule_delivery_time / validity_period value and the current time
    (aware), return None for '' and otherwise an aware datetime: the absolute
    form 'YYMMDDhhmmsstnnp' (years 2000-2099, t tenths of a second, nn quarter
    hours 00-48 ahead of ('+') or behind ('-') UTC) as written; the relative form
    'YYMMDDhhmmsstnnR' as now plus that many years, months (calendar, the day
    kept or clamped to the month's end), days, hours, minutes and seconds
    (tnn is ignored). Raise ValueError for anything else."""
    if text == "":
        return None
    if now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    match = _TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an SMPP time (YYMMDDhhmmsstnnp, p one of + - R)")
    yy, mo, dd, hh, mi, ss, tenths, nn = map(int, match.groups()[:8])
    sign = match.group(9)
    if sign == "R":
        try:
            months = now.month - 1 + mo + 12 * yy
            year, month = now.year + months // 12, months % 12 + 1
            day = min(now.day, _month_days(year, month))
            return now.replace(year=year, month=month, day=day) + timedelta(days=dd, hours=hh, minutes=mi,
                                                                            seconds=ss)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"relative time {text!r} is out of range: {exc}") from None
    if nn > 48:
        raise ValueError(f"{text!r}: UTC offset of {nn} quarter hours is more than 48")
    offset = timedelta(minutes=15 * nn)
    try:
        return datetime(2000 + yy, mo, dd, hh, mi, ss, tenths * 100_000,
                        tzinfo=timezone(-offset if sign == "-" else offset))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid time: {exc}") from None


def _month_days(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def format_time(dt: datetime) -> str:
    """Given an aware datetime in 2000-2099, return its absolute SMPP form
    'YYMMDDhhmmss0nnp' (tenths written as 0) in its own UTC offset, or in UTC
    when that offset is not a whole number of quarter hours within 12 hours.
    Raise ValueError for a naive datetime or a year outside 2000-2099."""
    offset = dt.utcoffset()
    if offset is None:
        raise ValueError("format_time needs an aware datetime")
    quarters, rest = divmod(int(offset.total_seconds()), 900)
    if rest or not -48 <= quarters <= 48:
        dt, quarters = dt.astimezone(timezone.utc), 0
    if not 2000 <= dt.year <= 2099:
        raise ValueError(f"year {dt.year} cannot be written as YY (2000-2099)")
    return dt.strftime("%y%m%d%H%M%S") + f"0{abs(quarters):02d}{'-' if quarters < 0 else '+'}"


# --- delivery receipts (SMPP 3.4 appendix B) -------------------------------------------------------

_RECEIPT_KEYS = re.compile(r"(?:^|(?<=\s))(id|sub|dlvrd|submit[ _]date|done[ _]date|stat|err|text)\s*:", re.I)


def receipt_text(message_id: str, *, submitted: int, delivered: int, submit_date: datetime, done_date: datetime,
                 stat: str, err: int, text: str) -> str:
    """Return the short_message text of a delivery receipt in the format of SMPP 3.4
    appendix B: 'id:IIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
    stat:DDDDDDD err:E text:...' with at most 20 characters of the original text.
    Dates are written in their own time zone."""
    return (f"id:{message_id} sub:{submitted:03d} dlvrd:{delivered:03d}"
            f" submit date:{submit_date.strftime('%y%m%d%H%M')} done date:{done_date.strftime('%y%m%d%H%M')}"
            f" stat:{stat} err:{err:03d} text:{text[:20]}")


def parse_receipt(text: str) -> dict[str, str]:
    """Given a delivery receipt text, return its fields by lower-case name ('id',
    'sub', 'dlvrd', 'submit date', 'done date', 'stat', 'err', 'text'), values
    stripped. Keys are matched in any case, 'submit_date' is read as 'submit date',
    and 'text' takes everything after it. Fields that are absent are left out."""
    out: dict[str, str] = {}
    matches = list(_RECEIPT_KEYS.finditer(text))
    for i, match in enumerate(matches):
        key = match.group(1).lower().replace("_", " ")
        if key in out:
            continue
        if key == "text":
            out[key] = text[match.end():].strip()
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        out[key] = text[match.end():end].strip()
    return out
