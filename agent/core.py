"""What the API dialects may ask of the agent: one facade over store, lines and router.

A dialect module (``agent/api/<dialect>.py``) translates its wire format into
calls on :class:`Core` and the results back into its replies; the core never
imports a dialect.  Every submission is one durable transaction (the reply
may be sent once :meth:`Core.submit` returns) and wakes the router at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Collection, Mapping, Sequence

from .config import LineConfig
from .errors import LineOffline
from .limits import LineLimits
from .model import UssdReply
from .routing import remaining
from .model import Accepted, NewMessage
from .store.queue import JournalItem, Store

if TYPE_CHECKING:
    from .modem.bank import ModemBank
    from .sim.bank import SimBank


@dataclass(frozen=True)
class LineInfo:
    """A line as the APIs show it (a snapshot; no port is touched)."""

    name: str
    index: int  # 1-based position in the configuration (Jindi's gateway ``modem<index>``)
    online: bool  # the modem answers the agent
    registered: bool  # its SIM is on the network
    usable: bool  # can take a message now (online, registered, below its quotas)
    provider: str
    daily_left: int | None  # None: unlimited
    total_left: int | None
    state: str
    signal_dbm: int | None
    operator: str
    iccid: str
    last_error: str
    number: str = ""  # the SIM's own number when the modem knows it (AT+CNUM), else ''

    @property
    def left(self) -> int | None:
        """Parts this line may still send today: the smaller of its daily and total
        remainders (None: unlimited)."""
        known = [n for n in (self.daily_left, self.total_left) if n is not None]
        return min(known) if known else None


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

    def line_info(self) -> list[LineInfo]:
        states = {s.name: s for s in self.bank.states()}
        counters = self.store.sim_counters([s.iccid for s in states.values() if s.iccid])
        out = []
        for index, (name, cfg) in enumerate(self.lines.items(), start=1):
            st = states[name]
            c = counters.get(st.iccid) if st.iccid else None
            daily_limit, total_limit = self.limits.get(name)
            daily = remaining(daily_limit, c.daily_sent if c else 0)
            total = remaining(total_limit, c.total_sent if c else 0)
            online = st.state in ("ready", "busy")
            out.append(LineInfo(name, index, online, st.registered,
                                online and st.registered and daily != 0 and total != 0, self.limits.provider(name),
                                daily, total,
                                st.state, st.signal_dbm, st.operator, st.iccid, st.last_error, st.number))
        return out

    def quota_left(self, provider: str | None = None) -> int | None:
        """SMS parts the box may still send today: summed over every line (over
        the lines of provider group ``provider`` when given), None when one of
        them is unlimited.  A line counts whatever its state: this is quota,
        not capacity.  An unknown group has 0."""
        total = 0
        for info in self.line_info():
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
        for info in self.line_info():
            if info.provider in out and out[info.provider] is None:
                continue
            left = info.left
            out[info.provider] = None if left is None else (out.get(info.provider) or 0) + left
        return out

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

    def message(self, msg_id: int) -> dict[str, Any] | None:
        return self.store.message(msg_id)

    def messages_by_task(self, task_id: int) -> list[dict[str, Any]]:
        return self.store.messages_by_task(task_id)

    # --- receiving ------------------------------------------------------------------------

    def read_inbox(self, consumer: str, *, line: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Received messages (``smsserver_in`` rows of type 'I') not returned to
        ``consumer`` before, oldest first, optionally of one line; they count
        as read for that consumer only."""
        return self.store.read_inbox(consumer, line=line, limit=limit)

    def read_journal(self, consumer: str, kinds: Collection[str], *, limit: int = 500,
                     since: float | None = None, sent_results: bool = True) -> list[JournalItem]:
        """What happened since ``consumer`` last asked: delivery results
        (``result``), receipts (``receipt``) and received messages (``mo``), as the payloads of
        :mod:`agent.store.outbox`, oldest first, each returned to a consumer
        once (committed before this returns).  ``since``: skip for good what is
        older than this epoch; without ``sent_results``, only the results of
        failed sends are returned.  See :mod:`agent.store.journal`."""
        return self.store.read_journal(consumer, kinds, limit=limit, since=since, sent_results=sent_results)

    # --- control (remote management, the status page) ------------------------------

    def _line(self, name: str) -> LineConfig:
        if name not in self.lines:
            raise KeyError(f"no line {name!r}")
        return self.lines[name]

    def set_line_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a line (a disabled line closes its port and takes no work).  KeyError if unknown."""
        self._line(name)
        self.bank[name].set_enabled(enabled)
        self._wake_router()

    def reset_modem(self, name: str, timeout: float = 60.0) -> None:
        """Restart a line's modem (AT+CFUN=1,1) and wait until it is initialised again.

        Raise KeyError (unknown line), LineOffline (not connected), or the
        modem's error."""
        self._line(name)
        self.bank[name].reset_modem().result(timeout)

    def ussd(self, name: str, code: str, timeout: float = 30.0) -> UssdReply:
        """Run a USSD code (``*100#``) on a line and return the network's answer.

        Raise KeyError, ValueError (not a USSD code), LineOffline, or the modem's error."""
        self._line(name)
        return self.bank[name].ussd(code, timeout).result(timeout + 5)

    def set_quota(self, name: str, *, daily: int | None = None, total: int | None = None,
                  reset_daily: bool = False, reset_total: bool = False) -> tuple[int, int]:
        """Override a line's limits (None keeps the one in force) and optionally reset
        its SIM's counters; return the (daily, total) limits now in force.

        Raise KeyError (unknown line), ValueError (a limit below -1), LineOffline
        when counters must be reset but the line's SIM is not known yet."""
        self._line(name)
        current = self.limits.get(name)
        limits = self.limits.set(name, daily=current[0] if daily is None else daily,
                                 total=current[1] if total is None else total)
        if reset_daily or reset_total:
            iccid = self.bank[name].state.iccid
            if not iccid:
                raise LineOffline(f"line {name}: its SIM is not known yet", line=name)
            self.store.set_sim_counters(iccid, daily_sent=0 if reset_daily else None,
                                        total_sent=0 if reset_total else None)
        self._wake_router()
        return limits

    def set_line_provider(self, name: str, provider: str | None) -> str:
        """Move a line to provider group ``provider`` ('' none, None back to the configured
        one); kept across restarts.  Return the group now.  KeyError for an unknown line."""
        self._line(name)
        group = self.limits.set_provider(name, provider)
        self._wake_router()
        return group
