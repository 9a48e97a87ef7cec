"""The SOMP HTTP wire format, pure: parameters, content decoding, the MD5
password and per-recipient batches (the replies are :mod:`agent.api.somp_replies`).

Nothing here touches the core, the store or a socket; :mod:`agent.api.somp`
feeds it the raw parameter bytes of a request.  Every refusal is an
:class:`~agent.errors.Refused` carrying the dialect's code as its ``reason``
(and HTTP status 200: every SOMP reply is).

Decisions where the seed is silent:

* Integer parameters (``tf``, ``dc``, ``rd``, ``pr``, ``ex``, ``fs``...) are
  ASCII decimal with an optional sign, blanks around them ignored; absent
  or empty is the seed's default 0.  A malformed ``rd``/``pr``/``ex`` or
  ``sa`` is 9002 (the request is not understood: the seed has no code per
  parameter); ``tf`` outside 0..3 and ``dc`` other than 0, 8, 15 are 9025.
* ``sm`` undoing ``tf``: hex (either case, even length) and Base64 (padding
  optional; a blank is read back as the ``+`` an unencoded query string
  turned into it) that do not decode are 9012; bytes not valid in the
  charset ``dc`` names (0 ASCII, 8 UTF-16BE of even length without lone
  surrogates, 15 GBK read as its superset GB18030; ``tf=3`` always UTF-8)
  are 9025; an empty text is 9012.
* Recipients: ``;`` (``,`` tolerated) separated, blanks trimmed, empty items
  dropped, each ``+``? and 3 to 20 ASCII digits (9013), at most 100 given
  (9030), at least one (9031); a repeated number is sent once.
* Batch: ``da`` absent or blank means a per-recipient batch with the
  separator ``|``; a ``da`` of 1 to 4 printable ASCII characters without a
  digit, a blank or ``#`` is the custom separator.  Items are
  ``phone#content``, ``phone##content`` or ``phone#ex#content`` (an ``ex``
  is digits: a content that itself starts with digits and ``#`` needs the
  explicit ``phone##`` form); an item without ``ex`` takes the ``ex``
  parameter.  With ``dc=8`` (and ``tf`` not 3) the seed's example mixes ASCII
  numbers and separators with UTF-16BE content bytes, so the bytes are
  split where a separator at an even offset of the content is followed by
  another ``phone#`` (or ends the data); otherwise the whole decodes as
  text first, then splits at every separator.  An item without ``#`` is
  9031, a bad number in one 9013.
* Times ``yyyyMMddHHmmss`` are local time of the box (``tz``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

from ..errors import Refused

# --- codes --------------------------------------------------------------------------------

UNKNOWN_COMMAND = 9002
BAD_CONTENT = 9012
BAD_DESTINATION = 9013
TOO_LONG = 9014
NO_GATEWAY = 9016
BAD_SCHEDULE = 9017
BAD_VALIDITY = 9018
BAD_CODING = 9025
TOO_MANY_DESTINATIONS = 9030
TOO_FEW_DESTINATIONS = 9031
TOO_FAST = 9032
AUTH_FAILED = 9101
NO_USER = 9102
USER_NOT_FOUND = 9103
IP_REFUSED = 9104
EXPIRED = 9408
CANNOT_QUEUE = 9502

MAX_RECIPIENTS = 100
MAX_ORIGINATOR = 16  # the originator column's width
DEFAULT_SEPARATOR = "|"
TIME_FORMAT = "%Y%m%d%H%M%S"

_INT = re.compile(rb"[+-]?[0-9]{1,19}")
_HEX = re.compile(rb"(?:[0-9A-Fa-f]{2})*")
_B64 = re.compile(rb"[A-Za-z0-9+/]*={0,3}")
_TIME = re.compile(r"[0-9]{14}")
_NUMBER = re.compile(r"\+?[0-9]{3,20}")
_EX = re.compile(r"-?[0-9]{1,19}")
_ORIGINATOR = re.compile(r"[0-9A-Za-z]{0,%d}" % MAX_ORIGINATOR)
_SEPARATOR = re.compile(r"[!-~]{1,4}")
_PREFIX = re.compile(rb"[ \t\r\n]*(\+?[0-9]{3,20})#(?:(-?[0-9]{1,40})?#)?")
_CHARSETS = {0: "ascii", 8: "utf-16-be", 15: "gb18030"}


@dataclass(frozen=True)
class Item:
    """One message of a request: recipient, its ``ex`` ('' none) and text."""

    phone: str
    ex: str
    text: str


# --- parameters ---------------------------------------------------------------------------

def text(raw: bytes | None) -> str:
    """A parameter as text: UTF-8, undecodable bytes replaced (they then match nothing)."""
    return (raw or b"").decode("utf-8", "replace")


def integer(raw: bytes | None, *, low: int, high: int, code: int, name: str, default: int = 0) -> int:
    """An integer parameter (absent or blank: ``default``); Refused(code) when
    malformed or outside ``low..high``."""
    value = (raw or b"").strip()
    if not value:
        return default
    if not _INT.fullmatch(value) or not low <= int(value) <= high:
        raise Refused(200, code, f"{name} must be an integer in {low}..{high}")
    return int(value)


def reply_format(raw: bytes | None) -> int:
    """``rf`` 0 text, 1 XML, 2 JSON; anything else is 0."""
    try:
        return integer(raw, low=0, high=2, code=UNKNOWN_COMMAND, name="rf")
    except Refused:
        return 0


def external_id(raw: bytes | None) -> str:
    """``ex`` (a Java long) as its canonical decimal text, '' when absent; 9002 when malformed."""
    value = text(raw).strip()
    if not value:
        return ""
    if not _EX.fullmatch(value) or not -2**63 <= int(value) < 2**63:
        raise Refused(200, UNKNOWN_COMMAND, "ex must be a long")
    return str(int(value))


def originator(raw: bytes | None) -> str:
    """``sa``, the extension: at most 16 ASCII letters or digits; 9002 otherwise."""
    value = text(raw).strip()
    if not _ORIGINATOR.fullmatch(value):
        raise Refused(200, UNKNOWN_COMMAND, f"sa must be at most {MAX_ORIGINATOR} ASCII letters or digits")
    return value


def local_time(raw: bytes | None, tz: tzinfo | None, code: int, name: str) -> datetime | None:
    """A ``yyyyMMddHHmmss`` parameter as an aware datetime in ``tz`` (None: system
    local time); None when absent or blank; Refused(code) when malformed."""
    value = text(raw).strip()
    if not value:
        return None
    try:
        if not _TIME.fullmatch(value):
            raise ValueError(value)
        naive = datetime.strptime(value, TIME_FORMAT)
    except ValueError:
        raise Refused(200, code, f"{name} must be yyyyMMddHHmmss") from None
    return naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()


# --- content --------------------------------------------------------------------------------

def undo_transfer(raw: bytes | None, tf: int) -> bytes:
    """The content bytes of ``sm`` (the parameter already URL-decoded) per ``tf``:
    0 hex, 1 Base64, 2 and 3 the bytes themselves.  9012 when it does not decode."""
    value = raw or b""
    if tf == 0:
        value = value.strip()
        if not _HEX.fullmatch(value):
            raise Refused(200, BAD_CONTENT, "sm is not hex")
        return bytes.fromhex(value.decode("ascii"))
    if tf == 1:
        value = value.replace(b" ", b"+").strip().rstrip(b"=")
        value += b"=" * (-len(value) % 4)
        if not _B64.fullmatch(value):
            raise Refused(200, BAD_CONTENT, "sm is not Base64")
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise Refused(200, BAD_CONTENT, "sm is not Base64") from None
    return value


def charset(tf: int, dc: int) -> str:
    """The charset of the content bytes: UTF-8 with ``tf=3``, else the one ``dc`` names.
    9025 for a ``dc`` other than 0, 8, 15."""
    if dc not in _CHARSETS:
        raise Refused(200, BAD_CODING, f"dc {dc} is not 0, 8 or 15")
    return "utf-8" if tf == 3 else _CHARSETS[dc]


def decode(data: bytes, encoding: str) -> str:
    """Bytes as text in ``encoding`` (strict); 9025 when they are not."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise Refused(200, BAD_CODING, f"content is not valid {encoding}") from None


