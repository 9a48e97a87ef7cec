"""What the API dialects may ask of the agent: one facade over store, lines and router.

A dialect module (``agent/api/<dialect>.py``) translates its wire format into
calls on :class:`Core` and the results back into its replies; the core never
imports a dialect.  Every submission is one durable transaction (the reply
may be sent once :meth:`Core.submit` returns) and wakes the router at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Mapping, Sequence

from .config import LineConfig
from .errors import LineOffline, UnknownLine
from .limits import LineLimits
from .lineview import LineView, line_views
from .model import Accepted, NewMessage, UssdReply
from .store.doors import DoorTask, PartTaken
from .store.queue import JournalItem, Store

if TYPE_CHECKING:
    from .modem.bank import ModemBank
    from .sim.bank import SimBank


class Core:
    def __init__(self, store: Store, bank: ModemBank, lines: Sequence[LineConfig], *,
                 wake_router: Callable[[], None] = lambda: None, sim: SimBank | None = None,
                 limits: LineLimits | None = None, max_parts: int = 10) -> None:
        self.store = store
        # The most SMS parts one message may need ([modems] max_parts): every dialect refuses longer texts.
        self.max_parts = max_parts
        self.bank = bank
        self.lines: Mapping[str, LineConfig] = {line.name: line for line in lines}
        self._wake_router = wake_router
        self.sim = sim  # the simulated bank, when the agent runs on one
        self.limits = limits or LineLimits(store, self.lines)
        # The MQTT uplink when one runs: duck-typed (connected, connected_since, stats()) for the status page.
        self.uplink: Any = None

    # --- lines ------------------------------------------------------------------------

    def line_names(self) -> list[str]:
        """Every configured line, in configuration order."""
        return list(self.lines)

    def providers(self) -> set[str]:
        """Every provider group some line belongs to."""
        return self.limits.providers()

    def lines_view(self, *, counts_today: bool = True) -> list[LineView]:
        """Every configured line as the readers show it (:class:`~agent.lineview.LineView`),
        in configuration order: the bank's live snapshots, the SIM counters, the limits
        and provider groups in force, and (with ``counts_today``) the messages sent and
        failed today; without, those read None and their query is skipped."""
        today = self.store.status.line_counts_today() if counts_today else None
        states = {s.name: s for s in self.bank.states()}
        snapshots = [states[name] for name in self.lines]
        return line_views(snapshots, counters=self.store.sims.sim_counters([s.iccid for s in snapshots if s.iccid]),
                          limits={name: self.limits.get(name) for name in self.lines},
                          providers={name: self.limits.provider(name) for name in self.lines}, today=today)

    def line_state(self, name: str) -> str:
        """The live state word of line ``name`` (``ready``, ``disabled``...).  UnknownLine if unknown."""
        self._line(name)
        return self.bank[name].state.state

    def quota_left(self, provider: str | None = None) -> int | None:
        """SMS parts the box may still send today: summed over every line (over
        the lines of provider group ``provider`` when given), None when one of
        them is unlimited.  A line counts whatever its state: this is quota,
        not capacity.  An unknown group has 0."""
        total = 0
        for info in self.lines_view(counts_today=False):
            if provider is not None and info.provider != provider:
                continue
            if info.left is None:
                return None
            total += info.left
        return total

    def quotas_by_provider(self) -> dict[str, int | None]:
        """:meth:`quota_left` of every provider group ('' for lines in none), in
        configuration order of their first line."""
        out: dict[str, int | None] = {}
        for info in self.lines_view(counts_today=False):
            if info.provider in out and out[info.provider] is None:
                continue
            left = info.left
            out[info.provider] = None if left is None else (out.get(info.provider) or 0) + left
        return out

    # --- the queue and the database, read-only ----------------------------------------------

    def queue_depths(self) -> dict[str, int]:
        """Messages by status 'U', 'Q', 'S', 'F', and 'sent_today' / 'failed_today' (since local midnight)."""
        return self.store.queue_depths()

    def outbox_stats(self) -> dict[str, dict[str, Any]]:
        """Every push destination's backlog: ``pending``, ``dropped``, ``oldest`` (see the store's outbox)."""
        return self.store.outbox.stats()

    def recent_received(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest ``limit`` received messages, newest first (see :mod:`agent.store.status`)."""
        return self.store.status.recent_received(limit)

    def recent_failures(self, limit: int = 20) -> list[dict[str, Any]]:
        """The ``limit`` most recently failed messages of the last week, newest first."""
        return self.store.status.recent_failures(limit)

    def recent_calls(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest ``limit`` incoming calls, newest first (see :mod:`agent.store.status`)."""
        return self.store.status.recent_calls(limit)

    def check_database(self, timeout: float = 2.0) -> str:
        """The health check: '' when the database takes a write (nothing is changed),
        else why not; waits at most ``timeout`` seconds for another writer."""
        return self.store.status.writable(timeout)

    @property
    def database_path(self) -> Path:
        """The database file (its file system's free space is worth showing)."""
        return self.store.path

    # --- sending -----------------------------------------------------------------------

    def submit(self, messages: Sequence[NewMessage], *, task: bool = False, source: str,
               client_ref: str = "") -> Accepted:
        """Queue ``messages`` (one per recipient) durably and wake the router.

        With a ``client_ref`` already used by the same ``source``, nothing new
        is queued: the original submission is returned (``duplicate`` set)
        when the messages are the same, else :class:`~agent.errors.DuplicateRequest`
        is raised (the dialect answers its "conflict").
        """
        accepted = self.store.enqueue(messages, task=task, source=source, client_ref=client_ref)
        if not accepted.duplicate:
            self._wake_router()
        return accepted

    def submit_part(self, door: str, key: str, *, part: int, total: int, messages: Sequence[NewMessage],
                    window: float) -> PartTaken:
        """Commit part ``part`` of ``total`` of a message a binary door's client
        split itself (see :mod:`agent.store.doors`); the part that completes the
        set queues the whole text, and wakes the router."""
        m = messages[0]
        taken = self.store.doors.add_part(door, key, part=part, total=total, text=m.text, encoding=m.encoding,
                                          messages=messages, window=window)
        if taken.queued is not None:
            self._wake_router()
        return taken

    def flush_parts(self, older_than: float) -> int:
        """Queue the split messages whose parts stopped coming ``older_than`` seconds ago."""
        queued = self.store.doors.flush_stale(older_than)
        if queued:
            self._wake_router()
        return queued

    def door_task(self, task_id: int) -> DoorTask | None:
        """When task ``task_id`` was made, by which door, and the parts its client sent one by one."""
        return self.store.doors.task(task_id)

    def message(self, msg_id: int) -> dict[str, Any] | None:
        return self.store.message(msg_id)

    def messages_by_task(self, task_id: int) -> list[dict[str, Any]]:
        return self.store.messages_by_task(task_id)

    # --- receiving ------------------------------------------------------------------------

    def read_inbox(self, consumer: str, *, line: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Received messages (``smsserver_in`` rows of type 'I') not returned to
        ``consumer`` before, oldest first, optionally of one line; they count
        as read for that consumer only."""
        return self.store.reads.read_inbox(consumer, line=line, limit=limit)

    def read_journal(self, consumer: str, kinds: Collection[str], *, limit: int = 500,
                     since: float | None = None, sent_results: bool = True) -> list[JournalItem]:
        """What happened since ``consumer`` last asked: delivery results
        (``result``), receipts (``receipt``) and received messages (``mo``), as the payloads of
        :mod:`agent.store.outbox`, oldest first, each returned to a consumer
        once (committed before this returns).  ``since``: skip for good what is
        older than this epoch; without ``sent_results``, only the results of
        failed sends are returned.  See :mod:`agent.store.journal`."""
        return self.store.journal.read(consumer, kinds, limit=limit, since=since, sent_results=sent_results)

    # --- control (remote management, the status page) ------------------------------

    def _line(self, name: str) -> LineConfig:
        if name not in self.lines:
            raise UnknownLine(name)
        return self.lines[name]

    def set_line_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a line (a disabled line closes its port and takes no work).  UnknownLine if unknown."""
        self._line(name)
        self.bank[name].set_enabled(enabled)
        self._wake_router()

    def reset_modem(self, name: str, timeout: float = 60.0) -> None:
        """Restart a line's modem (AT+CFUN=1,1) and wait until it is initialised again.

        Raise UnknownLine, LineOffline (not connected), or the modem's error."""
        self._line(name)
        self.bank[name].reset_modem().result(timeout)

    def ussd(self, name: str, code: str, timeout: float = 30.0) -> UssdReply:
        """Run a USSD code (``*100#``) on a line and return the network's answer.

        Raise UnknownLine, ValueError (not a USSD code), LineOffline, or the modem's error."""
        self._line(name)
        return self.bank[name].ussd(code, timeout).result(timeout + 5)

    def set_quota(self, name: str, *, daily: int | None = None, total: int | None = None,
                  reset_daily: bool = False, reset_total: bool = False) -> tuple[int, int]:
        """Override a line's limits (None keeps the one in force) and optionally reset
        its SIM's counters; return the (daily, total) limits now in force.

        Raise UnknownLine, ValueError (a limit below -1), LineOffline
        when counters must be reset but the line's SIM is not known yet."""
        self._line(name)
        current = self.limits.get(name)
        limits = self.limits.set(name, daily=current[0] if daily is None else daily,
                                 total=current[1] if total is None else total)
        if reset_daily or reset_total:
            iccid = self.bank[name].state.iccid
            if not iccid:
                raise LineOffline(f"line {name}: its SIM is not known yet", line=name)
            self.store.sims.set_sim_counters(iccid, daily_sent=0 if reset_daily else None,
                                        total_sent=0 if reset_total else None)
        self._wake_router()
        return limits

    def set_line_provider(self, name: str, provider: str | None) -> str:
        """Move a line to provider group ``provider`` ('' none, None back to the configured
        one); kept across restarts.  Return the group now.  UnknownLine for an unknown line."""
        self._line(name)
        group = self.limits.set_provider(name, provider)
        self._wake_router()
        return group
