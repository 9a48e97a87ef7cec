"""CMPP 2.0 and 3.0 for the ISMG (server) side: read what an SP client sends, build what
we answer and the DELIVERs (MOs and status reports) we push.

Pure, no I/O.  A connection reads 4 bytes, asks :func:`total_length` how long the PDU is
(a length outside 12..MAX_PDU is refused), reads the rest and hands the whole PDU to
:func:`decode` with the version agreed at CONNECT (V2 or V3; it decides field widths: 21 or
32 octets for terminal ids, 1 or 4 octets for Status / Result, LinkID and the terminal
types in 3.0 only).  :func:`decode` returns a :class:`Connect`, :class:`Submit`,
:class:`Query`, :class:`Cancel`, :class:`DeliverResp`, :class:`ActiveTest`,
:class:`ActiveTestResp`, :class:`Terminate`, :class:`TerminateResp`, or :class:`Unknown` for
any other Command_Id, and raises only :class:`CmppError` whose ``result`` is the code to
answer with.  The wire pieces (ids, result codes, Msg_Id, authenticators, Msg_Content,
times) live in :mod:`agent.codec.cmpp_wire` and are re-exported here.

The client side (what an SP sends and reads) is :mod:`agent.codec.cmpp_client`, for tests
and the benches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from agent.codec.cmpp_wire import (  # noqa: F401 (re-exported)
    ACTIVE_TEST, ACTIVE_TEST_RESP, CANCEL, CANCEL_RESP, CONNECT, CONNECT_AUTH_FAILED, CONNECT_BAD_SOURCE,
    CONNECT_BAD_STRUCTURE, CONNECT_OK, CONNECT_RESP, CONNECT_VERSION_TOO_HIGH, DELIVER, DELIVER_BAD_STRUCTURE,
    DELIVER_OK, DELIVER_RESP, FWD, FWD_RESP, HEADER_SIZE, MAX_CONTENT, MAX_DESTS, MAX_PDU, MSG_FMT_ASCII,
    MSG_FMT_BINARY, MSG_FMT_GBK, MSG_FMT_UCS2, MSG_FMT_WRITE_CARD, NAMES, QUERY, QUERY_RESP, REPORT_STATS, SUBMIT,
    SUBMIT_BAD_COMMAND, SUBMIT_BAD_DEST_V3, SUBMIT_BAD_FEE_CODE, SUBMIT_BAD_FEE_TERMINAL, SUBMIT_BAD_LENGTH,
    SUBMIT_BAD_MSG_SRC, SUBMIT_BAD_SERVICE_ID, SUBMIT_BAD_SRC_ID, SUBMIT_BAD_STRUCTURE, SUBMIT_FLOW_CONTROL,
    SUBMIT_NOT_SERVED, SUBMIT_OK, SUBMIT_REPEATED_SEQUENCE, SUBMIT_RESP, SUBMIT_TOO_LONG, TERMINATE, TERMINATE_RESP,
    V2, V3, CmppError, CodingError, Reader, agreed_version, authenticator_ismg, authenticator_source, decode_content,
    encode_content, frame, header, is_v3, octets, pack_msg_id, parse_time, split_udhi, submit_bad_dest,
    total_length, unpack_msg_id,
)
from agent.errors import EncodeError

# --- what an SP sends -----------------------------------------------------------------------------


@dataclass(slots=True)
class Connect:
    """CMPP_CONNECT: the SP's id, its AuthenticatorSource, the version it speaks (0x20, 0x30...)
    and its Timestamp (the decimal MMDDHHMMSS)."""

    sequence: int
    source_addr: str
    authenticator: bytes
    version: int
    timestamp: int


@dataclass(slots=True)
class Submit:
    """CMPP_SUBMIT: one MT (one part of a long one) to up to 100 phones.  Strings are as sent,
    NUL padding dropped; fee_terminal_type, dest_terminal_type and link_id exist in 3.0 only
    (0, 0 and '' in 2.0).  ``content`` is Msg_Content as sent, UDH included when tp_udhi is 1."""

    sequence: int
    msg_id: int
    pk_total: int
    pk_number: int
    registered_delivery: int
    msg_level: int
    service_id: str
    fee_usertype: int
    fee_terminal_id: str
    fee_terminal_type: int
    tp_pid: int
    tp_udhi: int
    msg_fmt: int
    msg_src: str
    fee_type: str
    fee_code: str
    valid_time: str
    at_time: str
    src_id: str
    dest_terminal_ids: list[str] = field(default_factory=list)
    dest_terminal_type: int = 0
    content: bytes = b""
    link_id: str = ""


@dataclass(slots=True)
class Query:
    """CMPP_QUERY: statistics for ``time`` (YYYYMMDD); query_type 0 for all, 1 for one
    service, whose Service_Id is ``query_code``."""

    sequence: int
    time: str
    query_type: int
    query_code: str


@dataclass(slots=True)
class Cancel:
    """CMPP_CANCEL: withdraw the MT of ``msg_id`` not yet delivered."""

    sequence: int
    msg_id: int


@dataclass(slots=True)
class DeliverResp:
    """CMPP_DELIVER_RESP: the SP's answer to our DELIVER ``msg_id`` (result 0 is ok)."""

    sequence: int
    msg_id: int
    result: int