def recipients(da: str) -> list[str]:
    """The numbers of a ``da`` list, first occurrences in order (see the module doc)."""
    given = [item.strip() for item in re.split(r"[;,]", da)]
    given = [item for item in given if item]
    if len(given) > MAX_RECIPIENTS:
        raise Refused(200, TOO_MANY_DESTINATIONS, f"{len(given)} numbers, at most {MAX_RECIPIENTS}")
    if not given:
        raise Refused(200, TOO_FEW_DESTINATIONS, "no number in da")
    for number in given:
        if not _NUMBER.fullmatch(number):
            raise Refused(200, BAD_DESTINATION, f"bad number {number[:40]!r}")
    return list(dict.fromkeys(given))


def batch_separator(da: str | None) -> str | None:
    """The separator of a per-recipient batch (``da`` absent or blank: ``|``), or
    None when ``da`` is a list of numbers."""
    if da is None or not da.strip():
        return DEFAULT_SEPARATOR
    if _SEPARATOR.fullmatch(da) and "#" not in da and not any(c.isdigit() for c in da):
        return da
    return None


def batch(data: bytes, encoding: str, separator: str, default_ex: str) -> list[Item]:
    """The items of a per-recipient batch, given the content bytes, their charset
    and the separator (see the module doc for the rules and the codes)."""
    raw_items: list[tuple[str, str, str | bytes]]
    if encoding == "utf-16-be":
        raw_items = list(_split_ucs2(data, separator.encode("ascii")))
    else:
        raw_items = [_split_item(piece) for piece in decode(data, encoding).split(separator) if piece.strip()]
    if len(raw_items) > MAX_RECIPIENTS:
        raise Refused(200, TOO_MANY_DESTINATIONS, f"{len(raw_items)} items, at most {MAX_RECIPIENTS}")
    if not raw_items:
        raise Refused(200, TOO_FEW_DESTINATIONS, "no item in the batch")
    items = []
    for phone, ex, content in raw_items:
        if not _NUMBER.fullmatch(phone):
            raise Refused(200, BAD_DESTINATION, f"bad number {phone[:40]!r}")
        if ex and (not _EX.fullmatch(ex) or not -2**63 <= int(ex) < 2**63):
            raise Refused(200, UNKNOWN_COMMAND, "an item's ex must be a long")
        body = content if isinstance(content, str) else decode(content, encoding)
        items.append(Item(phone, str(int(ex)) if ex else default_ex, body))
    return items


