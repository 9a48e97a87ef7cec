"""The vocabulary every layer speaks: plain values, no I/O, no behaviour beyond
a property or two.  It sits on the ground floor: the codecs are below it,
and every other part (modem lines, the store, the core, the dialects, the
transports) may import it, while it imports none of them.

* A line: its :class:`LineState` snapshot (replaced, never mutated, by its
  worker, so any thread reads it without locking), the :class:`OutgoingSms`
  handed to it and the :class:`SendResult` it gives back, and what it
  receives (:class:`IncomingSms`, :class:`DeliveryReport`,
  :class:`CallRecord`, :class:`UssdReply`) through a :class:`LineEvents` sink.
* A submission: the :class:`NewMessage` a dialect accepted and the
  :class:`Accepted` ids the queue gave it; the outcomes of a send (``SENT``,
  ``FAILED``, ``RETRY``, ``RELEASE``) and the failure causes the queue records.
* A webhook: the :class:`PushRequest` a dialect's :data:`Formatter` makes of
  an event, which the webhook transport carries; an MQTT :class:`Publication`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .codec.pdu import Deliver, StatusReport, Submit

# --- a line -------------------------------------------------------------------------------

# LineState.state values
STARTING = "starting"  # opening the port / initialising
READY = "ready"  # idle, can take a message
BUSY = "busy"  # sending, or running a command for someone
RECOVERING = "recovering"  # climbing the recovery ladder
OFFLINE = "offline"  # quarantined: the port is gone or the modem does not answer
DISABLED = "disabled"  # turned off by an operator
STOPPED = "stopped"


@dataclass(frozen=True)
class LineState:
    """A snapshot of one line, replaced (never mutated) by its worker.

    Readable from any thread without locking: the worker swaps the whole
    object in one assignment.
    """

    name: str
    device: str  # the path of the port in use
    state: str = STARTING
    profile: str = ""
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    imei: str = ""
    imsi: str = ""
    iccid: str = ""
    number: str = ""
    sim: str = ""  # +CPIN answer: READY, SIM PIN, NOT INSERTED...
    rssi: int | None = None  # 0..31 as +CSQ gives it, None when unknown (99)
    signal_dbm: int | None = None
    registered: bool = False
    registration: int | None = None  # +CREG stat: 0 none, 1 home, 2 searching, 3 denied, 5 roaming
    operator: str = ""
    recovery_step: str = ""  # which rung of the recovery ladder is being tried, "" when healthy
    last_error: str = ""
    last_error_at: datetime | None = None
    last_send_at: datetime | None = None
    sent_parts: int = 0  # since the worker started
    failed_parts: int = 0
    received: int = 0
    updated_at: datetime | None = None

    @property
    def can_send(self) -> bool:
        return self.state == READY and self.registered


@dataclass(frozen=True)
class OutgoingSms:
    """One message for one recipient.  ``id`` is the caller's, echoed in the result."""

    id: Any
    recipient: str
    text: str = ""
    encoding: str | None = None  # None: GSM-7 when every character fits, else UCS2
    data: bytes | None = None  # 8-bit payload instead of text
    status_report: bool = True
    flash: bool = False
    validity_minutes: int | None = 1440


# SendResult.outcome values (and the queue's Outcome.outcome, with RELEASE)
SENT = "sent"  # every part accepted by the network (+CMGS)
FAILED = "failed"  # permanent: do not retry (bad number, barred...)
RETRY = "retry"  # temporary: route again, maybe on another line
RELEASE = "release"  # never started (the line stopped first): back to waiting, no error counted

# +CMS ERROR codes worth another try (TS 27.005 3.2.5 and vendor practice):
# network out of order, temporary failure, congestion, resources unavailable,
# no network service, network timeout, unknown error, SIM busy, SMSC timeout.
TEMPORARY_CMS = frozenset({38, 41, 42, 47, 331, 332, 500, 512, 513, 514, 515, 532, 14, 305})


