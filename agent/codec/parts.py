"""Long messages: splitting a text into concatenated SMS parts and encoding the
parts (3GPP TS 23.040 9.2.3.24.1).  Received parts are reassembled by the
store, durably (:mod:`agent.store.inbox`).

Part sizes. A text that fits one SMS (160 GSM 7-bit septets, 70 UCS-2 code
units or 140 octets of 8-bit data) is sent as one part without a header.
Otherwise every part carries a concatenation header (6 octets with an 8-bit
reference, 7 with a 16-bit one), leaving 153/152 septets, 67/66 UCS-2 units or
134/133 octets. An escape pair (GSM 7-bit extension character) and a UTF-16
surrogate pair (emoji) never straddle two parts. Parts are cut by size only,
not at word boundaries, so that the receiver's join gives back the exact text.
"""

from __future__ import annotations

from datetime import datetime

from agent.codec import gsm7
from agent.codec.pdu import Concat, EncodedPdu, encode_deliver, encode_submit
from agent.errors import EncodeError, TooManyParts

# encoding -> (capacity of a lone SMS, capacity of a part with an 8-bit / 16-bit reference)
_CAPACITY = {"gsm7": (160, 153, 152), "ucs2": (70, 67, 66), "8bit": (140, 134, 133)}
_MAX_TOTAL = 255  # the part count is one octet


def choose_encoding(text: str) -> str:
    """Given a text, return 'gsm7' when every character fits the GSM 7-bit
    default alphabet or its extension table, else 'ucs2'."""
    return "gsm7" if gsm7.can_encode(text) else "ucs2"


def split(text: str, *, encoding: str | None = None, max_parts: int = 10, ref_bits: int = 8) -> list[str]:
    """Given a text and its encoding (None: :func:`choose_encoding`), return the
    texts of its parts: one element when it fits a single SMS. ``ref_bits`` is
    the concatenation reference size the parts will carry (8 or 16).
    Raise TooManyParts when more than ``max_parts`` (at most 255) parts are
    needed, EncodeError when the text does not fit the encoding."""
    encoding = encoding or choose_encoding(text)
    if encoding not in _CAPACITY or ref_bits not in (8, 16):
        raise EncodeError(f"cannot split for encoding {encoding!r} with {ref_bits}-bit references")
    single, part8, part16 = _CAPACITY[encoding]
    cost = _costs(text, encoding)
    if (len(text) if cost is None else sum(cost)) <= single:
        return [text]
    capacity = part8 if ref_bits == 8 else part16
    if cost is None:
        parts = [text[i : i + capacity] for i in range(0, len(text), capacity)]
    else:
        parts = _cut(text, cost, capacity)
    maximum = min(max_parts, _MAX_TOTAL)
    if len(parts) > maximum:
        raise TooManyParts(len(parts), maximum)
    return parts


def _costs(text: str, encoding: str) -> list[int] | None:
    """Return the size of each character in the encoding's units, or None when
    every character costs one unit (the common case, cut by plain slicing)."""
    if encoding == "gsm7":
        gsm7.encode_bytes(text)  # raises EncodeError naming a character that does not fit
        if gsm7.EXTENSION_CHARS.isdisjoint(text):
            return None
        return [2 if c in gsm7.EXTENSION_CHARS else 1 for c in text]
    if encoding == "ucs2":
        if text.isascii() or max(text) <= "\uffff":
            return None
        return [2 if c > "\uffff" else 1 for c in text]
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"text cannot be sent as 8-bit: {exc.reason}") from None
    return None


def _cut(text: str, cost: list[int], capacity: int) -> list[str]:
    parts = []
    start = used = 0
    for i, size in enumerate(cost):
        if used + size > capacity:
            parts.append(text[start:i])
            start, used = i, 0
        used += size
    parts.append(text[start:])
    return parts


def _concats(count: int, ref: int, ref_bits: int) -> list[Concat | None]:
    if ref_bits not in (8, 16) or not 0 <= ref < 1 << ref_bits:
        raise EncodeError(f"reference {ref} does not fit {ref_bits} bits")
    if count == 1:
        return [None]
    return [Concat(ref, count, seq, ref_bits) for seq in range(1, count + 1)]


def encode_submits(
    recipient: str,
    text: str,
    *,
    ref: int,
    encoding: str | None = None,
    max_parts: int = 10,
    ref_bits: int = 8,
    srr: bool = False,
    validity_minutes: int | None = 1440,
    flash: bool = False,
    smsc: str | None = None,
) -> list[EncodedPdu]:
    """Given a recipient and a text of any length, return the SMS-SUBMIT PDUs of
    its parts in sequence order, all with concatenation reference ``ref`` when
    there is more than one (TP-MR 0: the modem assigns it).
    Raise TooManyParts beyond ``max_parts``, EncodeError as :func:`encode_submit`."""
    encoding = encoding or choose_encoding(text)
    parts = split(text, encoding=encoding, max_parts=max_parts, ref_bits=ref_bits)
    return [
        encode_submit(recipient, part, encoding=encoding, srr=srr, validity_minutes=validity_minutes,
                      flash=flash, concat=concat, smsc=smsc)
        for part, concat in zip(parts, _concats(len(parts), ref, ref_bits))
    ]


def encode_delivers(
    sender: str,
    text: str,
    *,
    ref: int,
    scts: datetime,
    encoding: str | None = None,
    max_parts: int = 10,
    ref_bits: int = 8,
    smsc: str | None = None,
) -> list[EncodedPdu]:
    """Given a sender, a text of any length and a timestamp, return the
    SMS-DELIVER PDUs of its parts in sequence order (see :func:`encode_submits`).
    Raise TooManyParts beyond ``max_parts``, EncodeError as :func:`encode_deliver`."""
    encoding = encoding or choose_encoding(text)
    parts = split(text, encoding=encoding, max_parts=max_parts, ref_bits=ref_bits)
    return [
        encode_deliver(sender, part, scts=scts, encoding=encoding, concat=concat, smsc=smsc)
        for part, concat in zip(parts, _concats(len(parts), ref, ref_bits))
    ]