def _split_item(piece: str) -> tuple[str, str, str]:
    phone, hash_, rest = piece.partition("#")
    if not hash_:
        raise Refused(200, TOO_FEW_DESTINATIONS, f"batch item without 'phone#': {piece[:40]!r}")
    match = re.match(r"(-?[0-9]+)?#", rest)
    if match:
        return phone.strip(), match.group(1) or "", rest[match.end():]
    return phone.strip(), "", rest


def _split_ucs2(data: bytes, sep: bytes) -> list[tuple[str, str, bytes]]:
    out: list[tuple[str, str, bytes]] = []
    pos = 0
    while pos < len(data) and data[pos:].strip(b" \t\r\n"):
        match = _PREFIX.match(data, pos)
        if not match:
            head = data[pos:pos + 40]
            raise Refused(200, BAD_DESTINATION if b"#" in data[pos:] else TOO_FEW_DESTINATIONS,
                          f"batch item without a valid 'phone#': {head!r}")
        start, end, following = match.end(), len(data), len(data)
        at = data.find(sep, start)
        while at >= 0:
            after = at + len(sep)
            if (at - start) % 2 == 0 and (after == len(data) or _PREFIX.match(data, after)):
                end, following = at, after
                break
            at = data.find(sep, at + 1)
        out.append((match.group(1).decode("ascii"), (match.group(2) or b"").decode("ascii"), data[start:end]))
        pos = following
    return out


# --- the MD5 password -----------------------------------------------------------------------

def digest_password(username: str, password: str, timestamp: str, content: bytes | None) -> str:
    """``Base64(MD5(un + pw + ts + content))``, the three strings as UTF-8 and the
    content as its raw bytes (after undoing ``tf``; left out when absent)."""
    md5 = hashlib.md5()
    for part in (username, password, timestamp):
        md5.update(part.encode("utf-8"))
    if content is not None:
        md5.update(content)
    return base64.b64encode(md5.digest()).decode("ascii")


def same(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets (text, compared as UTF-8)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))