@dataclass(frozen=True)
class SendResult:
    id: Any
    line: str
    outcome: str  # SENT / FAILED / RETRY
    references: tuple[int, ...] = ()  # TP-MR of each part the network accepted, in order
    parts: int = 0  # parts the message needed
    error_code: int | None = None  # CMS/CME code when the modem gave one
    error: str = ""  # words for people and logs
    in_doubt: bool = False  # some part may have gone out although we report no success
    at: datetime | None = None
    # The agent's stop cut the send short while the modem had the message: it
    # may have gone out.  No outcome is recorded: the row stays 'Q' and is
    # resolved at the next start (from the modem's memory with send_mode = store).
    interrupted: bool = False
    # send_mode = store: where the parts are in the modem's storage ("SM:3"), to be
    # deleted once the outcome is on disk.
    stored: tuple[str, ...] = ()


@dataclass(frozen=True)
class PartSent:
    """One part of a message the network accepted, told as soon as it left
    (before the next part is sent and before any status report is read)."""

    message_id: Any
    line: str
    seq: int  # 1-based
    reference: int  # TP-MR; -1 when the modem did not say
    total: int  # parts of the message


@dataclass(frozen=True)
class IncomingSms:
    """A PDU read from the modem's storage.

    ``message`` is the decoded PDU, or None when it could not be decoded
    (``error`` says why): an undecodable PDU is handed over raw, never dropped.
    """

    line: str
    pdu: str
    message: Deliver | Submit | StatusReport | None
    error: str = ""
    storage: str = ""
    index: int | None = None
    received_at: datetime | None = None
    # The line's own name for this message when it has one (a GoIP box's receive id):
    # a message handed over again under the same key and text is stored once.
    key: str = ""


@dataclass(frozen=True)
class DeliveryReport:
    line: str
    reference: int
    status: int  # TP-Status: 0x00-0x1F delivered, 0x20-0x3F still trying, 0x40+ failed
    recipient: str
    scts: datetime | None
    discharge_time: datetime | None
    pdu: str
    received_at: datetime | None = None

    @property
    def delivered(self) -> bool:
        return self.status < 0x20

    @property
    def final(self) -> bool:
        """False while the SMSC is still trying (0x20-0x3F)."""
        return not (0x20 <= self.status < 0x40)


@dataclass(frozen=True)
class CallRecord:
    line: str
    caller: str  # "" when withheld or not shown
    started_at: datetime
    rings: int = 1


@dataclass(frozen=True)
class UssdReply:
    line: str
    code: str
    status: int  # +CUSD <m>: 0 done, 1 more action needed, 2 released, 4 not supported, 5 timeout
    text: str


class LineEvents(Protocol):
    """Where a worker hands what it receives.  Called in the worker's thread.

    ``on_sms`` and ``on_report`` must store durably before returning: the
    worker deletes the message from the modem only after they return, and
    leaves it there (to be read again later) if they raise.  ``on_part_sent``
    is called for each part as soon as the network accepted it, before the
    next part is sent and before any status report received meanwhile is
    handed over, so that a report always finds the part it reports on.
    """

    def on_part_sent(self, part: PartSent) -> None: ...

    def on_stored(self, message_id: Any, line: str, locations: tuple[str, ...]) -> bool:
        """send_mode = store: record durably where the parts of a message being
        sent were written; False when it is not being sent (then it is not sent)."""
        ...

    def unresolved(self, line: str) -> list[tuple[Any, list[str]]]:
        """send_mode = store: the messages an earlier run left being sent on
        ``line``, with where their parts are in its storage."""
        ...

    def on_resolved(self, result: SendResult) -> None:
        """send_mode = store: what the modem's memory says of such a message
        (SENT; RETRY ``interrupted`` when nothing was sent; RETRY ``in_doubt``
        when it cannot tell), recorded durably before the stored copy is deleted."""
        ...

    def on_sms(self, sms: IncomingSms) -> None: ...

    def on_report(self, report: DeliveryReport) -> None: ...

    def on_call(self, call: CallRecord) -> None: ...

    def on_state(self, state: LineState) -> None: ...


