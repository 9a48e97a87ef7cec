"""The GSM 7-bit default alphabet of 3GPP TS 23.038: characters <-> septets, and
septet packing (23.038 6.1.2.1.1).

Encoding uses the default alphabet and its extension table only (an extension
character costs two septets: 0x1B then its code). Decoding also understands the
national language locking/single shift tables of :mod:`agent.codec.gsm7_tables`.

Decoding rules (23.038 6.2.1.1 and annex A):

* an escape followed by a septet that the active single shift table does not
  define shows the character of the active locking table for that septet;
* 0x1B 0x1B (reserved for a further extension table) shows a space;
* a dangling escape as the very last septet shows a space, as 23.038 says of
  an escape a receiver cannot interpret;
* an unknown or table-less language identifier falls back to the default
  table of that kind (Spanish has no locking shift table).

Packing leaves unused trailing bits zero: in SMS the user data length says
where the text ends, so the <CR> padding of 6.1.2.3.1 is not needed.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.codec.gsm7_tables import (
    DEFAULT,
    DEFAULT_EXTENSION,
    ESC,
    LOCKING_TABLES,
    SINGLE_SHIFT_TABLES,
)
from agent.errors import EncodeError, PduError

# char -> the septets that encode it, as bytes, so that a whole text encodes with
# one C-level join instead of a Python loop.
_ENCODE: dict[str, bytes] = {c: bytes((i,)) for i, c in enumerate(DEFAULT) if i != ESC}
_ENCODE.update({c: bytes((ESC, code)) for code, c in DEFAULT_EXTENSION.items()})

# str.translate table deleting every encodable character: what remains does not fit.
_DELETE_ENCODABLE = {ord(c): None for c in _ENCODE}

# Characters that take two septets (escape + code).
EXTENSION_CHARS = frozenset(DEFAULT_EXTENSION.values())

# Masks for packing 8 septets (one per octet of a 64-bit little-endian word) into
# 56 bits in three halving steps, instead of eight shifts per group.
_PAIRS = (0x007F007F007F007F, 0x7F007F007F007F00, 1)
_QUADS = (0x00003FFF00003FFF, 0x3FFF00003FFF0000, 2)
_OCTETS = (0x000000000FFFFFFF, 0x0FFFFFFF00000000, 4)


def can_encode(text: str) -> bool:
    """Given a text, return True when every character is in the default alphabet
    or its extension table, i.e. when it can be sent as GSM 7-bit."""
    return not text.translate(_DELETE_ENCODABLE)


def encode_bytes(text: str) -> bytes:
    """Given a text, return its septets as a bytes object (one septet per octet,
    extension characters as 0x1B + code). Raise EncodeError naming the first
    character that is not in the default alphabet or its extension."""
    try:
        return b"".join(map(_ENCODE.__getitem__, text))
    except KeyError as exc:
        char = exc.args[0]
        raise EncodeError(
            f"character {char!r} (U+{ord(char):04X}) is not in the GSM 7-bit alphabet"
        ) from None


def encode(text: str) -> list[int]:
    """Given a text, return its septets including 0x1B escapes.
    Raise EncodeError when a character does not fit (see :func:`encode_bytes`)."""
    return list(encode_bytes(text))


def septet_count(text: str) -> int:
    """Given a text, return the number of septets it takes (extension characters
    count twice). Raise EncodeError when a character does not fit."""
    if not can_encode(text):
        encode_bytes(text)  # raises with the offending character named
    return len(text) + sum(map(EXTENSION_CHARS.__contains__, text))


def decode(septets: Iterable[int], *, locking: int = 0, single: int = 0) -> str:
    """Given septet values (0..127) and the national language identifiers of the
    locking and single shift tables (0 default, 1 Turkish, 2 Spanish,
    3 Portuguese), return the text. Raise PduError when a value is not a septet.
    See the module docstring for escapes and unknown languages."""
    try:
        data = septets if isinstance(septets, bytes) else bytes(septets)
    except (TypeError, ValueError) as exc:
        raise PduError(f"not a septet sequence: {exc}") from None
    if data and max(data) > 0x7F:
        raise PduError("septet value above 0x7F")
    table = LOCKING_TABLES.get(locking, DEFAULT)
    if ESC not in data:
        return "".join(map(table.__getitem__, data))
    extension = SINGLE_SHIFT_TABLES.get(single, DEFAULT_EXTENSION)
    out = []
    escaped = False
    for septet in data:
        if escaped:
            escaped = False
            char = extension.get(septet)
            if char is None:
                char = " " if septet == ESC else table[septet]
            out.append(char)
        elif septet == ESC:
            escaped = True
        else:
            out.append(table[septet])
    if escaped:
        out.append(" ")
    return "".join(out)


def pack(septets: Iterable[int], fill_bits: int = 0) -> bytes:
    """Given septet values and a number of leading fill bits (0..6, used to
    align text on a septet boundary after a user data header), return the
    packed octets: ceil((7 * count + fill_bits) / 8) of them.
    Raise EncodeError when a value is not a septet or fill_bits is out of range."""
    try:
        data = bytes(septets)
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"not a septet sequence: {exc}") from None
    if data and max(data) > 0x7F:
        raise EncodeError("septet value above 0x7F")
    if not 0 <= fill_bits <= 6:
        raise EncodeError(f"fill bits must be 0..6, not {fill_bits}")
    count = len(data)
    data += bytes(-count % 8)
    packed = bytearray()
    for i in range(0, len(data), 8):
        word = int.from_bytes(data[i : i + 8], "little")
        for low, high, shift in (_PAIRS, _QUADS, _OCTETS):
            word = (word & low) | ((word & high) >> shift)
        packed += word.to_bytes(7, "little")
    size = (7 * count + fill_bits + 7) // 8
    if fill_bits:
        return (int.from_bytes(packed, "little") << fill_bits).to_bytes(size, "little")
    return bytes(packed[:size])


def unpack(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """Given packed octets, the number of septets to read and the number of fill
    bits to skip first, return the septet values.
    Raise PduError when data holds fewer than count septets after the fill bits."""
    if not 0 <= fill_bits <= 6:
        raise PduError(f"fill bits must be 0..6, not {fill_bits}")
    if count <= 0:
        return []
    needed = (7 * count + fill_bits + 7) // 8
    if len(data) < needed:
        raise PduError(f"user data truncated: {count} septets need {needed} octets, got {len(data)}")
    if fill_bits:
        data = (int.from_bytes(data[:needed], "little") >> fill_bits).to_bytes(needed, "little")
    septets: list[int] = []
    extend = septets.extend
    for i in range(0, needed, 7):
        w = int.from_bytes(data[i : i + 7], "little")
        extend((w & 127, w >> 7 & 127, w >> 14 & 127, w >> 21 & 127,
                w >> 28 & 127, w >> 35 & 127, w >> 42 & 127, w >> 49 & 127))
    del septets[count:]
    return septets
