"""Plain-socket clients of the two binary doors, built on the agent's codecs: exact
control of what goes on the wire (windows, hostile bytes, orders), for the tests.
The third-party clients (smpplib, the seed's CMPP client) are used beside them."""

from __future__ import annotations

import socket
import struct
import time

from agent.codec import cmpp, cmpp_client, smpp


class _Framed:
    """A blocking socket whose PDUs start with their 4-byte big-endian length (both protocols)."""

    def __init__(self, address: tuple[str, int], timeout: float) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def frame(self, timeout: float = 10.0) -> bytes | None:
        """The next whole PDU's bytes (None when the connection closed)."""
        self.sock.settimeout(timeout)
        head = self._exact(4)
        if head is None:
            return None
        rest = self._exact(int.from_bytes(head, "big") - 4)
        return None if rest is None else head + rest

    def _exact(self, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            buf += chunk
        return buf


class SmppClient(_Framed):
    """An ESME on a blocking socket: ``call`` sends a request and reads until its response,
    keeping every other PDU that came in ``inbox`` (deliver_sm, enquire_link...)."""

    def __init__(self, address: tuple[str, int], timeout: float = 10.0) -> None:
        super().__init__(address, timeout)
        self.inbox: list[smpp.Pdu] = []

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, timeout: float = 10.0) -> smpp.Pdu | None:
        """The next PDU (None when the connection closed)."""
        frame = self.frame(timeout)
        return None if frame is None else smpp.decode(frame)

    def send(self, command_id: int, **kw) -> int:
        seq = kw.pop("sequence", None) or self.next_seq()
        self.send_raw(smpp.encode(command_id, seq, **kw))
        return seq

    def call(self, command_id: int, **kw) -> smpp.Pdu:
        seq = self.send(command_id, **kw)
        return self.response(seq)

    def response(self, seq: int, timeout: float = 10.0) -> smpp.Pdu:
        deadline = time.monotonic() + timeout
        while True:
            pdu = self.read(max(0.01, deadline - time.monotonic()))
            assert pdu is not None, "connection closed"
            if pdu.sequence == seq and (pdu.command_id & smpp.RESP_BIT):
                return pdu
            self.inbox.append(pdu)

    def bind(self, kind: int = smpp.BIND_TRANSCEIVER, system_id: str = "branch", password: str = "secret12",
             **fields) -> smpp.Pdu:
        return self.call(kind, fields={"system_id": system_id, "password": password, "system_type": "",
                                       "interface_version": 0x34, **fields})

    def submit(self, to: str, text: bytes | str, *, data_coding: int = 0, tlvs=None, **fields) -> smpp.Pdu:
        body = text.encode("ascii") if isinstance(text, str) else text
        return self.call(smpp.SUBMIT_SM, fields={"source_addr": "1234", "destination_addr": to,
                                                 "data_coding": data_coding, "short_message": body, **fields},
                         tlvs=tlvs)

    def deliveries(self, count: int, timeout: float = 15.0, *, answer: bool = True,
                   status: int = 0) -> list[smpp.Pdu]:
        """Wait for ``count`` deliver_sm (kept in ``inbox`` too), answering each with ``status``."""
        got = [p for p in self.inbox if p.command_id == smpp.DELIVER_SM]
        self.inbox = [p for p in self.inbox if p.command_id != smpp.DELIVER_SM]
        for p in got:
            if answer:
                self.send(smpp.DELIVER_SM_RESP, sequence=p.sequence, status=status, fields={"message_id": ""})
        deadline = time.monotonic() + timeout
        while len(got) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"{len(got)} of {count} deliver_sm came"
            pdu = self.read(left)
            assert pdu is not None, "connection closed"
            if pdu.command_id == smpp.DELIVER_SM:
                got.append(pdu)
                if answer:
                    self.send(smpp.DELIVER_SM_RESP, sequence=pdu.sequence, status=status, fields={"message_id": ""})
            elif pdu.command_id == smpp.ENQUIRE_LINK:
                self.send(smpp.ENQUIRE_LINK_RESP, sequence=pdu.sequence)
            else:
                self.inbox.append(pdu)
        return got


class CmppClient(_Framed):
    """An SP on a blocking socket, CMPP 2.0 or 3.0."""

    def __init__(self, address: tuple[str, int], version: int = cmpp.V2, timeout: float = 10.0) -> None:
        super().__init__(address, timeout)
        self.version = version
        self.inbox: list[bytes] = []

    def read(self, timeout: float = 10.0) -> bytes | None:
        """The next PDU's bytes (None when the connection closed)."""
        return self.frame(timeout)

    def response(self, seq: int, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            frame = self.read(max(0.01, deadline - time.monotonic()))
            assert frame is not None, "connection closed"
            command, sequence = struct.unpack("!4xII", frame[:12])
            if sequence == seq and command & 0x80000000:
                return frame
            self.inbox.append(frame)

    def connect(self, source_addr: str = "test01", secret: str = "123456") -> tuple[int, bytes, int]:
        stamp = int(time.strftime("%m%d%H%M%S"))
        seq = self.next_seq()
        self.sock.sendall(cmpp_client.encode_connect(seq, source_addr, secret, stamp, self.version))
        return cmpp_client.decode_connect_resp(self.response(seq), self.version)

    def submit(self, dests: list[str], content: bytes, **kw) -> tuple[int, int]:
        seq = self.next_seq()
        kw.setdefault("msg_fmt", 15)
        self.sock.sendall(cmpp_client.encode_submit(seq, version=self.version, dest_terminal_ids=dests,
                                                    content=content, **kw))
        return cmpp_client.decode_submit_resp(self.response(seq), self.version)

    def delivers(self, count: int, timeout: float = 15.0, *, result: int = 0) -> list[dict]:
        """Wait for ``count`` CMPP_DELIVER, answering each with ``result``."""
        got: list[dict] = []
        pending = [f for f in self.inbox if struct.unpack("!4xI", f[:8])[0] == cmpp.DELIVER]
        self.inbox = [f for f in self.inbox if f not in pending]
        deadline = time.monotonic() + timeout
        while True:
            for frame in pending:
                d = cmpp_client.decode_deliver(frame, self.version)
                got.append(d)
                self.sock.sendall(_deliver_resp(d, frame, result, self.version))
            pending = []
            if len(got) >= count:
                return got
            left = deadline - time.monotonic()
            assert left > 0, f"{len(got)} of {count} CMPP_DELIVER came"
            frame = self.read(left)
            assert frame is not None, "connection closed"
            command, sequence = struct.unpack("!4xII", frame[:12])
            if command == cmpp.DELIVER:
                pending.append(frame)
            elif command == cmpp.ACTIVE_TEST:
                self.sock.sendall(struct.pack("!IIIB", 13, cmpp.ACTIVE_TEST_RESP, sequence, 0))
            else:
                self.inbox.append(frame)


def _deliver_resp(d: dict, frame: bytes, result: int, version: int) -> bytes:
    sequence = struct.unpack("!8xI", frame[:12])[0]
    msg_id = frame[12:20]
    if version == cmpp.V3:
        return struct.pack("!III8sI", 24, cmpp.DELIVER_RESP, sequence, msg_id, result)
    return struct.pack("!III8sB", 21, cmpp.DELIVER_RESP, sequence, msg_id, result)
