"""CMPP 2.0 and 3.0 as an SP client speaks it: the CMPP_CONNECT and CMPP_SUBMIT it sends, the
CMPP_DELIVER_RESP it answers, and the responses and DELIVERs it reads.  For tests and the
benches (the agent is the ISMG side, :mod:`agent.codec.cmpp`); pure, no I/O."""

from __future__ import annotations

from agent.codec.cmpp import (CONNECT, CONNECT_RESP, DELIVER, DELIVER_RESP, HEADER_SIZE, NAMES, SUBMIT, SUBMIT_RESP,
                              CmppError, Reader, _result, _u8s, _u32, _u64, authenticator_source, frame, header,
                              is_v3, octets)


def encode_connect(sequence: int, source_addr: str, secret: str, timestamp: int, version: int) -> bytes:
    """Return the CMPP_CONNECT an SP sends, its AuthenticatorSource computed from ``secret``."""
    return frame(CONNECT, sequence, octets(source_addr, 6, "Source_Addr")
                 + authenticator_source(source_addr, secret, timestamp) + _u8s(version) + _u32(timestamp))


def encode_submit(sequence: int, *, version: int, dest_terminal_ids: list[str], content: bytes, msg_fmt: int = 15,
                  src_id: str = "", msg_src: str = "", service_id: str = "", registered_delivery: int = 0,
                  pk_total: int = 1, pk_number: int = 1, tp_udhi: int = 0, valid_time: str = "", at_time: str = "",
                  fee_type: str = "01", fee_code: str = "000000", link_id: str = "", msg_level: int = 0,
                  tp_pid: int = 0, fee_usertype: int = 0, fee_terminal_id: str = "") -> bytes:
    """Return the CMPP_SUBMIT an SP sends (Msg_Id 0, terminal types 0).  Any list of ids and any
    content up to 255 octets is written as asked, so that tests can build what decode refuses."""
    v3 = is_v3(version)
    term = 32 if v3 else 21
    body = (bytes(8) + _u8s(pk_total, pk_number, registered_delivery, msg_level)
            + octets(service_id, 10, "Service_Id") + _u8s(fee_usertype)
            + octets(fee_terminal_id, term, "Fee_terminal_Id") + (b"\0" if v3 else b"")
            + _u8s(tp_pid, tp_udhi, msg_fmt) + octets(msg_src, 6, "Msg_src") + octets(fee_type, 2, "FeeType")
            + octets(fee_code, 6, "FeeCode") + octets(valid_time, 17, "ValId_Time") + octets(at_time, 17, "At_Time")
            + octets(src_id, 21, "Src_Id") + _u8s(len(dest_terminal_ids))
            + b"".join(octets(d, term, "Dest_terminal_Id") for d in dest_terminal_ids)
            + (b"\0" if v3 else b"") + _u8s(len(content)) + content
            + (octets(link_id, 20, "LinkID") if v3 else b"\0" * 8))
    return frame(SUBMIT, sequence, body)


def encode_deliver_resp(sequence: int, msg_id: int, result: int, version: int) -> bytes:
    """Return the CMPP_DELIVER_RESP an SP sends: Msg_Id and Result (1 octet in 2.0, 4 in 3.0)."""
    return frame(DELIVER_RESP, sequence, _u64(msg_id) + _result(result, version))


def decode_connect_resp(frame_: bytes, version: int) -> tuple[int, bytes, int]:
    """Return (Status, AuthenticatorISMG, Version) of a CMPP_CONNECT_RESP; raise CmppError
    when the frame is not one."""
    r = _reader(frame_, CONNECT_RESP)
    out = (r.u32("Status") if is_v3(version) else r.u8("Status"), r.take(16, "AuthenticatorISMG"), r.u8("Version"))
    return _done(r, out)


def decode_submit_resp(frame_: bytes, version: int) -> tuple[int, int]:
    """Return (Msg_Id, Result) of a CMPP_SUBMIT_RESP; raise CmppError when the frame is not one."""
    r = _reader(frame_, SUBMIT_RESP)
    return _done(r, (r.u64("Msg_Id"), r.u32("Result") if is_v3(version) else r.u8("Result")))


def decode_deliver(frame_: bytes, version: int) -> dict:
    """Return the fields of a CMPP_DELIVER as a dict (strings without padding, ``content`` as
    bytes), with ``report`` the parsed status report (msg_id, stat, submit_time, done_time,
    dest_terminal_id, smsc_sequence) when Registered_Delivery is 1, else None.  Raise CmppError
    when the frame is not a well-formed DELIVER."""
    v3 = is_v3(version)
    term = 32 if v3 else 21
    r = _reader(frame_, DELIVER)
    d: dict = {"sequence": r.sequence, "msg_id": r.u64("Msg_Id"), "dest_id": r.text(21, "Dest_Id"),
               "service_id": r.text(10, "Service_Id"), "tp_pid": r.u8("TP_pid"), "tp_udhi": r.u8("TP_udhi"),
               "msg_fmt": r.u8("Msg_Fmt"), "src_terminal_id": r.text(term, "Src_terminal_Id"),
               "src_terminal_type": r.u8("Src_terminal_type") if v3 else 0,
               "registered_delivery": r.u8("Registered_Delivery")}
    size = r.u8("Msg_Length")
    if r.left() != size + (20 if v3 else 8):
        raise r.fail(f"Msg_Length {size} disagrees with the body")
    d["content"] = r.take(size, "Msg_Content")
    d["link_id"] = r.text(20, "LinkID") if v3 else ""
    if not v3:
        r.take(8, "Reserved")
    d["report"] = None
    if d["registered_delivery"] == 1:
        rr = Reader(d["content"], DELIVER, r.sequence)
        d["report"] = _done(rr, {"msg_id": rr.u64("Msg_Id"), "stat": rr.text(7, "Stat"),
                                 "submit_time": rr.text(10, "Submit_time"), "done_time": rr.text(10, "Done_time"),
                                 "dest_terminal_id": rr.text(term, "Dest_terminal_Id"),
                                 "smsc_sequence": rr.u32("SMSC_sequence")})
    return _done(r, d)


def _reader(frame_: bytes, command_id: int) -> Reader:
    length, cid, sequence = header(frame_)
    if cid != command_id or length != len(frame_):
        raise CmppError(f"not a whole {NAMES[command_id]}", command_id=cid, sequence=sequence)
    return Reader(frame_[HEADER_SIZE:], cid, sequence)


def _done(r: Reader, value):
    if r.left():
        raise r.fail(f"{r.left()} bytes past the end")
    return value
