"""A minimal blocking SMPP 3.4 SMSC, for the Kannel harness's self-test only.

Not the agent's server, and not its codec (that is agent/codec/smpp.py): just
enough SMPP, packed by hand, to let Kannel bind, submit and get a receipt:

* bind_transmitter / bind_receiver / bind_transceiver -> the matching resp
  (ESME_RINVPASWD when the system_id/password do not match);
* enquire_link -> enquire_link_resp; unbind -> unbind_resp, then close;
* submit_sm -> submit_sm_resp with message_id "1", "2", ... (decimal strings)
  and, when registered_delivery asks for it, a deliver_sm receipt
  (esm_class 0x04, the "id:... stat:DELIVRD" text, receipted_message_id
  TLV 0x001E and message_state TLV 0x0427 = 2) on a connection that may
  receive (transceiver or receiver); with ``receipts=False`` only when the
  test calls :meth:`FakeSmsc.send_receipt`;
* anything else that is a request -> generic_nack.

Every PDU seen is kept in :attr:`FakeSmsc.pdus`; tests wait on :attr:`cond`.
One thread accepts, one thread per connection reads; writes to a connection
are serialized by a per-connection lock.  127.0.0.1 only.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

BIND_TRANSMITTER = 0x00000002
BIND_RECEIVER = 0x00000001
BIND_TRANSCEIVER = 0x00000009
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
ENQUIRE_LINK = 0x00000015
GENERIC_NACK = 0x80000000
RESP = 0x80000000

NAMES = {
    0x00000001: "bind_receiver", 0x00000002: "bind_transmitter", 0x00000009: "bind_transceiver",
    0x00000004: "submit_sm", 0x00000005: "deliver_sm", 0x00000006: "unbind",
    0x00000015: "enquire_link", 0x80000000: "generic_nack",
}

ESME_ROK = 0x00000000
ESME_RINVCMDID = 0x00000003
ESME_RINVPASWD = 0x0000000E

TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
TLV_SC_INTERFACE_VERSION = 0x0210


def command_name(command_id: int) -> str:
    if command_id == GENERIC_NACK:
        return "generic_nack"
    base = NAMES.get(command_id & ~RESP, hex(command_id))
    return base + ("_resp" if command_id & RESP else "")


def _cstr(body: bytes, pos: int) -> tuple[bytes, int]:
    end = body.index(b"\0", pos)
    return body[pos:end], end + 1


def _tlvs(body: bytes, pos: int) -> dict[int, bytes]:
    tlvs: dict[int, bytes] = {}
    while pos + 4 <= len(body):
        tag, length = struct.unpack_from(">HH", body, pos)
        tlvs[tag] = body[pos + 4:pos + 4 + length]
        pos += 4 + length
    return tlvs


def pack(command_id: int, status: int, sequence: int, body: bytes = b"") -> bytes:
    return struct.pack(">IIII", 16 + len(body), command_id, status, sequence) + body


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


@dataclass
class Pdu:
    """One PDU the fake read, decoded as far as the self-test needs."""

    command_id: int
    status: int
    sequence: int
    body: bytes
    conn: int  # which connection (0, 1, ...) it came on
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def command(self) -> str:
        return command_name(self.command_id)


def parse_bind(body: bytes) -> dict[str, Any]:
    system_id, pos = _cstr(body, 0)
    password, pos = _cstr(body, pos)
    system_type, pos = _cstr(body, pos)
    interface_version, addr_ton, addr_npi = body[pos:pos + 3]
    address_range, pos = _cstr(body, pos + 3)
    return {"system_id": system_id.decode("latin-1"), "password": password.decode("latin-1"),
            "system_type": system_type.decode("latin-1"), "interface_version": interface_version,
            "addr_ton": addr_ton, "addr_npi": addr_npi, "address_range": address_range.decode("latin-1")}


def parse_submit(body: bytes) -> dict[str, Any]:
    """submit_sm's (and deliver_sm's: the same layout) mandatory fields and TLVs."""
    out: dict[str, Any] = {}
    out["service_type"], pos = _cstr(body, 0)
    out["source_addr_ton"], out["source_addr_npi"] = body[pos], body[pos + 1]
    out["source_addr"], pos = _cstr(body, pos + 2)
    out["dest_addr_ton"], out["dest_addr_npi"] = body[pos], body[pos + 1]
    out["destination_addr"], pos = _cstr(body, pos + 2)
    out["esm_class"], out["protocol_id"], out["priority_flag"] = body[pos:pos + 3]
    out["schedule_delivery_time"], pos = _cstr(body, pos + 3)
    out["validity_period"], pos = _cstr(body, pos)
    (out["registered_delivery"], out["replace_if_present_flag"], out["data_coding"],
     out["sm_default_msg_id"], sm_length) = body[pos:pos + 5]
    pos += 5
    out["short_message"] = body[pos:pos + sm_length]
    out["tlvs"] = _tlvs(body, pos + sm_length)
    for key in ("service_type", "source_addr", "destination_addr", "schedule_delivery_time", "validity_period"):
        out[key] = out[key].decode("latin-1")
    return out


def receipt_text(message_id: str, stat: str = "DELIVRD", err: str = "000") -> bytes:
    return (f"id:{message_id} sub:001 dlvrd:001 submit date:2612071200 done date:2612071200 "
            f"stat:{stat} err:{err} text:").encode("ascii")


def deliver_sm_receipt(sequence: int, message_id: str, source_addr: str, destination_addr: str) -> bytes:
    """A deliver_sm delivery receipt for ``message_id``: from the handset that got
    the message (``source_addr``) to the one that sent it (``destination_addr``)."""
    text = receipt_text(message_id)
    body = (b"\0"  # service_type
            + bytes([1, 1]) + source_addr.encode("latin-1") + b"\0"
            + bytes([1, 1]) + destination_addr.encode("latin-1") + b"\0"
            + bytes([0x04, 0, 0])  # esm_class: SMSC delivery receipt; protocol_id; priority_flag
            + b"\0" + b"\0"  # schedule_delivery_time, validity_period
            + bytes([0, 0, 0, 0, len(text)]) + text  # registered_delivery .. sm_length
            + tlv(TLV_RECEIPTED_MESSAGE_ID, message_id.encode("ascii") + b"\0")
            + tlv(TLV_MESSAGE_STATE, b"\x02"))  # DELIVERED
    return pack(DELIVER_SM, ESME_ROK, sequence, body)


class _Conn:
    def __init__(self, sock: socket.socket, index: int) -> None:
        self.sock = sock
        self.index = index
        self.lock = threading.Lock()
        self.bound: str | None = None  # the bind command's name once bound

    def send(self, data: bytes) -> None:
        with self.lock:
            self.sock.sendall(data)

    def read_exact(self, n: int) -> bytes | None:
        parts = []
        while n:
            chunk = self.sock.recv(n)
            if not chunk:
                return None
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)


class FakeSmsc:
    """``with FakeSmsc(system_id, password) as smsc:`` -> listening on
    127.0.0.1:``smsc.port``; stopped (all connections closed) on exit."""

    def __init__(self, system_id: str = "kannel", password: str = "secret", *,
                 port: int = 0, receipts: bool = True, hold_binds: threading.Event | None = None) -> None:
        self.system_id = system_id
        self.password = password
        self.receipts = receipts
        # when given, bind_*_resp waits until it is set (10 s at most)
        self.hold_binds = hold_binds
        self.cond = threading.Condition()
        self.pdus: list[Pdu] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(8)
        self.port = int(self._listener.getsockname()[1])
        self._conns: list[_Conn] = []
        self._seq = 0x1000  # the SMSC's own sequence numbers (deliver_sm)
        self._next_id = 1
        self._closed = False
        self._threads: list[threading.Thread] = []

    # --- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> FakeSmsc:
        t = threading.Thread(target=self._accept_loop, name="fake-smsc-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self.cond:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.sock.close()
        for t in self._threads:
            t.join(timeout=2)

    # --- what tests look at -----------------------------------------------------------------
    def seen(self, command: str) -> list[Pdu]:
        with self.cond:
            return [p for p in self.pdus if p.command == command]

    def wait(self, predicate: Callable[[FakeSmsc], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate(self)`` is truthy; return its value (fail on the deadline)."""
        with self.cond:
            value = self.cond.wait_for(lambda: predicate(self), timeout)
            assert value, f"fake SMSC: condition not met in {timeout}s; PDUs so far: {[p.command for p in self.pdus]}"
            return value

    # --- the wire ------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.cond:
                conn = _Conn(sock, len(self._conns))
                self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), name=f"fake-smsc-{conn.index}", daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: _Conn) -> None:
        try:
            while True:
                head = conn.read_exact(16)
                if head is None:
                    return
                length, command_id, status, sequence = struct.unpack(">IIII", head)
                body = conn.read_exact(length - 16) if length > 16 else b""
                if body is None:
                    return
                if not self._handle(conn, Pdu(command_id, status, sequence, body, conn.index)):
                    return
        except OSError:
            return
        finally:
            conn.sock.close()

    def _record(self, pdu: Pdu) -> None:
        with self.cond:
            self.pdus.append(pdu)
            self.cond.notify_all()

    def _handle(self, conn: _Conn, pdu: Pdu) -> bool:
        cid = pdu.command_id
        if cid in (BIND_TRANSMITTER, BIND_RECEIVER, BIND_TRANSCEIVER):
            pdu.fields = parse_bind(pdu.body)
            ok = pdu.fields["system_id"] == self.system_id and pdu.fields["password"] == self.password
            self._record(pdu)
            if self.hold_binds is not None:
                self.hold_binds.wait(10)
            # system_id even in an error resp: Kannel warns when it is missing
            body = b"fake-smsc\0" + (tlv(TLV_SC_INTERFACE_VERSION, b"\x34") if ok else b"")
            conn.send(pack(cid | RESP, ESME_ROK if ok else ESME_RINVPASWD, pdu.sequence, body))
            if ok:
                conn.bound = pdu.command
            return ok
        if cid == ENQUIRE_LINK:
            self._record(pdu)
            conn.send(pack(cid | RESP, ESME_ROK, pdu.sequence))
            return True
        if cid == UNBIND:
            self._record(pdu)
            conn.send(pack(cid | RESP, ESME_ROK, pdu.sequence))
            return False
        if cid == SUBMIT_SM:
            pdu.fields = parse_submit(pdu.body)
            with self.cond:
                message_id = str(self._next_id)
                self._next_id += 1
            pdu.fields["message_id"] = message_id
            self._record(pdu)
            conn.send(pack(cid | RESP, ESME_ROK, pdu.sequence, message_id.encode("ascii") + b"\0"))
            if self.receipts and pdu.fields["registered_delivery"] & 0x03:
                self._send_receipt(conn, message_id, pdu.fields)
            return True
        if cid & RESP:  # deliver_sm_resp, enquire_link_resp, generic_nack, ...
            self._record(pdu)
            return True
        self._record(pdu)
        conn.send(pack(GENERIC_NACK, ESME_RINVCMDID, pdu.sequence))
        return True

    def send_receipt(self, submit: Pdu) -> None:
        """Send the delivered receipt for ``submit`` (a submit_sm seen) now:
        for a fake made with ``receipts=False``."""
        with self.cond:
            conn = self._conns[submit.conn]
        self._send_receipt(conn, submit.fields["message_id"], submit.fields)

    def _send_receipt(self, conn: _Conn, message_id: str, submit: dict[str, Any]) -> None:
        target = conn
        if conn.bound == "bind_transmitter":  # a transmitter cannot receive: use the receiver
            with self.cond:
                receivers = [c for c in self._conns if c.bound in ("bind_receiver", "bind_transceiver")]
            assert receivers, "fake SMSC: no receiver bound for the receipt"
            target = receivers[-1]
        with self.cond:
            self._seq += 1
            seq = self._seq
        target.send(deliver_sm_receipt(seq, message_id, submit["destination_addr"], submit["source_addr"]))