class Line(Protocol):
    """What the router, the core and the wiring use of a line, whatever drives it
    (a modem's worker thread, a channel of a GoIP box)."""

    name: str
    started: Any  # a threading.Event set once the line has finished starting (ready or given up)
    heartbeat: Any  # the watchdog's, set before start()

    @property
    def state(self) -> LineState: ...

    @property
    def alive(self) -> bool: ...

    def start(self) -> None: ...

    def wake(self) -> None: ...

    def join(self, timeout: float | None = None) -> bool: ...

    def submit(self, msg: OutgoingSms) -> Any: ...  # a Future[SendResult]

    def ussd(self, code: str, timeout: float = 30.0) -> Any: ...  # a Future[UssdReply]

    def reset_modem(self) -> Any: ...  # a Future[None]

    def set_enabled(self, enabled: bool) -> None: ...

    def forget_stored(self, locations: tuple[str, ...]) -> None: ...


@dataclass
class NullEvents:
    """A sink that keeps everything in lists: for the simulator demo and tests."""

    sms: list[IncomingSms] = field(default_factory=list)
    reports: list[DeliveryReport] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    parts: list[PartSent] = field(default_factory=list)

    def on_part_sent(self, part: PartSent) -> None:
        self.parts.append(part)

    def on_stored(self, message_id: Any, line: str, locations: tuple[str, ...]) -> bool:
        return True

    def unresolved(self, line: str) -> list[tuple[Any, list[str]]]:
        return []

    def on_resolved(self, result: SendResult) -> None:
        pass

    def on_sms(self, sms: IncomingSms) -> None:
        self.sms.append(sms)

    def on_report(self, report: DeliveryReport) -> None:
        self.reports.append(report)

    def on_call(self, call: CallRecord) -> None:
        self.calls.append(call)

    def on_state(self, state: LineState) -> None:
        pass

# --- submissions ---------------------------------------------------------------------------

# failure_cause values of a failed message (Jindi's), plus EXPIRED (validity passed before a line took it).
BAD_NUMBER = "BAD_NUMBER"
BAD_FORMAT = "BAD_FORMAT"
GATEWAY_FAILURE = "GATEWAY_FAILURE"
NO_ROUTE = "NO_ROUTE"
UNKNOWN = "UNKNOWN"
EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class NewMessage:
    """One message for one recipient, as a dialect accepted it.

    ``encoding`` is Jindi's: '7' GSM-7 (UCS2 when the text does not fit),
    '8' 8-bit, 'U' UCS2.  ``gateway`` '*' or a line name; ``scheduled`` and
    ``expires`` aware, or naive in the store's time zone.  ``parts`` None:
    the store counts them."""

    recipient: str
    text: str = ""
    encoding: str = "7"
    gateway: str = "*"
    provider: str = ""
    priority: int = 0
    status_report: bool = True
    flash: bool = False
    scheduled: datetime | None = None
    expires: datetime | None = None
    client_ref: str = ""
    user_id: str = ""
    originator: str = ""
    parts: int | None = None


@dataclass(frozen=True)
class Accepted:
    """The ids of the rows of one submission (consecutive), and its task id if one was made.

    ``duplicate``: the submission's (source, client_ref) had been used before;
    these are the first submission's ids and task, and nothing new was queued."""

    ids: list[int]
    task_id: int | None
    duplicate: bool = False
    created: float | None = None  # epoch the rows were made (the task's ``created``); None for a duplicate


# --- webhooks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushRequest:
    """One HTTP request: ``method`` ('GET', 'POST'...), an http(s) ``url``, the body and headers."""

    method: str
    url: str
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Publication:
    """One MQTT message to publish: ``topic`` relative to the box's prefix, and its payload."""

    topic: str
    payload: bytes


# A dialect's webhook formatter: (event kind, payload) -> the request to make, or None to skip the event.
Formatter = Callable[[str, dict[str, Any]], "PushRequest | None"]
