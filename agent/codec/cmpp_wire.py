"""CMPP 2.0 / 3.0 wire pieces: command ids, result codes, the header, fixed-width
octet strings, Msg_Id, the two authenticators, Msg_Content by Msg_Fmt, the
ValId_Time / At_Time format and the UDH of TP_udhi content.

Pure, no I/O.  :mod:`agent.codec.cmpp` builds the PDUs from these and
re-exports every public name here, so callers import only that module.

All integers are big-endian and unsigned.  Strings are fixed-width octet
strings padded with NUL: reading keeps the text before the first NUL (which
drops the padding, and any garbage a C client left after its terminator);
writing pads, and refuses text longer than the field or not ASCII.
"""

from __future__ import annotations

import hashlib
import struct
from datetime import datetime, timedelta, timezone

from agent.codec.tpdu_fields import Concat, _interpret_udh, _split_udh
from agent.errors import CodecError, EncodeError

V2 = 0x20
V3 = 0x30
HEADER_SIZE = 12
MAX_PDU = 4096

CONNECT = 0x00000001
TERMINATE = 0x00000002
SUBMIT = 0x00000004
DELIVER = 0x00000005
QUERY = 0x00000006
CANCEL = 0x00000007
ACTIVE_TEST = 0x00000008
FWD = 0x00000009
_RESP = 0x80000000
CONNECT_RESP = CONNECT | _RESP
TERMINATE_RESP = TERMINATE | _RESP
SUBMIT_RESP = SUBMIT | _RESP
DELIVER_RESP = DELIVER | _RESP
QUERY_RESP = QUERY | _RESP
CANCEL_RESP = CANCEL | _RESP
ACTIVE_TEST_RESP = ACTIVE_TEST | _RESP
FWD_RESP = FWD | _RESP

NAMES: dict[int, str] = {
    CONNECT: "CMPP_CONNECT", TERMINATE: "CMPP_TERMINATE", SUBMIT: "CMPP_SUBMIT", DELIVER: "CMPP_DELIVER",
    QUERY: "CMPP_QUERY", CANCEL: "CMPP_CANCEL", ACTIVE_TEST: "CMPP_ACTIVE_TEST", FWD: "CMPP_FWD",
    0x00000010: "CMPP_MT_ROUTE", 0x00000011: "CMPP_MO_ROUTE", 0x00000012: "CMPP_GET_ROUTE",
    0x00000013: "CMPP_MT_ROUTE_UPDATE", 0x00000014: "CMPP_MO_ROUTE_UPDATE",
    0x00000015: "CMPP_PUSH_MT_ROUTE_UPDATE", 0x00000016: "CMPP_PUSH_MO_ROUTE_UPDATE",
}
NAMES.update({cid | _RESP: name + "_RESP" for cid, name in list(NAMES.items())})

# CONNECT_RESP Status
CONNECT_OK = 0
CONNECT_BAD_STRUCTURE = 1
CONNECT_BAD_SOURCE = 2
CONNECT_AUTH_FAILED = 3
CONNECT_VERSION_TOO_HIGH = 4

# SUBMIT_RESP Result (10..13 exist in CMPP 3.0 only)
SUBMIT_OK = 0
SUBMIT_BAD_STRUCTURE = 1
SUBMIT_BAD_COMMAND = 2
SUBMIT_REPEATED_SEQUENCE = 3
SUBMIT_BAD_LENGTH = 4
SUBMIT_BAD_FEE_CODE = 5
SUBMIT_TOO_LONG = 6
SUBMIT_BAD_SERVICE_ID = 7
SUBMIT_FLOW_CONTROL = 8
SUBMIT_NOT_SERVED = 9
SUBMIT_BAD_SRC_ID = 10
SUBMIT_BAD_MSG_SRC = 11
SUBMIT_BAD_FEE_TERMINAL = 12
SUBMIT_BAD_DEST_V3 = 13

# DELIVER_RESP Result
DELIVER_OK = 0
DELIVER_BAD_STRUCTURE = 1

MAX_CONTENT = 140
MAX_DESTS = 100
REPORT_STATS = ("DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD")