@dataclass(slots=True)
class ActiveTest:
    """CMPP_ACTIVE_TEST: a keepalive to answer."""

    sequence: int


@dataclass(slots=True)
class ActiveTestResp:
    """CMPP_ACTIVE_TEST_RESP: the answer to our keepalive."""

    sequence: int


@dataclass(slots=True)
class Terminate:
    """CMPP_TERMINATE: the SP closes the connection; answer, then close."""

    sequence: int


@dataclass(slots=True)
class TerminateResp:
    """CMPP_TERMINATE_RESP: the answer to our TERMINATE."""

    sequence: int


@dataclass(slots=True)
class Unknown:
    """A PDU whose Command_Id the server side does not read (its body is not looked at)."""

    sequence: int
    command_id: int


Pdu = (Connect | Submit | Query | Cancel | DeliverResp | ActiveTest | ActiveTestResp | Terminate | TerminateResp
       | Unknown)

_HEADER_ONLY = {ACTIVE_TEST: ActiveTest, TERMINATE: Terminate, TERMINATE_RESP: TerminateResp}


def decode(frame_: bytes, version: int) -> Pdu:
    """Return the PDU in ``frame_`` (exactly one whole PDU) read with ``version``'s widths
    (CONNECT reads the same in both).  Raise CmppError, and nothing else whatever the bytes,
    when the frame's length disagrees with Total_Length or with the body its command needs,
    when Msg_Length disagrees with the rest (SUBMIT result 4) or exceeds 140 (6), DestUsr_tl is
    0 or above 100, Pk_total is 0 or below Pk_number, or a string field is not ASCII (the
    field's own result code where CMPP has one).  Raise ValueError for a version other than
    V2 / V3."""
    v3 = is_v3(version)
    length, command_id, sequence = header(frame_)
    if length != len(frame_):
        raise CmppError(f"Total_Length {length} but {len(frame_)} bytes", command_id=command_id, sequence=sequence)
    r = Reader(frame_[HEADER_SIZE:], command_id, sequence)
    if command_id == SUBMIT:
        return _submit(r, v3)
    if command_id == CONNECT:
        pdu: Pdu = Connect(sequence, r.text(6, "Source_Addr", CONNECT_BAD_SOURCE), r.take(16, "AuthenticatorSource"),
                           r.u8("Version"), r.u32("Timestamp"))
    elif command_id == DELIVER_RESP:
        pdu = DeliverResp(sequence, r.u64("Msg_Id"), r.u32("Result") if v3 else r.u8("Result"))
    elif command_id == ACTIVE_TEST_RESP:
        r.take(min(r.left(), 1), "Reserved")  # one Reserved octet by the spec; some clients send none
        pdu = ActiveTestResp(sequence)
    elif command_id in _HEADER_ONLY:
        pdu = _HEADER_ONLY[command_id](sequence)
    elif command_id == QUERY:
        pdu = Query(sequence, r.text(8, "Time"), r.u8("Query_Type"), r.text(10, "Query_Code"))
        r.take(8, "Reserve")
    elif command_id == CANCEL:
        pdu = Cancel(sequence, r.u64("Msg_Id"))
    else:
        return Unknown(sequence, command_id)
    if r.left():
        raise r.fail(f"{r.left()} bytes past the end of the body")
    return pdu


