"""The binary doors of the crash proof (``bench/crash.py --door smpp|cmpp``).

Each submitter thread opens a session (SMPP 3.4 bind_transceiver, or CMPP 2.0
CMPP_CONNECT), submits its numbered texts with up to :data:`WINDOW` requests
outstanding, reads their responses, and opens a new session when the agent
was killed under it.  Neither protocol has an idempotency key, so a submission
whose response never came (the connection died with it outstanding) is not
sent again: it counts as *unanswered*, and the tally tells how many of those
were stored and sent all the same (committed before the kill, the response
lost).  A message is acknowledged only once its response with status 0 was
read; a non-zero status is a refusal (none expected).

Built on the agent's codecs (``agent.codec.smpp``, ``agent.codec.cmpp``), like
the test clients in ``tests/doors/clients.py``, of which this is the part the
bench needs.  Loaded by path from ``bench/crash.py``.
"""

from __future__ import annotations

import select
import socket
import struct
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

try:
    from agent.codec import cmpp, cmpp_client, smpp
except ImportError:  # run from a checkout without the project installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from agent.codec import cmpp, cmpp_client, smpp

DOORS = ("smpp", "cmpp")
WINDOW = 10  # requests outstanding per session
SYSTEM_ID, SMPP_PASSWORD = "crash", "crashpw1"  # SMPP 3.4: a password of at most 8 characters
SOURCE_ADDR, CMPP_SECRET = "crash1", "crash-proof"  # CMPP: a 6-character SP id
READ_TIMEOUT = 30.0  # seconds without a frame while requests are outstanding: the session is given up


def config_lines(door: str, port: int) -> list[str]:
    """The config.ini section that opens ``door`` on 127.0.0.1:``port``."""
    if door == "smpp":
        return ["[smpp]", f"listen = 127.0.0.1:{port}", f"system_id = {SYSTEM_ID}", f"password = {SMPP_PASSWORD}", ""]
    if door == "cmpp":
        return ["[cmpp]", f"listen = 127.0.0.1:{port}", f"source_addr = {SOURCE_ADDR}", f"password = {CMPP_SECRET}",
                ""]
    raise ValueError(f"no door {door!r}")


class Gone(Exception):
    """The session ended (closed, reset, unbound or silent): what is outstanding is unanswered."""


class BindRefused(Exception):
    """The door refused the credentials: the run cannot go on."""


# --- one session ------------------------------------------------------------------------------------


