"""The CMPP door: the box as an ISMG for SP applications speaking CMPP 2.0 or 3.0.

CMPP_CONNECT: ``Source_Addr`` must be ``[cmpp] source_addr`` and
``AuthenticatorSource`` MD5(Source_Addr + 9 zero octets + ``password`` +
Timestamp); the version byte chooses the field widths of the session (0x2x:
2.0, 0x3x: 3.0).  A wrong address gets Status 2, a wrong authenticator Status
3, a version above 3.x Status 4, then the connection closes.

CMPP_SUBMIT (each of up to 100 ``Dest_terminal_Id``\\s gets the message; one task):
``Msg_Fmt`` 0 ASCII, 8 UCS2, 15 GBK, 4 binary; ``Pk_total``/``Pk_number`` with
``TP_udhi`` for the client's own long messages (kept until complete, see
:mod:`agent.store.doors`), ``Registered_Delivery`` 1 for a status report,
``ValId_Time``/``At_Time`` (absolute or relative), ``Msg_level`` as the priority
(0-9, 9 first).  CMPP_SUBMIT_RESP carries the ``Msg_Id`` only after the commit
(:mod:`agent.doors.ids`: time, then the task).

CMPP_DELIVER for received messages (a long one as TP_udhi parts) and for status
reports (``Registered_Delivery`` 1, the submit's ``Msg_Id``, ``Stat`` DELIVRD,
UNDELIV, EXPIRED, REJECTD), from the outbox, each deleted on CMPP_DELIVER_RESP
with Result 0.  CMPP_ACTIVE_TEST both ways, CMPP_TERMINATE both ways.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from datetime import datetime, timezone

from ..codec import cmpp
from ..codec.parts import split
from ..codec.tpdu_fields import Concat, concat_header
from ..model import NewMessage
from .door import Door
from .feed import Note, Receipt, Received
from .ids import cmpp_msg_id
from .intake import BAD_TEXT, NO_LINE, SYSTEM, THROTTLED, TOO_LONG, Refusal
from .listener import Conn
from .session import BaseSession

log = logging.getLogger(__name__)

CONTENT_MAX = 140  # octets of one CMPP_DELIVER's Msg_Content; a longer MO goes in TP_udhi parts
_NUMBER = re.compile(r"\+?[0-9]{1,21}")
OTHER = 9  # Result "other error"
_REFUSALS = {TOO_LONG: cmpp.SUBMIT_TOO_LONG, BAD_TEXT: cmpp.SUBMIT_BAD_STRUCTURE, NO_LINE: OTHER,
             THROTTLED: cmpp.SUBMIT_FLOW_CONTROL, SYSTEM: OTHER}


class Invalid(Exception):
    def __init__(self, result: int, detail: str) -> None:
        super().__init__(detail)
        self.result = result


class CmppSession(BaseSession):
    header = cmpp.HEADER_SIZE
    max_frame = cmpp.MAX_PDU

    def __init__(self, door: Door, conn: Conn, now: float, *, source_addr: str, secret: str) -> None:
        super().__init__(conn, door.feed, door.timers, door.name, now)
        self._door = door
        self._source_addr = source_addr
        self._secret = secret
        self.version = cmpp.V2
        self.receives = True
        self._deliver_seq = 0

    def bad_frame(self, length: int) -> None:
        self.close(f"a PDU of {length} octets")

    def frame(self, data: bytes, now: float) -> None:
        self.last_rx = now
        try:
            msg = cmpp.decode(data, self.version)
        except cmpp.CmppError as exc:
            self._refuse(exc, now)
            return
        if isinstance(msg, cmpp.Connect):
            self._connect(msg, now)
        elif not self.bound:
            self.close("a command before CMPP_CONNECT")
        elif isinstance(msg, cmpp.Submit):
            self._submit(msg, now)
        elif isinstance(msg, cmpp.DeliverResp):
            self.answered(msg.sequence, msg.result == 0, f"Result {msg.result}")
        elif isinstance(msg, cmpp.ActiveTest):
            self.send(cmpp.encode_active_test_resp(msg.sequence), now)
        elif isinstance(msg, cmpp.ActiveTestResp):
            self.answered(msg.sequence, True)
        elif isinstance(msg, cmpp.Terminate):
            self.send(cmpp.encode_terminate_resp(msg.sequence), now)
            self.bound = False
            self.close("terminated by the client")
        elif isinstance(msg, cmpp.TerminateResp):
            self.answered(msg.sequence, True)
            self.close("terminated")
        elif isinstance(msg, cmpp.Query):
            self.send(cmpp.encode_query_resp(msg.sequence, msg), now)  # no statistics kept: zeros
        elif isinstance(msg, cmpp.Cancel):
            self.send(cmpp.encode_cancel_resp(msg.sequence, False, self.version), now)
        else:
            log.info("cmpp: %s sent command 0x%08X, not served", self.conn.peer, getattr(msg, "command_id", 0))

    def _refuse(self, exc: cmpp.CmppError, now: float) -> None:
        log.info("cmpp: %s sent a PDU that cannot be read: %s", self.conn.peer, exc)
        if exc.command_id == cmpp.SUBMIT and self.bound:
            self.send(cmpp.encode_submit_resp(exc.sequence, 0, exc.result, self.version), now)
        elif exc.command_id == cmpp.CONNECT:
            self.send(cmpp.encode_connect_resp(exc.sequence, 1, bytes(16), cmpp.V2), now)
            self.close("a CMPP_CONNECT that cannot be read")
        elif not self.bound:
            self.close("a PDU that cannot be read before CMPP_CONNECT")

    def _connect(self, msg: cmpp.Connect, now: float) -> None:
        if self.bound:
            self.send(cmpp.encode_connect_resp(msg.sequence, 1, bytes(16), self.version), now)
            return
        agreed = cmpp.agreed_version(msg.version)
        version = agreed or cmpp.V2
        status = 0
        if agreed is None:
            status = 4 if msg.version > 0x3F else 1
        elif not hmac.compare_digest(msg.source_addr.encode("latin-1", "replace"),
                                     self._source_addr.encode("latin-1")):
            status = 2
        else:
            expected = cmpp.authenticator_source(self._source_addr, self._secret, msg.timestamp)
            if not hmac.compare_digest(expected, msg.authenticator):
                status = 3
        if status:
            what = {1: f"version 0x{msg.version:02X}", 2: "unknown Source_Addr", 3: "wrong authenticator",
                    4: f"version 0x{msg.version:02X} too high"}[status]
            delay = self._door.login_failed(self.conn.peer, what)
            self.refuse_login(cmpp.encode_connect_resp(msg.sequence, status, bytes(16), version), now, delay,
                              "connect refused")
            return
        self.version = version
        self.bound = True
        ismg = cmpp.authenticator_ismg(0, msg.authenticator, self._secret, version)
        self.send(cmpp.encode_connect_resp(msg.sequence, 0, ismg, version), now)
        log.info("cmpp: %s connected (CMPP %s)", self.conn.peer, "3.0" if version == cmpp.V3 else "2.0")
        self.feed.dirty = True

    # --- CMPP_SUBMIT ----------------------------------------------------------------------------

    def _submit(self, msg: cmpp.Submit, now: float) -> None:
        try:
            messages, concat = self._messages(msg)
            if concat is None or concat[1] == 1:
                taken = self._door.intake.whole(messages)
                part = 0
            else:
                ref, total, part = concat
                key = f"{msg.src_id}|{','.join(m.recipient for m in messages)}|{ref}|{total}"
                taken = self._door.intake.part(key, part, total, messages)
        except (Invalid, Refusal) as exc:
            result = exc.result if isinstance(exc, Invalid) else _REFUSALS[exc.kind]
            self.send(cmpp.encode_submit_resp(msg.sequence, 0, result, self.version), now)
            self._door.answered(result, now, time.monotonic())
            log.info("cmpp: CMPP_SUBMIT refused from %s: %s", self.conn.peer, exc)
            return
        self.submitted += 1
        msg_id = cmpp_msg_id(taken.task_id, part, taken.created)
        self.send(cmpp.encode_submit_resp(msg.sequence, msg_id, 0, self.version), now)
        self._door.answered(0, now, time.monotonic())

    def _messages(self, msg: cmpp.Submit) -> tuple[list[NewMessage], tuple[int, int, int] | None]:
        recipients = []
        for dest in msg.dest_terminal_ids:
            dest = dest.strip()
            if not _NUMBER.fullmatch(dest):
                raise Invalid(cmpp.submit_bad_dest(self.version), f"Dest_terminal_Id {dest!r}")
            recipients.append(dest)
        content = msg.content
        concat = None
        if msg.tp_udhi:
            try:
                udh, content = cmpp.split_udhi(content)
            except cmpp.CodingError as exc:
                raise Invalid(cmpp.SUBMIT_BAD_STRUCTURE, str(exc)) from None
            if udh is not None:
                concat = (udh.ref | (udh.ref_bits << 16), udh.total, udh.seq)
        if concat is None and msg.pk_total > 1:
            concat = (0, msg.pk_total, msg.pk_number)
        try:
            text, encoding = cmpp.decode_content(msg.msg_fmt, content)
        except ValueError as exc:
            raise Invalid(cmpp.SUBMIT_BAD_STRUCTURE, f"Msg_Fmt {msg.msg_fmt}: {exc}") from None
        if not text:
            raise Invalid(cmpp.SUBMIT_BAD_LENGTH, "no content")
        now = datetime.now(timezone.utc)
        try:
            expires = cmpp.parse_time(msg.valid_time, now)
            scheduled = cmpp.parse_time(msg.at_time, now)
        except ValueError as exc:
            raise Invalid(cmpp.SUBMIT_BAD_STRUCTURE, f"ValId_Time/At_Time: {exc}") from None
        if expires is not None and (expires <= now or (scheduled is not None and expires <= scheduled)):
            raise Invalid(cmpp.SUBMIT_BAD_STRUCTURE, "ValId_Time has passed")
        messages = [NewMessage(recipient=r, text=text, encoding=encoding, priority=min(msg.msg_level, 9),
                               status_report=msg.registered_delivery == 1, scheduled=scheduled, expires=expires,
                               originator=msg.src_id[:20]) for r in recipients]
        return messages, concat

    # --- CMPP_DELIVER ----------------------------------------------------------------------------------

    def _next_deliver_id(self) -> int:
        self._deliver_seq = (self._deliver_seq + 1) & 0xFFFF
        return cmpp.pack_msg_id(datetime.now(self._door.tz), 0, self._deliver_seq)

    def _deliver_pdus(self, note: Note) -> list[bytes]:
        if isinstance(note, Receipt):
            return [cmpp.encode_report(
                0, msg_id=self._next_deliver_id(), dest_id=_ascii(note.originator), service_id="",
                src_terminal_id=_ascii(note.recipient), report_msg_id=cmpp_msg_id(note.task_id, note.part,
                                                                                  note.submitted),
                stat=note.stat[:7], submit_time=note.submitted, done_time=note.done,
                dest_terminal_id=_ascii(note.recipient), smsc_sequence=0, version=self.version)]
        assert isinstance(note, Received)
        fmt, content = cmpp.encode_content(note.text, note.encoding)
        if len(content) <= CONTENT_MAX:
            bodies = [content]
        else:  # TP_udhi parts cut by the SMS rules (a surrogate pair stays whole), in the whole text's Msg_Fmt
            texts = split(note.text, encoding="ucs2" if fmt == cmpp.MSG_FMT_UCS2 else "8bit", max_parts=255)
            ref = hash((note.originator, note.text, note.received)) & 0xFF
            bodies = [concat_header(Concat(ref, len(texts), i)) + _content(text, fmt)
                      for i, text in enumerate(texts, start=1)]
        return [cmpp.encode_deliver(0, msg_id=self._next_deliver_id(), dest_id=_ascii(note.number), service_id="",
                                    src_terminal_id=_ascii(note.originator), msg_fmt=fmt, content=body,
                                    tp_udhi=int(len(bodies) > 1), version=self.version) for body in bodies]

    def _keepalive(self) -> bytes:
        return cmpp.encode_active_test(0)

    def _goodbye_pdu(self) -> bytes:
        return cmpp.encode_terminate(0)


def _ascii(text: str, size: int = 21) -> str:
    """A number for a fixed-width CMPP field: printable ASCII only, cut to ``size``."""
    return "".join(c for c in text if " " <= c <= "~")[:size]


def _content(text: str, fmt: int) -> bytes:
    """A part's text in the Msg_Fmt the whole message was given."""
    return text.encode({cmpp.MSG_FMT_UCS2: "utf-16-be", cmpp.MSG_FMT_ASCII: "ascii"}.get(fmt, "latin-1"))


def session_factory(source_addr: str, secret: str):
    """Sessions of the CMPP door with these credentials."""
    def make(door: Door, conn: Conn, now: float) -> CmppSession:
        return CmppSession(door, conn, now, source_addr=source_addr, secret=secret)
    return make