def _submit(r: Reader, v3: bool) -> Submit:
    term = 32 if v3 else 21
    bad_dest = submit_bad_dest(V3 if v3 else V2)
    s = Submit(r.sequence, r.u64("Msg_Id"), r.u8("Pk_total"), r.u8("Pk_number"), r.u8("Registered_Delivery"),
               r.u8("Msg_level"), r.text(10, "Service_Id", SUBMIT_BAD_SERVICE_ID), r.u8("Fee_UserType"),
               r.text(term, "Fee_terminal_Id", SUBMIT_BAD_FEE_TERMINAL if v3 else 1),
               r.u8("Fee_terminal_type") if v3 else 0, r.u8("TP_pId"), r.u8("TP_udhi"), r.u8("Msg_Fmt"),
               r.text(6, "Msg_src", SUBMIT_BAD_MSG_SRC if v3 else 1), r.text(2, "FeeType", SUBMIT_BAD_FEE_CODE),
               r.text(6, "FeeCode", SUBMIT_BAD_FEE_CODE), r.text(17, "ValId_Time"), r.text(17, "At_Time"),
               r.text(21, "Src_Id", SUBMIT_BAD_SRC_ID if v3 else 1))
    count = r.u8("DestUsr_tl")
    if not 1 <= count <= MAX_DESTS:
        raise r.fail(f"DestUsr_tl {count} outside 1..{MAX_DESTS}")
    if r.left() < count * term:
        raise r.fail(f"truncated in {count} Dest_terminal_Id")
    s.dest_terminal_ids = [r.text(term, "Dest_terminal_Id", bad_dest) for _ in range(count)]
    if v3:
        s.dest_terminal_type = r.u8("Dest_terminal_type")
    size = r.u8("Msg_Length")
    tail = 20 if v3 else 8  # LinkID / Reserve
    if r.left() != size + tail:
        raise r.fail(f"Msg_Length {size} but {r.left() - tail} bytes of content", SUBMIT_BAD_LENGTH)
    if size > MAX_CONTENT:
        raise r.fail(f"Msg_Length {size} above {MAX_CONTENT}", SUBMIT_TOO_LONG)
    s.content = r.take(size, "Msg_Content")
    if v3:
        s.link_id = r.text(20, "LinkID")
    if not 1 <= s.pk_number <= s.pk_total:
        raise r.fail(f"Pk_number {s.pk_number} of Pk_total {s.pk_total}")
    return s


# --- what we send ---------------------------------------------------------------------------------


def encode_connect_resp(sequence: int, status: int, authenticator_ismg: bytes, version: int) -> bytes:
    """Return CMPP_CONNECT_RESP: Status (1 octet in 2.0, 4 in 3.0), AuthenticatorISMG (16
    octets; all NUL is usual when authentication failed) and the version we speak."""
    if len(authenticator_ismg) != 16:
        raise EncodeError("AuthenticatorISMG must be 16 octets")
    return frame(CONNECT_RESP, sequence, _result(status, version) + authenticator_ismg + bytes([version]))


def encode_submit_resp(sequence: int, msg_id: int, result: int, version: int) -> bytes:
    """Return CMPP_SUBMIT_RESP: Msg_Id and Result (1 octet in 2.0, 4 in 3.0)."""
    return frame(SUBMIT_RESP, sequence, _u64(msg_id) + _result(result, version))


def encode_deliver(sequence: int, *, msg_id: int, dest_id: str, service_id: str, src_terminal_id: str,
                   msg_fmt: int, content: bytes, tp_udhi: int = 0, tp_pid: int = 0, version: int,
                   link_id: str = "") -> bytes:
    """Return the CMPP_DELIVER of an MO from phone ``src_terminal_id`` to the SP's ``dest_id``
    (Registered_Delivery 0); raise EncodeError for content above 140 octets or a field too long."""
    if len(content) > MAX_CONTENT:
        raise EncodeError(f"Msg_Content of {len(content)} octets, more than {MAX_CONTENT}")
    return _deliver(sequence, msg_id, dest_id, service_id, tp_pid, tp_udhi, msg_fmt, src_terminal_id, 0, content,
                    version, link_id)


