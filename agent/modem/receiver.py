"""What a line worker does with unsolicited result codes.

Runs in the line's thread, on its :class:`~agent.modem.line.Line` (session,
URC queue, sink): reads messages announced by ``+CMTI``/``+CDSI``, decodes
direct ``+CMT``/``+CDS`` deliveries, folds ``RING``/``+CLIP`` into one call
record per call and hangs up, and notices a modem that restarted on its own
(:attr:`Receiver.restarted`).

Storage rule: a stored message is deleted from the modem only after the sink
returned; if the sink raises, the message stays and the next sweep (every
health check) hands it over again.  An undecodable PDU is handed over raw.
With :attr:`Receiver.keep_stored_submits` (the line sends with ``send_mode =
store``) the sweep leaves the messages the host wrote (stat 2 "STO UNSENT"
and 3 "STO SENT") alone: they are the line's own outgoing parts, resolved and
deleted by the sender.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from ..codec import at, pdu
from ..codec.pdu import StatusReport
from ..errors import AtParseError, PduError
from .line import Line
from .storage import Stored
from ..model import CallRecord, DeliveryReport, IncomingSms

log = logging.getLogger(__name__)

RING_CODES = frozenset({"RING", "+CRING"})
# How long to wait for +CLIP after RING before recording a call with no number.
CLIP_WAIT = 2.0
# RINGs this soon after we hung up belong to the call just ended.
CALL_QUIET = 5.0
# <stat> of the messages the host wrote with AT+CMGW (27.005 3.1): unsent, sent.
STORED_SUBMIT_STATS = frozenset({2, 3})


class Receiver:
    def __init__(self, line: Line, *, keep_stored_submits: bool = False) -> None:
        self._line = line
        # True: the sweep leaves messages of stat 2/3 (the host's own AT+CMGW writes) on the modem.
        self.keep_stored_submits = keep_stored_submits
        self._call_started: datetime | None = None
        self._call_caller: str | None = None
        self._call_rings = 0
        self._call_deadline = math.inf
        self._quiet_until = -math.inf
        # A restart banner came: the modem lost its settings and must be initialised
        # again.  Set here; cleared by whoever initialises it.
        self.restarted = False

    def due(self) -> float:
        """Monotonic time at which a ringing call must be recorded even without a caller id."""
        return self._call_deadline

    # --- URCs -------------------------------------------------------------------

    def handle_urcs(self) -> None:
        """Act on every queued URC, then finish a call whose caller is known or whose wait ran out."""
        urcs = self._line.urcs
        while urcs:
            urc = urcs.popleft()
            try:
                self._handle(urc)
            except (AtParseError, ValueError) as exc:
                log.warning("%s: cannot use %r: %s", self._line.name, urc.line, exc)
        if self._call_started is not None and (self._call_caller is not None
                                               or self._line.clock() >= self._call_deadline):
            self._finish_call()

    def note_resets(self) -> None:
        """Flag a re-initialisation if a restart banner is queued (other URCs stay queued)."""
        for urc in list(self._line.urcs):
            if at.is_reset_urc(urc.line):
                self._line.urcs.remove(urc)
                self.restarted = True

    def drop_resets(self) -> None:
        """Forget restart banners that arrived while initialising: they are already dealt with."""
        for urc in list(self._line.urcs):
            if at.is_reset_urc(urc.line):
                self._line.urcs.remove(urc)

    def _handle(self, urc) -> None:  # type: ignore[no-untyped-def]
        name = urc.name
        if at.is_reset_urc(urc.line):
            self.restarted = True
        elif name == "+CMTI":
            storage, index = at.parse_cmti(urc.line)
            self._read_stored(storage, index)
        elif name == "+CDSI":
            storage, index = at.parse_cdsi(urc.line)
            self._read_stored(storage, index)
        elif name in ("+CMT", "+CDS"):
            self._hand(Stored("", -1, None, (urc.pdu or "").strip()), stored=False)
        elif name in RING_CODES:
            self._ring(None)
        elif name == "+CLIP":
            self._ring(at.parse_clip(urc.line))
        else:
            log.debug("%s: URC ignored: %s", self._line.name, urc.line)

    # --- messages --------------------------------------------------------------------

    def sweep(self) -> None:
        """Hand over everything stored in the default storage (``AT+CMGL=4``), but
        the line's own written messages when :attr:`keep_stored_submits` is set."""
        session = self._line.session
        assert session is not None
        storage = session.storage
        storage.use(storage.mem1 if storage.mem1 != "SR" else "SM")
        for item in storage.list_stored():
            if self.keep_stored_submits and item.stat in STORED_SUBMIT_STATS:
                log.debug("%s: %s/%d is one of our stored messages (stat %d): left for the sender",
                          self._line.name, item.storage, item.index, item.stat)
                continue
            self._hand(item, stored=True)

    def _read_stored(self, storage: str, index: int) -> None:
        session = self._line.session
        assert session is not None
        session.storage.use(storage)
        item = session.storage.read(index)
        if item is None:
            log.debug("%s: %s/%d is empty", self._line.name, storage, index)
            return
        if self.keep_stored_submits and item.stat in STORED_SUBMIT_STATS:
            log.warning("%s: %s/%d was announced but holds one of our stored messages: left alone",
                        self._line.name, storage, index)
            return
        self._hand(item, stored=True)

    def _hand(self, item: Stored, *, stored: bool) -> None:
        """Decode and give one PDU to the sink; delete it from the modem once the sink returned."""
        line = self._line
        received = line.now()
        try:
            msg = pdu.decode(item.pdu)
            error = ""
        except PduError as exc:
            msg, error = None, str(exc)
            log.warning("%s: undecodable PDU %s: %s (handed over raw)", line.name, item.pdu, exc)
        try:
            if isinstance(msg, StatusReport):
                line.events.on_report(DeliveryReport(line.name, msg.reference, msg.status, msg.recipient, msg.scts,
                                                     msg.discharge_time, item.pdu, received))
            else:
                line.events.on_sms(IncomingSms(line.name, item.pdu, msg, error, item.storage,
                                               item.index if stored else None, received))
                line.set(received=line.state.received + 1)
        except Exception:
            log.exception("%s: the sink refused a message; it stays on the modem for the next sweep", line.name)
            return
        if stored and line.session is not None:
            line.session.storage.use(item.storage)
            line.session.storage.delete(item.index)

    # --- calls ------------------------------------------------------------------------------

    def _ring(self, caller: str | None) -> None:
        line = self._line
        now = line.clock()
        if now < self._quiet_until:
            return
        if self._call_started is None:
            self._call_started = line.now()
            self._call_deadline = now + CLIP_WAIT
            self._call_rings = 0
            self._call_caller = None
        if caller is None:
            self._call_rings += 1
        else:
            self._call_caller = caller

    def _finish_call(self) -> None:
        line = self._line
        assert self._call_started is not None
        record = CallRecord(line.name, self._call_caller or "", self._call_started, max(1, self._call_rings))
        self._call_started = None
        self._call_caller = None
        self._call_deadline = math.inf
        self._quiet_until = line.clock() + CALL_QUIET
        log.info("%s: call from %s, hanging up", line.name, record.caller or "a withheld number")
        if line.session is not None:
            line.session.hang_up()
        try:
            line.events.on_call(record)
        except Exception:
            log.exception("%s: the sink refused a call record", line.name)
