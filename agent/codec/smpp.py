"""The SMPP 3.4 wire format, as an SMSC speaks it: decoding the PDUs an ESME sends
(and, for tests and clients, the ones an SMSC sends) and encoding any of them.

A PDU is a 16-octet header (command_length, command_id, command_status,
sequence_number, all big-endian) and a body: the mandatory parameters of the
command in their fixed order, then optional TLVs (tag, length, value).
:func:`decode` reads one whole PDU into a :class:`Pdu`; :func:`encode` builds one.

Decoding policy:

* command_length below 16, above :data:`MAX_PDU` or not the frame's length,
  and an unknown command_id, are refused with ``nack=True`` (answer generic_nack);
* everything else wrong is refused with ``nack=False`` and the status the
  command's own response should carry: a truncated mandatory part (the body
  ends inside a parameter, or a C-octet string has no NUL before the end) is
  ESME_RINVCMDLEN; a C-octet string longer than its SMPP 3.4 maximum takes the
  status of that parameter (ESME_RINVSYSID, ESME_RINVPASWD, ESME_RINVSRCADR,
  ESME_RINVDSTADR, ESME_RINVSERTYP, ESME_RINVSCHED, ESME_RINVEXPIRY,
  ESME_RINVMSGID...), else ESME_RINVPARLEN; sm_length above 254 or past the
  body is ESME_RINVMSGLEN; a truncated TLV stream is ESME_RINVOPTPARSTREAM; a
  known fixed-size TLV of another size is ESME_RINVPARLEN;
* a response whose body is empty is taken (peers omit the body of a refusal,
  and some of deliver_sm_resp): its fields get their defaults (0 / '');
* TLVs are kept in arrival order, unknown tags too; a repeated tag keeps the
  last value. Which TLVs a command may carry is left to the caller;
* C-octet strings are decoded as Latin-1 so any octet survives.

The text helpers (data_coding, time format, receipts) live in
:mod:`agent.codec.smpp_text` and are re-exported here.

Why a module of our own: the server needs every refusal mapped to the status
its response must carry, and any bytes refused without an exception of another
kind (the fuzzers hold it to that).  smpplib's PDU classes belong to its client
(built with the client object, read from its socket; no server side);
smpp.pdu3, a pure PDU layer, had its last release in January 2021 and its
original is Python 2 only; smpp.twisted needs a Twisted reactor beside the
agent's threads.  This module is table-tested against PDUs smpplib 2.2.4 makes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.codec.smpp_text import (  # noqa: F401  (re-exported)
    CodingError,
    decode_text,
    encode_text,
    format_time,
    parse_receipt,
    parse_time,
    receipt_text,
)
from agent.codec.smpp_tables import *  # noqa: F401,F403  (command ids, statuses, TLV tags, message states)
from agent.codec.smpp_tables import (
    BODY_OMITTED_ON_ERROR,
    FIELD_STATUS,
    GENERIC_NACK,
    LAYOUTS,
    NAMES,
    RESP_BIT,
    TLV_CSTRINGS,
    TLV_WIDTHS,
    ESME_RINVCMDID,
    ESME_RINVCMDLEN,
    ESME_RINVMSGLEN,
    ESME_RINVOPTPARSTREAM,
    ESME_RINVPARLEN,
)
from agent.codec.tpdu_fields import Concat, _interpret_udh, _split_udh, concat_header
from agent.errors import EncodeError
from agent.errors import PduError as _TpduError

HEADER_SIZE = 16
MAX_PDU = 65536
MAX_SM_LENGTH = 254

_HEADER = struct.Struct(">IIII")


class PduError(_TpduError):
    """A PDU that cannot be taken. ``status`` is the SMPP status to answer with,
    ``command_id`` and ``sequence`` identify the PDU (0 when unknown),
    ``message`` says what is wrong in plain words, and ``nack`` is True when the
    answer is a generic_nack, False when it is the command's own response."""

    def __init__(self, status: int, message: str, *, command_id: int = 0, sequence: int = 0,
                 nack: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.command_id = command_id
        self.sequence = sequence
        self.message = message
        self.nack = nack


@dataclass
class Pdu:
    """A decoded PDU: header values, mandatory parameters by their SMPP 3.4 names
    (C-octet strings as str, short_message as bytes, submit_multi's
    'dest_addresses' and submit_multi_resp's 'unsuccess_smes' as lists of dicts)
    and every TLV as raw bytes by tag, in arrival order."""

    command_id: int
    status: int
    sequence: int
    fields: dict[str, Any] = field(default_factory=dict)
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The command's SMPP name ('submit_sm', 'deliver_sm_resp'...) or 'unknown'."""
        return NAMES.get(self.command_id, "unknown")

    def tlv_int(self, tag: int) -> int | None:
        """Return the TLV ``tag`` as an unsigned big-endian int (1, 2 or 4 octets),
        None when absent. Raise PduError (ESME_RINVPARLEN) for another size."""
        value = self.tlvs.get(tag)
        if value is None:
            return None
        if len(value) not in (1, 2, 4):
            raise PduError(ESME_RINVPARLEN, f"TLV 0x{tag:04X} has {len(value)} octets, not an integer",
                           command_id=self.command_id, sequence=self.sequence)
        return int.from_bytes(value, "big")

    def tlv_str(self, tag: int) -> str | None:
        """Return the TLV ``tag`` as a str (Latin-1, the trailing NULs stripped),
        None when absent."""
        value = self.tlvs.get(tag)
        return None if value is None else value.rstrip(b"\x00").decode("latin-1")


def command_length(header: bytes) -> int:
    """Given at least the first 4 octets of a PDU, return its command_length."""
    return int.from_bytes(header[:4], "big")


# --- decoding --------------------------------------------------------------------------------------


class _Body:
    """A cursor over a PDU body; every failure is a PduError for this PDU."""

    __slots__ = ("buf", "pos", "command_id", "sequence")

    def __init__(self, buf: bytes, command_id: int, sequence: int) -> None:
        self.buf = buf
        self.pos = HEADER_SIZE
        self.command_id = command_id
        self.sequence = sequence

    def fail(self, status: int, message: str) -> PduError:
        return PduError(status, f"{NAMES[self.command_id]}: {message}", command_id=self.command_id,
                        sequence=self.sequence)

    def u8(self, name: str) -> int:
        if self.pos >= len(self.buf):
            raise self.fail(ESME_RINVCMDLEN, f"body ends before {name}")
        self.pos += 1
        return self.buf[self.pos - 1]

    def u32(self, name: str) -> int:
        if self.pos + 4 > len(self.buf):
            raise self.fail(ESME_RINVCMDLEN, f"body ends inside {name}")
        self.pos += 4
        return int.from_bytes(self.buf[self.pos - 4 : self.pos], "big")

    def cstr(self, name: str, maximum: int) -> str:
        end = self.buf.find(b"\x00", self.pos, self.pos + maximum)
        if end < 0:
            if self.pos + maximum > len(self.buf):
                raise self.fail(ESME_RINVCMDLEN, f"body ends inside {name} (no NUL)")
            raise self.fail(FIELD_STATUS.get(name, ESME_RINVPARLEN),
                            f"{name} is longer than {maximum - 1} characters")
        text = self.buf[self.pos : end].decode("latin-1")
        self.pos = end + 1
        return text

    def octets(self, name: str, size: int) -> bytes:
        if self.pos + size > len(self.buf):
            raise self.fail(ESME_RINVMSGLEN, f"{name} of {size} octets runs past the body")
        self.pos += size
        return self.buf[self.pos - size : self.pos]


def decode(frame: bytes) -> Pdu:
    """Given one whole PDU (header included), return it as a :class:`Pdu`.
    Raise PduError (and nothing else) when it cannot be taken; see the module
    docstring for the statuses."""
    try:
        frame = bytes(frame)
    except (TypeError, ValueError) as exc:
        raise PduError(ESME_RINVCMDLEN, f"not a byte string: {exc}", nack=True) from None
    if len(frame) < HEADER_SIZE:
        raise PduError(ESME_RINVCMDLEN, f"{len(frame)} octets are fewer than a header", nack=True)
    length, command_id, status, sequence = _HEADER.unpack_from(frame)
    if length != len(frame) or not HEADER_SIZE <= length <= MAX_PDU:
        raise PduError(ESME_RINVCMDLEN, f"command_length {length} but the PDU has {len(frame)} octets"
                       f" (16..{MAX_PDU})", command_id=command_id, sequence=sequence, nack=True)
    layout = LAYOUTS.get(command_id)
    if layout is None:
        raise PduError(ESME_RINVCMDID, f"unknown command_id 0x{command_id:08X}", command_id=command_id,
                       sequence=sequence, nack=True)
    body = _Body(frame, command_id, sequence)
    if length == HEADER_SIZE and command_id & RESP_BIT:
        fields = _defaults(layout)
    else:
        fields = _read_fields(body, layout)
    return Pdu(command_id, status, sequence, fields, _read_tlvs(body))


def _read_fields(body: _Body, layout: tuple[tuple[str, int], ...]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, size in layout:
        if size > 1:
            fields[name] = body.cstr(name, size)
        elif name == "sm_length":
            sm_length = body.u8(name)
            if sm_length > MAX_SM_LENGTH:
                raise body.fail(ESME_RINVMSGLEN, f"sm_length {sm_length} is above {MAX_SM_LENGTH}")
            fields[name] = sm_length
            fields["short_message"] = body.octets("short_message", sm_length)
        elif name == "dest_addresses":
            fields["number_of_dests"] = count = body.u8("number_of_dests")
            fields[name] = [_read_dest(body) for _ in range(count)]
        elif name == "unsuccess_smes":
            fields["no_unsuccess"] = count = body.u8("no_unsuccess")
            fields[name] = [{"dest_addr_ton": body.u8("dest_addr_ton"), "dest_addr_npi": body.u8("dest_addr_npi"),
                             "destination_addr": body.cstr("destination_addr", 21),
                             "error_status_code": body.u32("error_status_code")} for _ in range(count)]
        else:
            fields[name] = body.u8(name)
    return fields


def _read_dest(body: _Body) -> dict[str, Any]:
    flag = body.u8("dest_flag")
    if flag == 1:
        return {"dest_flag": 1, "dest_addr_ton": body.u8("dest_addr_ton"), "dest_addr_npi": body.u8("dest_addr_npi"),
                "destination_addr": body.cstr("destination_addr", 21)}
    if flag == 2:
        return {"dest_flag": 2, "dl_name": body.cstr("dl_name", 21)}
    raise body.fail(ESME_RINVPARLEN, f"dest_flag {flag} is neither 1 (SME address) nor 2 (distribution list)")


def _defaults(layout: tuple[tuple[str, int], ...]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, size in layout:
        if name == "sm_length":
            fields.update(sm_length=0, short_message=b"")
        elif name == "dest_addresses":
            fields.update(number_of_dests=0, dest_addresses=[])
        elif name == "unsuccess_smes":
            fields.update(no_unsuccess=0, unsuccess_smes=[])
        else:
            fields[name] = "" if size > 1 else 0
    return fields


def _read_tlvs(body: _Body) -> dict[int, bytes]:
    tlvs: dict[int, bytes] = {}
    buf, pos, end = body.buf, body.pos, len(body.buf)
    while pos < end:
        if pos + 4 > end:
            raise body.fail(ESME_RINVOPTPARSTREAM, f"{end - pos} octets left where a TLV header needs 4")
        tag, size = struct.unpack_from(">HH", buf, pos)
        pos += 4
        if pos + size > end:
            raise body.fail(ESME_RINVOPTPARSTREAM, f"TLV 0x{tag:04X} of {size} octets runs past the body")
        width = TLV_WIDTHS.get(tag)
        if width is not None and size != width:
            raise body.fail(ESME_RINVPARLEN, f"TLV 0x{tag:04X} has {size} octets, not {width}")
        tlvs[tag] = buf[pos : pos + size]
        pos += size
    return tlvs


# --- encoding --------------------------------------------------------------------------------------


def tlv_u8(value: int) -> bytes:
    """Return ``value`` as a 1-octet TLV value."""
    return _uint(value, 1)


def tlv_u16(value: int) -> bytes:
    """Return ``value`` as a 2-octet big-endian TLV value."""
    return _uint(value, 2)


def tlv_u32(value: int) -> bytes:
    """Return ``value`` as a 4-octet big-endian TLV value."""
    return _uint(value, 4)


def tlv_cstr(text: str) -> bytes:
    """Return ``text`` as a C-octet string TLV value (Latin-1, NUL-terminated)."""
    return _latin1(text, "TLV string") + b"\x00"


def _uint(value: int, width: int) -> bytes:
    try:
        return int(value).to_bytes(width, "big")
    except (OverflowError, TypeError, ValueError):
        raise EncodeError(f"{value!r} does not fit {width} unsigned octet(s)") from None


def _latin1(text: str | bytes, name: str) -> bytes:
    if isinstance(text, (bytes, bytearray)):
        data = bytes(text)
    else:
        try:
            data = str(text).encode("latin-1")
        except UnicodeEncodeError:
            raise EncodeError(f"{name} {text!r} is not Latin-1") from None
    if b"\x00" in data:
        raise EncodeError(f"{name} contains a NUL")
    return data


def encode(command_id: int, sequence: int, *, status: int = 0, fields: Mapping[str, Any] | None = None,
           tlvs: Mapping[int, bytes | int | str] | Sequence[tuple[int, bytes]] | None = None,
           strict: bool = True) -> bytes:
    """Return the octets of a PDU: any command of SMPP 3.4 (requests and responses),
    with ``fields`` by their SMPP names (missing ones are 0 / ''; sm_length,
    number_of_dests and no_unsuccess are counted) and ``tlvs`` as (tag, bytes)
    pairs or a mapping whose values are bytes, ints (known tags only: sized by
    the tag) or str (C-octet string for the string tags, Latin-1 octets else).
    submit_sm_resp, data_sm_resp, query_sm_resp and bind_*_resp with a non-zero
    status are header only unless TLVs are given. With ``strict`` (the default) a
    C-octet string over its maximum is an EncodeError; ``strict=False`` writes it
    anyway and takes an explicit 'sm_length' as given (for tests of a peer).
    Raise EncodeError for an unknown command or a value that does not fit."""
    layout = LAYOUTS.get(command_id)
    if layout is None:
        raise EncodeError(f"unknown command_id 0x{command_id:08X}")
    fields = fields or {}
    tlv_octets = _encode_tlvs(tlvs)
    if status and command_id in BODY_OMITTED_ON_ERROR and not tlv_octets:
        body = b""
    else:
        body = b"".join(_encode_field(name, size, fields, strict) for name, size in layout) + tlv_octets
    length = HEADER_SIZE + len(body)
    if length > MAX_PDU:
        raise EncodeError(f"PDU of {length} octets is longer than {MAX_PDU}")
    return _HEADER.pack(length, command_id, status, sequence) + body


def _encode_field(name: str, size: int, fields: Mapping[str, Any], strict: bool) -> bytes:
    if size > 1:
        data = _latin1(fields.get(name, ""), name)
        if strict and len(data) >= size:
            raise EncodeError(f"{name} is longer than {size - 1} characters")
        return data + b"\x00"
    if name == "sm_length":
        message = fields.get("short_message", b"")
        try:
            message = message.encode("latin-1") if isinstance(message, str) else bytes(message)
        except (UnicodeEncodeError, TypeError, ValueError):
            raise EncodeError("short_message must be bytes (or a Latin-1 str)") from None
        sm_length = len(message) if strict or "sm_length" not in fields else fields["sm_length"]
        if strict and sm_length > MAX_SM_LENGTH:
            raise EncodeError(f"short_message of {sm_length} octets is longer than {MAX_SM_LENGTH}")
        return _uint(sm_length, 1) + message
    if name == "dest_addresses":
        dests = list(fields.get(name, ()))
        out = [_uint(len(dests), 1)]
        for dest in dests:
            if dest.get("dest_flag", 1) == 2:
                out.append(b"\x02" + _encode_field("dl_name", 21, dest, strict))
            else:
                out.append(b"\x01" + b"".join(_encode_field(n, s, dest, strict) for n, s in _SME_ADDRESS))
        return b"".join(out)
    if name == "unsuccess_smes":
        smes = list(fields.get(name, ()))
        return _uint(len(smes), 1) + b"".join(
            b"".join(_encode_field(n, s, sme, strict) for n, s in _SME_ADDRESS)
            + _uint(sme.get("error_status_code", 0), 4) for sme in smes)
    return _uint(fields.get(name, 0), 1)


_SME_ADDRESS = (("dest_addr_ton", 1), ("dest_addr_npi", 1), ("destination_addr", 21))


def _encode_tlvs(tlvs: Mapping[int, bytes | int | str] | Sequence[tuple[int, bytes]] | None) -> bytes:
    if not tlvs:
        return b""
    items = tlvs.items() if isinstance(tlvs, Mapping) else tlvs
    out = []
    for tag, value in items:
        if isinstance(value, int):
            width = TLV_WIDTHS.get(tag)
            if not width:
                raise EncodeError(f"TLV 0x{tag:04X} has no known width: give its value as bytes")
            value = _uint(value, width)
        elif isinstance(value, str):
            value = tlv_cstr(value) if tag in TLV_CSTRINGS else _latin1(value, f"TLV 0x{tag:04X}")
        value = bytes(value)
        out.append(_uint(tag, 2) + _uint(len(value), 2) + value)
    return b"".join(out)


def generic_nack(sequence: int, status: int) -> bytes:
    """Return a generic_nack PDU (header only) for ``sequence`` with ``status``."""
    return _HEADER.pack(HEADER_SIZE, GENERIC_NACK, status, sequence)


# --- user data header ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Udh:
    """The concatenation information element of a user data header: reference,
    part count, 1-based part number, and the reference size (8 or 16 bits)."""

    ref: int
    total: int
    seq: int
    ref_bits: int = 8


def split_udh(short_message: bytes) -> tuple[Udh | None, bytes]:
    """Given a short_message (or message_payload) whose esm_class has UDHI set,
    return (the concatenation IE, 8-bit (0x00) or 16-bit (0x08) reference, or
    None; the octets after the header). Other IEs are dropped; a concatenation IE
    with a part number outside 1..total counts as none.
    Raise PduError (ESME_RINVMSGLEN) when the message is empty or UDHL overruns it."""
    if not short_message:
        raise PduError(ESME_RINVMSGLEN, "UDHI set but the message is empty")
    end = 1 + short_message[0]
    if end > len(short_message):
        raise PduError(ESME_RINVMSGLEN, f"UDHL {short_message[0]} runs past the {len(short_message)}-octet message")
    concat = _interpret_udh(_split_udh(bytes(short_message[1:end])))[0]
    udh = None if concat is None else Udh(concat.ref, concat.total, concat.seq, concat.ref_bits)
    return udh, bytes(short_message[end:])


def udh_bytes(udh: Udh) -> bytes:
    """Return the user data header (UDHL included) carrying ``udh``.
    Raise EncodeError when a value is out of range."""
    return concat_header(Concat(udh.ref, udh.total, udh.seq, udh.ref_bits))