class Link:
    """A bound session on a blocking socket; a protocol supplies the PDUs."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.seq = 0
        self._buf = bytearray()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def frame(self) -> bytes:
        """The next whole PDU (both protocols: a 4-octet length first); Gone when there is none."""
        while True:
            if len(self._buf) >= 4:
                length = int.from_bytes(self._buf[:4], "big")
                if length < 12 or length > 1 << 16:
                    raise Gone(f"a frame of {length} octets")
                if len(self._buf) >= length:
                    data = bytes(self._buf[:length])
                    del self._buf[:length]
                    return data
            try:
                chunk = self.sock.recv(65536)
            except OSError as exc:  # reset, or nothing for READ_TIMEOUT seconds
                raise Gone(str(exc)) from None
            if not chunk:
                raise Gone("closed")
            self._buf += chunk

    def check(self) -> None:
        """Gone when the agent closed the session already (killed while we waited for a release):
        what would be written then could never be answered, nor even read."""
        if not select.select([self.sock], [], [], 0)[0]:
            return  # nothing to read: open (a socket with a timeout waits in recv, whatever the flags)
        try:
            peek = self.sock.recv(1, socket.MSG_PEEK)
        except OSError as exc:
            raise Gone(str(exc)) from None
        if not peek and not self._buf:
            raise Gone("closed")

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise Gone(str(exc)) from None

    def response(self) -> tuple[int, int]:
        """(sequence, status) of the next response to one of our requests; the agent's own
        requests met on the way are answered."""
        while True:
            answer = self.handle(self.frame())
            if answer is not None:
                return answer

    # --- the protocol ---

    def bind(self) -> None:
        raise NotImplementedError

    def submit(self, seq: int, i: int, text: str) -> None:
        """Send the submission of message ``i`` (``text``) with sequence number ``seq``."""
        raise NotImplementedError

    def handle(self, data: bytes) -> tuple[int, int] | None:
        raise NotImplementedError


class SmppLink(Link):
    """An ESME bound as transceiver."""

    def bind(self) -> None:
        seq = self.next_seq()
        self.send(smpp.encode(smpp.BIND_TRANSCEIVER, seq, fields={
            "system_id": SYSTEM_ID, "password": SMPP_PASSWORD, "system_type": "", "interface_version": 0x34}))
        got, status = self.response()
        if got == seq and status:
            raise BindRefused(f"bind_transceiver_resp status 0x{status:08X}")

    def submit(self, seq: int, i: int, text: str) -> None:
        self.send(smpp.encode(smpp.SUBMIT_SM, seq, fields={
            "source_addr": "10086", "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": f"86139{i:08d}",
            "data_coding": 0, "short_message": text.encode("ascii")}))

    def handle(self, data: bytes) -> tuple[int, int] | None:
        _, command_id, status, sequence = struct.unpack("!IIII", data[:16])
        if command_id & smpp.RESP_BIT:  # submit_sm_resp, bind_transceiver_resp, generic_nack
            return sequence, status
        if command_id == smpp.ENQUIRE_LINK:
            self.send(smpp.encode(smpp.ENQUIRE_LINK_RESP, sequence))
        elif command_id == smpp.DELIVER_SM:
            self.send(smpp.encode(smpp.DELIVER_SM_RESP, sequence, fields={"message_id": ""}))
        elif command_id == smpp.UNBIND:
            self.send(smpp.encode(smpp.UNBIND_RESP, sequence))
            raise Gone("unbound by the agent")
        else:
            self.send(smpp.generic_nack(sequence, smpp.ESME_RINVCMDID))
        return None


class CmppLink(Link):
    """An SP speaking CMPP 2.0."""

    version = cmpp.V2

    def bind(self) -> None:
        seq = self.next_seq()
        self.send(cmpp_client.encode_connect(seq, SOURCE_ADDR, CMPP_SECRET, int(time.strftime("%m%d%H%M%S")),
                                             self.version))
        while True:
            data = self.frame()
            if struct.unpack("!4xI", data[:8])[0] == cmpp.CONNECT_RESP:
                status = cmpp_client.decode_connect_resp(data, self.version)[0]
                if status:
                    raise BindRefused(f"CMPP_CONNECT_RESP status {status}")
                return
            self.handle(data)

    def submit(self, seq: int, i: int, text: str) -> None:
        self.send(cmpp_client.encode_submit(seq, version=self.version, dest_terminal_ids=[f"86139{i:08d}"],
                                            content=text.encode("ascii"), msg_fmt=cmpp.MSG_FMT_ASCII,
                                            src_id="10086"))

    def handle(self, data: bytes) -> tuple[int, int] | None:
        command_id, sequence = struct.unpack("!4xII", data[:12])
        if command_id == cmpp.SUBMIT_RESP:
            return sequence, cmpp_client.decode_submit_resp(data, self.version)[1]
        if command_id == cmpp.ACTIVE_TEST:
            self.send(struct.pack("!IIIB", 13, cmpp.ACTIVE_TEST_RESP, sequence, 0))
        elif command_id == cmpp.DELIVER:
            msg_id = struct.unpack("!Q", data[12:20])[0]
            self.send(cmpp_client.encode_deliver_resp(sequence, msg_id, 0, self.version))
        elif command_id == cmpp.TERMINATE:
            self.send(struct.pack("!III", 12, cmpp.TERMINATE_RESP, sequence))
            raise Gone("terminated by the agent")
        return None


LINKS: dict[str, type[Link]] = {"smpp": SmppLink, "cmpp": CmppLink}


# --- the submitters ---------------------------------------------------------------------------------


class Released:
    """``clients`` threads, thread ``k`` taking messages ``i`` with ``i % clients == k`` (its
    ``_run(indexes)``), a message only once :meth:`release` let messages up to ``i`` go."""

    def __init__(self, messages: int, clients: int, stop: threading.Event, name: str) -> None:
        self.stop = stop
        self.acknowledged: set[int] = set()
        self.refused: dict[int, object] = {}
        self.error: str | None = None
        self._lock = threading.Condition()
        self._released = 0
        self._threads = [threading.Thread(target=self._run, args=(range(k, messages, clients),), daemon=True,
                                          name=f"{name}-{k}") for k in range(clients)]

    def _run(self, indexes: range) -> None:
        raise NotImplementedError

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def release(self, upto: int) -> None:
        """Let messages ``i < upto`` be submitted."""
        with self._lock:
            self._released = max(self._released, upto)
            self._lock.notify_all()

    def done(self) -> bool:
        return not any(t.is_alive() for t in self._threads)

    def join(self) -> None:
        with self._lock:
            self._lock.notify_all()  # wake those waiting for a release (stop is set)
        for t in self._threads:
            t.join()


class DoorClients(Released):
    """Submitters through ``door``, each message once (the interface of ``crash.Clients``,
    plus :attr:`unanswered` and :attr:`sessions`); ``refused`` maps a message to the
    non-zero status it was answered with."""

    def __init__(self, door: str, port: int, messages: int, clients: int, text_of: Callable[[int], str],
                 stop: threading.Event) -> None:
        super().__init__(messages, clients, stop, f"{door}-client")
        self.link = LINKS[door]
        self.port = port
        self.text_of = text_of
        self.unanswered: set[int] = set()  # submitted, the session died before the response was read
        self.sessions = 0  # sessions bound
        self.in_flight = 0  # submissions written, their responses not read, over all sessions

    def _bound(self) -> Link | None:
        """A new bound session (tried again until the agent answers), None once stopped."""
        while not self.stop.is_set():
            try:
                link = self.link(self.port)
            except OSError:
                self.stop.wait(0.05)  # the agent is down
                continue
            try:
                link.bind()
            except Gone:
                link.close()
                self.stop.wait(0.05)  # killed while binding
                continue
            except BindRefused as exc:
                link.close()
                self.error = str(exc)
                return None
            with self._lock:
                self.sessions += 1
            return link
        return None

    def _run(self, indexes: range) -> None:
        todo = deque(indexes)
        while todo and not self.stop.is_set() and self.error is None:
            link = self._bound()
            if link is None:
                return
            pending: dict[int, int] = {}  # sequence -> message, in the order sent (answered in that order)
            try:
                while (todo or pending) and not self.stop.is_set():
                    if not pending:
                        link.check()
                    while todo and len(pending) < WINDOW and todo[0] < self._released:
                        i = todo.popleft()
                        seq = link.next_seq()
                        pending[seq] = i  # outstanding from before it is written: a write may half succeed
                        with self._lock:
                            self.in_flight += 1
                        link.submit(seq, i, self.text_of(i))
                    if not pending:
                        with self._lock:
                            self._lock.wait_for(lambda: todo[0] < self._released or self.stop.is_set(), 1.0)
                        continue
                    seq, status = link.response()
                    i = pending.pop(seq, -1)
                    if i < 0:
                        continue  # the answer to something else
                    with self._lock:
                        self.in_flight -= 1
                        if status == 0:
                            self.acknowledged.add(i)
                        else:
                            self.refused[i] = status
            except Gone:
                pass
            finally:
                link.close()
                with self._lock:
                    self.unanswered.update(pending.values())
                    self.in_flight -= len(pending)
