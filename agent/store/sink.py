"""The line-event sink: what the modem lines receive and do, written to the store.

Called in each line's own thread.  Everything a line receives is stored
durably before the call returns (the line deletes it from the modem only
then); each part a line sends is recorded before the next is sent, so a
status report always finds its part; line states are written when something
a person reads changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..model import RELEASE, SENT, CallRecord, DeliveryReport, IncomingSms, LineState, PartSent, SendResult
from .queue import Store
from .records import Outcome

log = logging.getLogger(__name__)


def _nothing() -> None:
    pass


class LineSink:
    """The line-event sink (:class:`~agent.model.LineEvents`): everything a line
    receives is stored durably before the line deletes it from the modem;
    ``wake_outbox`` is called after each write that makes outbox rows, and
    ``wake_router`` when a line becomes usable or a send is settled."""

    def __init__(self, store: Store, providers: dict[str, str], *, report_window_hours: float = 72.0,
                 wake_router: Callable[[], None] = _nothing, wake_outbox: Callable[[], None] = _nothing) -> None:
        self.store = store
        self._wake_router = wake_router
        self._wake_outbox = wake_outbox
        self._providers = providers
        self._window = report_window_hours
        self._seen: dict[str, tuple] = {}
        self._lock = threading.Lock()
        # Rows last changed before this (epoch) were left by an earlier run.
        self.started_at = time.time()

    def on_sms(self, sms: IncomingSms) -> None:
        self.store.inbox.store_sms(sms, window_hours=self._window)
        self._wake_outbox()

    def on_part_sent(self, part: PartSent) -> None:
        self.store.dispatch.record_part(part.message_id, part.seq, part.line, part.reference)

    def on_stored(self, message_id: Any, line: str, locations: tuple[str, ...]) -> bool:
        return self.store.dispatch.record_stored(message_id, locations)

    def unresolved(self, line: str) -> list[tuple[Any, list[str]]]:
        return self.store.dispatch.unresolved(line, before=self.started_at)

    def on_resolved(self, result: SendResult) -> None:
        if result.outcome == SENT:
            outcome = Outcome(result.id, result.line, "", "sent", result.references, result.parts)
        else:  # nothing went out, or it cannot be told (in doubt: the parts that may have left stay counted)
            outcome = Outcome(result.id, result.line, "", RELEASE, result.references if result.in_doubt else (),
                              result.parts, in_doubt=result.in_doubt)
        self.store.dispatch.record_outcomes([outcome], durable=True)
        self._wake_outbox()
        self._wake_router()

    def on_report(self, report: DeliveryReport) -> None:
        self.store.inbox.store_report(report, window_hours=self._window)
        self._wake_outbox()

    def on_call(self, call: CallRecord) -> None:
        self.store.inbox.store_call(call)
        self._wake_outbox()

    def on_state(self, state: LineState) -> None:
        # Busy/ready flips and counters change at every send: the snapshot in
        # the database is written only when something a person reads changed.
        key = (state.state if state.state not in ("busy", "ready") else "ready", state.registered, state.iccid,
               state.imei, state.operator, state.signal_dbm, state.last_error, state.device, state.recovery_step)
        with self._lock:
            changed = self._seen.get(state.name) != key
            self._seen[state.name] = key
        if changed:
            try:
                self.store.sims.update_line(state, provider=self._providers.get(state.name, ""))
            except Exception:
                log.exception("%s: could not store the line state", state.name)
        if state.can_send:
            self._wake_router()