def submit_bad_dest(version: int) -> int:
    """Return the SUBMIT_RESP Result for a bad Dest_terminal_Id: 13 in CMPP 3.0;
    CMPP 2.0 has no such code, so 9 (not served here)."""
    return SUBMIT_BAD_DEST_V3 if is_v3(version) else SUBMIT_NOT_SERVED


class CmppError(CodecError):
    """A PDU that cannot be accepted.  ``result`` is the Status / Result to answer
    with (1, bad structure, unless a more precise code applies), ``command_id``
    and ``sequence`` come from the header (0 when the header itself is unreadable)
    and ``message`` says what is wrong (it never quotes a password)."""

    def __init__(self, message: str, *, result: int = 1, command_id: int = 0, sequence: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.result = result
        self.command_id = command_id
        self.sequence = sequence


class CodingError(CodecError, ValueError):
    """Msg_Content cannot be read or written in the Msg_Fmt asked, or its UDH is broken."""


def is_v3(version: int) -> bool:
    """Return True for V3 and False for V2; raise ValueError for any other version."""
    if version == V3:
        return True
    if version == V2:
        return False
    raise ValueError(f"CMPP version {version:#x} is neither V2 (0x20) nor V3 (0x30)")


def agreed_version(requested: int) -> int | None:
    """Return the version to speak with a client whose CONNECT asks for ``requested``: V2 for
    0x20..0x2F (some CMPP 2.0 clients send 0x21), V3 for 0x30..0x3F, None for anything else
    (answer CONNECT_VERSION_TOO_HIGH above 0x3F, CONNECT_BAD_STRUCTURE below 0x20)."""
    if 0x20 <= requested <= 0x2F:
        return V2
    if 0x30 <= requested <= 0x3F:
        return V3
    return None


# --- header ---------------------------------------------------------------------------------------


def total_length(prefix: bytes) -> int:
    """Return the Total_Length in the first 4 bytes of ``prefix``; raise CmppError when
    fewer than 4 bytes are given or the length is below HEADER_SIZE or above MAX_PDU."""
    if len(prefix) < 4:
        raise CmppError("fewer than 4 bytes for Total_Length")
    (n,) = struct.unpack_from("!L", prefix)
    if not HEADER_SIZE <= n <= MAX_PDU:
        raise CmppError(f"Total_Length {n} outside {HEADER_SIZE}..{MAX_PDU}")
    return n


def header(frame: bytes) -> tuple[int, int, int]:
    """Return (Total_Length, Command_Id, Sequence_Id) from the first 12 bytes of ``frame``;
    raise CmppError when they are missing or Total_Length is outside HEADER_SIZE..MAX_PDU."""
    if len(frame) < HEADER_SIZE:
        raise CmppError(f"{len(frame)} bytes, shorter than a header")
    n = total_length(frame)
    _, command_id, sequence = struct.unpack_from("!LLL", frame)
    return n, command_id, sequence


def frame(command_id: int, sequence: int, body: bytes) -> bytes:
    """Return the PDU of ``body`` with its header; raise EncodeError for a sequence outside
    32 bits or a PDU longer than MAX_PDU."""
    if not 0 <= sequence <= 0xFFFFFFFF:
        raise EncodeError(f"Sequence_Id {sequence} outside 32 bits")
    if HEADER_SIZE + len(body) > MAX_PDU:
        raise EncodeError(f"PDU of {HEADER_SIZE + len(body)} bytes, more than {MAX_PDU}")
    return struct.pack("!LLL", HEADER_SIZE + len(body), command_id, sequence) + body


# --- fields ---------------------------------------------------------------------------------------


class Reader:
    """Reads fields from a PDU body in order; any overrun or unreadable string raises
    CmppError carrying the command, sequence and the result code given for that field."""

    __slots__ = ("buf", "pos", "command_id", "sequence")

    def __init__(self, buf: bytes, command_id: int, sequence: int) -> None:
        self.buf = buf
        self.pos = 0
        self.command_id = command_id
        self.sequence = sequence

    def fail(self, message: str, result: int = 1) -> CmppError:
        """Return (for the caller to raise) the CmppError of this PDU."""
        name = NAMES.get(self.command_id, f"command {self.command_id:#010x}")
        return CmppError(f"{name}: {message}", result=result, command_id=self.command_id, sequence=self.sequence)

    def left(self) -> int:
        """Return how many bytes are still unread."""
        return len(self.buf) - self.pos

    def take(self, n: int, what: str) -> bytes:
        """Return the next ``n`` bytes; raise CmppError (bad structure) when fewer are left."""
        end = self.pos + n
        if end > len(self.buf):
            raise self.fail(f"truncated in {what}")
        raw = self.buf[self.pos:end]
        self.pos = end
        return raw

    def u8(self, what: str) -> int:
        """Return the next octet."""
        return self.take(1, what)[0]

    def u32(self, what: str) -> int:
        """Return the next 4-octet unsigned integer."""
        return int.from_bytes(self.take(4, what), "big")

    def u64(self, what: str) -> int:
        """Return the next 8-octet unsigned integer."""
        return int.from_bytes(self.take(8, what), "big")

    def text(self, n: int, what: str, result: int = 1) -> str:
        """Return the next ``n``-octet string up to its first NUL, as ASCII; raise CmppError
        with ``result`` when it holds a byte above 0x7F."""
        raw = self.take(n, what).split(b"\0", 1)[0]
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not ASCII", result) from None


def octets(text: str, width: int, what: str) -> bytes:
    """Return ``text`` as ASCII padded with NUL to ``width``; raise EncodeError when it is
    not ASCII or longer than ``width``."""
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise EncodeError(f"{what} {text!r} is not ASCII") from None
    if len(raw) > width:
        raise EncodeError(f"{what} {text!r} longer than {width} octets")
    return raw.ljust(width, b"\0")


# --- Msg_Id ---------------------------------------------------------------------------------------


def pack_msg_id(when: datetime, gateway: int, sequence: int) -> int:
    """Return the 64-bit Msg_Id: month(4) day(5) hour(5) minute(6) second(6) gateway(22)
    sequence(16), from ``when``'s fields as given (no time zone conversion).  ``sequence`` is
    a wrapping counter and is taken modulo 65536; a gateway outside 22 bits raises ValueError."""
    if not 0 <= gateway < 1 << 22:
        raise ValueError(f"gateway {gateway} outside 22 bits")
    value = when.month
    for part, bits in ((when.day, 5), (when.hour, 5), (when.minute, 6), (when.second, 6), (gateway, 22)):
        value = value << bits | part
    return value << 16 | (sequence & 0xFFFF)


def unpack_msg_id(msg_id: int) -> tuple[int, int, int, int, int, int, int]:
    """Return (month, day, hour, minute, second, gateway, sequence) of a 64-bit Msg_Id."""
    fields = []
    for bits in (16, 22, 6, 6, 5, 5, 4):
        fields.append(msg_id & ((1 << bits) - 1))
        msg_id >>= bits
    return tuple(reversed(fields))  # type: ignore[return-value]


# --- authenticators -------------------------------------------------------------------------------


def authenticator_source(source_addr: str, secret: str, timestamp: int) -> bytes:
    """Return MD5(Source_Addr + 9 NUL + secret + Timestamp as 10 zero-padded digits), the
    AuthenticatorSource an SP sends in CONNECT.  Strings are taken as UTF-8."""
    data = source_addr.encode() + b"\0" * 9 + secret.encode() + b"%010d" % timestamp
    return hashlib.md5(data).digest()


def authenticator_ismg(status: int, authenticator_source: bytes, secret: str, version: int = V2) -> bytes:
    """Return MD5(Status + AuthenticatorSource + secret), the AuthenticatorISMG of CONNECT_RESP.
    Status is taken as it is on the wire: 1 octet in CMPP 2.0, 4 octets (big-endian) in 3.0."""
    width = 4 if is_v3(version) else 1
    return hashlib.md5(status.to_bytes(width, "big") + authenticator_source + secret.encode()).digest()


# --- Msg_Content ----------------------------------------------------------------------------------

MSG_FMT_ASCII = 0
MSG_FMT_WRITE_CARD = 3
MSG_FMT_BINARY = 4
MSG_FMT_UCS2 = 8
MSG_FMT_GBK = 15


def decode_content(msg_fmt: int, content: bytes) -> tuple[str, str]:
    """Return (text, agent encoding) of Msg_Content: Msg_Fmt 0 (ASCII) and 15 (GBK, read as
    GB18030, its superset) give encoding '7' (the agent picks GSM-7 or UCS2 by content), 8 (UCS2,
    read as UTF-16BE) gives 'U', 4 (binary) and 3 (write card) give '8' with the bytes as latin-1
    text.  Raise CodingError for another Msg_Fmt or bytes that do not decode."""
    codec, encoding = {MSG_FMT_ASCII: ("ascii", "7"), MSG_FMT_GBK: ("gb18030", "7"), MSG_FMT_UCS2: ("utf-16-be", "U"),
                       MSG_FMT_BINARY: ("latin-1", "8"), MSG_FMT_WRITE_CARD: ("latin-1", "8")}.get(msg_fmt, ("", ""))
    if not codec:
        raise CodingError(f"Msg_Fmt {msg_fmt} not supported")
    try:
        return content.decode(codec), encoding
    except UnicodeDecodeError:
        raise CodingError(f"Msg_Content is not valid for Msg_Fmt {msg_fmt}") from None


def encode_content(text: str, encoding: str) -> tuple[int, bytes]:
    """Return (Msg_Fmt, Msg_Content) for an MO: encoding '8' (binary) gives (4, latin-1 bytes),
    else ASCII-only text gives (0, ASCII) and any other text (8, UTF-16BE).  Raise CodingError
    for binary text outside latin-1."""
    if encoding == "8":
        try:
            return MSG_FMT_BINARY, text.encode("latin-1")
        except UnicodeEncodeError:
            raise CodingError("binary text outside latin-1") from None
    if text.isascii():
        return MSG_FMT_ASCII, text.encode("ascii")
    try:
        return MSG_FMT_UCS2, text.encode("utf-16-be")
    except UnicodeEncodeError:
        raise CodingError("text holds lone surrogates") from None


def split_udhi(content: bytes) -> tuple[Concat | None, bytes]:
    """Return (concatenation info or None, the rest) of TP_udhi=1 content, whose first octet
    is the UDH length; raise CodingError when the content is empty or the UDH overruns it."""
    if not content or 1 + content[0] > len(content):
        raise CodingError("TP_udhi content without a whole user data header")
    end = 1 + content[0]
    return _interpret_udh(_split_udh(content[1:end]))[0], content[end:]


# --- ValId_Time / At_Time -------------------------------------------------------------------------


def parse_time(text: str, now: datetime) -> datetime | None:
    """Return the moment of a ValId_Time / At_Time (SMPP's format): '' gives None;
    'YYMMDDhhmmsstnn+' / '-' is absolute, in the zone nn quarter hours east (+) or west (-)
    of UTC (tenths t are kept); 'YYMMDDhhmmss000R' is ``now`` plus that period (a year
    counted as 365 days, a month as 30).  Raise ValueError for anything else."""
    if not text:
        return None
    if len(text) != 16 or not text[:15].isdigit() or not text[:15].isascii() or text[15] not in "+-R":
        raise ValueError(f"time {text!r} is not YYMMDDhhmmsstnnp")
    yy, mo, dd, hh, mi, ss = (int(text[i:i + 2]) for i in range(0, 12, 2))
    if text[15] == "R":
        return now + timedelta(days=365 * yy + 30 * mo + dd, hours=hh, minutes=mi, seconds=ss)
    quarters = int(text[13:15])
    if quarters > 48:
        raise ValueError(f"time {text!r}: UTC offset of {quarters} quarter hours")
    sign = -1 if text[15] == "-" else 1
    tz = timezone(timedelta(minutes=sign * 15 * quarters))
    return datetime(2000 + yy, mo, dd, hh, mi, ss, int(text[12]) * 100000, tzinfo=tz)