def encode_report(sequence: int, *, msg_id: int, dest_id: str, service_id: str, src_terminal_id: str,
                  report_msg_id: int, stat: str, submit_time: datetime, done_time: datetime,
                  dest_terminal_id: str, smsc_sequence: int, version: int) -> bytes:
    """Return the CMPP_DELIVER carrying a status report (Registered_Delivery 1, Msg_Fmt 0):
    its Msg_Content is Msg_Id of the SUBMIT, Stat (7 characters), Submit_time and Done_time
    (YYMMDDHHMM), Dest_terminal_Id (21 octets, 3.0: 32) and SMSC_sequence; 60 or 71 octets."""
    if len(stat) != 7:
        raise EncodeError(f"Stat {stat!r} is not 7 characters")
    term = 32 if is_v3(version) else 21
    report = (_u64(report_msg_id) + octets(stat, 7, "Stat") + octets(submit_time.strftime("%y%m%d%H%M"), 10, "time")
              + octets(done_time.strftime("%y%m%d%H%M"), 10, "time")
              + octets(dest_terminal_id, term, "Dest_terminal_Id") + _u32(smsc_sequence))
    return _deliver(sequence, msg_id, dest_id, service_id, 0, 0, MSG_FMT_ASCII, src_terminal_id, 1, report,
                    version, "")


def encode_active_test(sequence: int) -> bytes:
    """Return CMPP_ACTIVE_TEST."""
    return frame(ACTIVE_TEST, sequence, b"")


def encode_active_test_resp(sequence: int) -> bytes:
    """Return CMPP_ACTIVE_TEST_RESP (its one Reserved octet NUL)."""
    return frame(ACTIVE_TEST_RESP, sequence, b"\0")


def encode_terminate(sequence: int) -> bytes:
    """Return CMPP_TERMINATE."""
    return frame(TERMINATE, sequence, b"")


def encode_terminate_resp(sequence: int) -> bytes:
    """Return CMPP_TERMINATE_RESP."""
    return frame(TERMINATE_RESP, sequence, b"")


def encode_query_resp(sequence: int, query: Query, counts: tuple[int, ...] = (0,) * 8) -> bytes:
    """Return CMPP_QUERY_RESP echoing ``query``'s Time, Query_Type and Query_Code with the eight
    counters MT_TLMsg, MT_Tlusr, MT_Scs, MT_WT, MT_FL, MO_Scs, MO_WT, MO_FL."""
    if len(counts) != 8:
        raise EncodeError("QUERY_RESP needs 8 counters")
    body = octets(query.time, 8, "Time") + bytes([query.query_type]) + octets(query.query_code, 10, "Query_Code")
    return frame(QUERY_RESP, sequence, body + b"".join(_u32(c) for c in counts))


def encode_cancel_resp(sequence: int, success: bool, version: int) -> bytes:
    """Return CMPP_CANCEL_RESP: Success_Id 0 (cancelled) or 1 (failed), 1 octet in 2.0, 4 in 3.0."""
    return frame(CANCEL_RESP, sequence, _result(0 if success else 1, version))


def _deliver(sequence: int, msg_id: int, dest_id: str, service_id: str, tp_pid: int, tp_udhi: int, msg_fmt: int,
             src_terminal_id: str, registered: int, content: bytes, version: int, link_id: str) -> bytes:
    v3 = is_v3(version)
    body = (_u64(msg_id) + octets(dest_id, 21, "Dest_Id") + octets(service_id, 10, "Service_Id")
            + _u8s(tp_pid, tp_udhi, msg_fmt) + octets(src_terminal_id, 32 if v3 else 21, "Src_terminal_Id")
            + (b"\0" if v3 else b"") + _u8s(registered, len(content)) + content
            + (octets(link_id, 20, "LinkID") if v3 else b"\0" * 8))
    return frame(DELIVER, sequence, body)


def _u8s(*values: int) -> bytes:
    if not all(0 <= v <= 255 for v in values):
        raise EncodeError(f"octet values {values} outside 0..255")
    return bytes(values)


def _u32(value: int) -> bytes:
    if not 0 <= value <= 0xFFFFFFFF:
        raise EncodeError(f"{value} outside 32 bits")
    return value.to_bytes(4, "big")


def _u64(value: int) -> bytes:
    if not 0 <= value < 1 << 64:
        raise EncodeError(f"Msg_Id {value} outside 64 bits")
    return value.to_bytes(8, "big")


def _result(value: int, version: int) -> bytes:
    return _u32(value) if is_v3(version) else _u8s(value)
