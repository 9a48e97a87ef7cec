"""Wiring only: build every part from the Config, start them in order, stop them in reverse.

Start order: the database's lock (one agent per database: a second start
changes nothing), store (and crash recovery: rows left ``Q`` are requeued in
doubt), simulated bank (when no modem is configured), modem lines, router,
HTTP server, webhook pusher, MQTT, periodic jobs.  Every long-lived thread
gets a heartbeat of the :class:`~agent.watchdog.Watchdog` (:meth:`App.health`).

Stop (:meth:`App.stop`): one budget for all of it.  New work is refused
first, the sends in flight finish and their outcomes are written, then the
threads stop in reverse order; the lock goes last.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from dataclasses import replace
from typing import Any, Sequence

from . import __version__, systemd
from .api.server import HttpServer, create_app
from .config import Config, LineConfig
from .core import Core
from .jobs import Jobs
from .errors import StoreError
from .limits import LineLimits
from .lock import DatabaseLock, LockHeld
from .modem.bank import ModemBank
from .modem.types import SENT, CallRecord, DeliveryReport, IncomingSms, LineState, PartSent, SendResult
from .router import Router
from .sim.bank import SimBank
from .store.queue import Outcome, Store
from .store.records import RELEASE
from .uplink.forward import DESTINATION as MQTT
from .uplink.forward import KINDS as MQTT_KINDS
from .uplink.mqtt import MqttUplink
from .uplink.push import Destination, Pusher
from .watchdog import DEFAULT_GRACE, Watchdog

log = logging.getLogger(__name__)

# Exit codes of a failed start (sysexits.h), for scripts and the unit's RestartPreventExitStatus=.
EX_UNAVAILABLE = 69  # the HTTP port cannot be had
EX_CANTCREAT = 73  # the state directory or the database cannot be created or written
EX_TEMPFAIL = 75  # another agent holds the database
HTTP_PROBE_TIMEOUT = 10.0  # seconds the HTTP server has to answer the watchdog's /healthz
HTTP_STOP_MAX = 5.0  # seconds requests in progress have to finish at a stop
STOP_RESERVE = 3.0  # seconds of the stop budget kept for stopping the threads after the sends


class StoreEvents:
    """The line-event sink: everything a line receives is stored durably before
    the line deletes it from the modem; a line that becomes usable wakes the router."""

    def __init__(self, store: Store, providers: dict[str, str], *, report_window_hours: float = 72.0) -> None:
        self.store = store
        self.router: Router | None = None
        self.pusher: Any = None  # anything with wake(): the outbox consumers
        self._providers = providers
        self._window = report_window_hours
        self._seen: dict[str, tuple] = {}
        self._lock = threading.Lock()
        # Rows last changed before this (epoch) were left by an earlier run.
        self.started_at = time.time()

    def on_sms(self, sms: IncomingSms) -> None:
        self.store.store_sms(sms, window_hours=self._window)
        self._pushed()

    def on_part_sent(self, part: PartSent) -> None:
        self.store.record_part(part.message_id, part.seq, part.line, part.reference)

    def on_stored(self, message_id: Any, line: str, locations: tuple[str, ...]) -> bool:
        return self.store.record_stored(message_id, locations)

    def unresolved(self, line: str) -> list[tuple[Any, list[str]]]:
        return self.store.unresolved(line, before=self.started_at)

    def on_resolved(self, result: SendResult) -> None:
        if result.outcome == SENT:
            outcome = Outcome(result.id, result.line, "", "sent", result.references, result.parts)
        else:  # nothing went out, or it cannot be told (in doubt: the parts that may have left stay counted)
            outcome = Outcome(result.id, result.line, "", RELEASE, result.references if result.in_doubt else (),
                              result.parts, in_doubt=result.in_doubt)
        self.store.record_outcomes([outcome], durable=True)
        self._pushed()
        if self.router is not None:
            self.router.wake()

    def on_report(self, report: DeliveryReport) -> None:
        self.store.store_report(report, window_hours=self._window)
        self._pushed()

    def on_call(self, call: CallRecord) -> None:
        self.store.store_call(call)
        self._pushed()

    def _pushed(self) -> None:
        if self.pusher is not None:
            self.pusher.wake()

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
                self.store.update_line(state, provider=self._providers.get(state.name, ""))
            except Exception:
                log.exception("%s: could not store the line state", state.name)
        if self.router is not None and state.can_send:
            self.router.wake()


class App:
    """The agent, wired from ``config``.  :meth:`start` (raises :class:`StartError`
    naming what could not be started), then :meth:`stop` once."""

    def __init__(self, config: Config, *, watchdog: Watchdog | None = None) -> None:
        self.config = config
        self.stop_event = threading.Event()
        self.watchdog = watchdog or Watchdog(grace=systemd.watchdog_interval() or DEFAULT_GRACE)
        self.lock = DatabaseLock(config.agent.database)
        self._gateway_ids: dict[str, str] = {}  # line name -> Jindi gateway id, known once the lines are
        self.destinations = _push_destinations(config, self._gateway_ids)
        targets: dict[str, set[str]] = {}
        for dest in self.destinations:
            for kind in dest.kinds:
                targets.setdefault(kind, set()).add(dest.name)
        if config.mqtt.enabled:
            for kind in MQTT_KINDS:
                targets.setdefault(kind, set()).add(MQTT)
        self.store = Store(config.agent.database, timezone=config.agent.tz, max_parts=config.modems.max_parts,
                           push_targets=targets)
        self.events = StoreEvents(self.store, {line.name: line.provider for line in config.lines},
                                  report_window_hours=config.queue.report_window_hours)
        self.sim: SimBank | None = None
        self.bank: ModemBank | None = None
        self.router: Router | None = None
        self.core: Core | None = None
        self.http: HttpServer | None = None
        self.pusher: Pusher | None = None
        self.mqtt: MqttUplink | None = None
        self.jobs: Jobs | None = None
        self._started: list[str] = []  # what start() started, in order: stop() undoes exactly that

    def start(self) -> None:
        """Take the database's lock, recover from a crash, build and start every part.

        Raise StartError (``exit_code`` and one line naming the path or port)
        when the state directory or database cannot be written, another agent
        holds the database, or the HTTP port cannot be had; what was started
        so far is left for :meth:`stop`."""
        cfg = self.config
        for directory in (cfg.agent.state_dir, cfg.agent.database.parent):
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StartError(EX_CANTCREAT, f"cannot create the state directory {directory}: "
                                               f"{exc.strerror or exc}") from None
        try:
            self.lock.acquire()
        except LockHeld as exc:
            raise StartError(EX_TEMPFAIL, str(exc)) from None
        except OSError as exc:
            raise StartError(EX_CANTCREAT, f"cannot write beside the database {cfg.agent.database}"
                                           f" ({self.lock.path}): {exc.strerror or exc}") from None
        self._started.append("lock")
        self.events.started_at = time.time()
        store_lines = [line.name for line in cfg.lines if line.send_mode == "store" and line.enabled]
        try:
            self.store.open()
            requeued = self.store.requeue_in_flight(keep_lines=store_lines)
            awaiting = self.store.awaiting_lines() if store_lines else 0
        except (StoreError, OSError) as exc:
            raise StartError(EX_CANTCREAT, f"cannot use the database {cfg.agent.database}: {exc}") from None
        self._started.append("store")
        if requeued:
            log.warning("%d message(s) were being sent when the agent stopped: requeued, flagged in doubt"
                        " (they may have gone out already)", requeued)
        if awaiting:
            log.info("%d message(s) were being sent when the agent stopped: their lines settle them from the"
                     " modems' memory (send_mode = store)", awaiting)
        lines, modems = cfg.lines, cfg.modems
        if cfg.simulated:
            sim_cfg = cfg.simulator
            profiles = [sim_cfg.profiles[i % len(sim_cfg.profiles)] for i in range(sim_cfg.lines)]
            sim = self.sim = SimBank(profiles, state_dir=str(cfg.agent.state_dir / "sim"),
                                     send_delay=sim_cfg.send_delay, report_delay=sim_cfg.report_delay)
            sim.start()
            self._started.append("sim")
            lines = tuple(LineConfig(name=m.name, device=m.path) for m in sim.modems)
            modems = replace(modems, scan=modems.scan or (str(cfg.agent.state_dir / "sim" / "*"),))
            log.info("no modem configured: running on %d simulated modems (%s)", len(lines),
                     ", ".join(f"{m.name}={m.path}" for m in sim.modems))
        self._gateway_ids.update({line.name: f"modem{i}" for i, line in enumerate(lines, start=1)})
        self.bank = ModemBank(lines, modems, self.events, self.stop_event)
        by_name = {line.name: line for line in lines}
        limits = LineLimits(self.store, by_name)
        self.router = Router(self.store, self.bank, by_name, cfg.queue, self.stop_event,
                             validity_minutes=modems.validity_minutes, status_report=modems.status_report,
                             timezone=cfg.agent.tz, limits=limits)
        self.events.router = self.router
        self.pusher = Pusher(self.store, [d.destination for d in self.destinations], cfg.push, self.stop_event)
        core = self.core = Core(self.store, self.bank, lines, wake_router=self.router.wake, sim=self.sim,
                                limits=limits)
        if cfg.mqtt.enabled:
            self.mqtt = core.uplink = MqttUplink(cfg.mqtt, core, cfg.agent.id, self.stop_event,
                                                 outbox=self.store, version=__version__, app_config=cfg)
        # Whoever writes outbox rows wakes every consumer of the outbox.
        outbox = _Wake([self.pusher, self.mqtt])
        self.events.pusher = outbox
        self.router.pusher = outbox
        try:
            self.http = HttpServer(create_app(core, cfg), host=cfg.http.host, port=cfg.http.port,
                                   threads=cfg.http.threads, max_body=cfg.http.max_body, timeout=cfg.http.timeout)
        except OSError as exc:
            raise StartError(EX_UNAVAILABLE, f"cannot listen on {cfg.http.host}:{cfg.http.port} ([http] host/port):"
                                             f" {exc.strerror or exc}") from None
        self.jobs = Jobs(self.store, cfg.queue, cfg.agent.tz, self.stop_event,
                         unresolved_before=self.events.started_at if store_lines else None)
        self._watch()
        self.bank.start()
        self._started.append("bank")
        self.router.start()
        self._started.append("router")
        self.http.start()
        self._started.append("http")
        self.pusher.start()
        self._started.append("pusher")
        if self.mqtt is not None:
            self.mqtt.start()
            self._started.append("mqtt")
        self.jobs.start()
        self._started.append("jobs")

    def _watch(self) -> None:
        """Give every long-lived thread a heartbeat of the watchdog."""
        wd = self.watchdog
        assert self.bank is not None and self.router is not None and self.jobs is not None
        for worker in self.bank:
            worker.heartbeat = wd.register(f"line {worker.name}", lambda w=worker: w.alive)
        self.router.heartbeat = wd.register("router", lambda: self.router is not None and self.router.alive)
        self.jobs.heartbeat = wd.register("jobs", lambda: self.jobs is not None and self.jobs.alive)
        if self.mqtt is not None:
            self.mqtt.heartbeat = wd.register("mqtt", lambda: self.mqtt is not None and self.mqtt.alive)
        if self.pusher is not None:
            self.pusher.watch(wd)

    def health(self) -> list[str]:
        """What is wrong now (empty: every thread alive and making progress, and
        the HTTP server answers); the main thread pings systemd only when empty."""
        problems = self.watchdog.check()
        if self.http is not None and "http" in self._started and not self.stop_event.is_set():
            problem = _probe_http(self.http.host, self.http.port, HTTP_PROBE_TIMEOUT)
            if problem:
                problems.append(f"the HTTP server {problem}")
                log.error("watchdog: the HTTP server %s", problem)
        return problems

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every enabled line has finished starting (ready or given up); True if so."""
        if self.bank is None:
            return False
        return self.bank.wait_started(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Stop within ``timeout`` seconds in all (default ``[agent] stop_timeout``).

        New work is refused first (the router hands out nothing more, the HTTP
        server closes once its requests in progress are answered); the sends
        in flight get what is left of the budget, less a reserve to stop the
        rest, and every outcome is written.  Only a send still unanswered when
        that time is up is cut short and left in doubt (logged as such).  Then
        the stop event ends every thread, in reverse start order, each within
        what is left.  Safe after a failed or partial :meth:`start`."""
        budget = self.config.agent.stop_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget

        def left(share: float = 1.0) -> float:
            return max(0.0, deadline - time.monotonic()) * share

        started = set(self._started)
        if "router" in started:
            assert self.router is not None
            self.router.drain()
        if "http" in started:
            assert self.http is not None
            self.http.stop(min(left(0.25), HTTP_STOP_MAX))
        if "router" in started:
            assert self.router is not None
            busy = self.router.in_flight
            if busy:
                log.info("stopping: waiting up to %.0fs for %d send(s) in flight", left() - _reserve(budget), busy)
            still = self.router.wait_idle(max(0.0, left() - _reserve(budget)))
            if still:
                log.warning("stopping: %d send(s) still unanswered after %.0fs: cutting them short", still, budget)
        self.stop_event.set()
        if "jobs" in started:
            assert self.jobs is not None
            self.jobs.join(left(0.2))
        if "bank" in started:
            assert self.bank is not None
            self.bank.stop(left(0.5))
        if "router" in started:
            assert self.router is not None
            self.router.wake()
            if not self.router.join(left(0.5)):
                log.error("router did not stop in time")
        if "mqtt" in started:
            assert self.mqtt is not None
            self.mqtt.stop(left(0.5))  # publishes online=0 with the last outcomes before it
        if "pusher" in started:
            assert self.pusher is not None
            self.pusher.wake()
            self.pusher.join(left(0.5))
        if "sim" in started:
            assert self.sim is not None
            self.sim.stop()
        if "store" in started:
            self.store.close()
        self.lock.release()
        self._started.clear()


class StartError(Exception):
    """The agent cannot start; ``exit_code`` tells systemd and scripts why (see :mod:`agent.__main__`)."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _reserve(budget: float) -> float:
    """Seconds of a stop budget kept to stop the threads once the sends had their time."""
    return min(STOP_RESERVE, budget * 0.25)


def _probe_http(host: str, port: int, timeout: float) -> str:
    """GET /healthz from the agent's own server; '' when it answered, else what went wrong."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        conn = http.client.HTTPConnection(target, port, timeout=timeout)
        try:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as exc:
        return f"does not answer on {target}:{port} ({exc})"
    return ""


class _Push:
    """A push destination and the event kinds it wants."""

    def __init__(self, destination: Destination, kinds: tuple[str, ...]) -> None:
        self.destination = destination
        self.name = destination.name
        self.kinds = kinds


def _push_destinations(config: Config, gateway_ids: dict[str, str]) -> list[_Push]:
    """The webhooks the dialects' config asks for (only those with a URL)."""
    from .api import batchsend, goip, jindi

    out = []
    kinds = {"goip-result": ("result", "receipt"), "goip-mo": ("mo",), "jindi-push": ("mo",),
             "batch-report": ("result", "receipt"), "batch-mo": ("mo",)}
    formatters = {**goip.formatters(config.goip), **jindi.formatters(config.jindi, gateway_ids=gateway_ids),
                  **batchsend.formatters(config.batchsend, tz=config.agent.tz)}
    for name, fmt in formatters.items():
        out.append(_Push(Destination(name, fmt), kinds[name]))
    return out


class _Wake:
    """Wakes every consumer of the outbox (the webhook pusher, the MQTT uplink)."""

    def __init__(self, consumers: Sequence[Any]) -> None:
        self._consumers = [c for c in consumers if c is not None]

    def wake(self) -> None:
        for consumer in self._consumers:
            consumer.wake()
