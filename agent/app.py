"""Wiring only: build every part from the Config, start them in order, stop them in reverse.

Start order: the database's lock (one agent per database: a second start
changes nothing), store (and crash recovery: rows left ``Q`` are requeued in
doubt), simulated bank (when no modem is configured), HTTP server, webhook
the binary doors ([smpp], [cmpp]), pusher, MQTT, router, the GoIP listener
(when a line is a GoIP channel), the lines, periodic jobs.  Each started piece is a
:class:`Part` with ``stop(deadline)``.  Every long-lived thread
gets a heartbeat of the :class:`~agent.watchdog.Watchdog` (:meth:`App.health`).

Stop (:meth:`App.stop`): one budget, one deadline for all of it.  New work
is refused first, the sends in flight finish and their outcomes are
written, then the parts stop in reverse order by that deadline; the lock
goes last.  The threads are daemon threads: one that does not end by the
deadline is logged and left, so the process still exits within the
unit's ``TimeoutStopSec``.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from dataclasses import replace
from collections.abc import Callable, Mapping
from typing import Any, Sequence

from . import __version__, systemd
from .api import mqtt_dialects
from .api.web import create_app
from .api.server import HttpServer
from .config import Config, LineConfig, weak_credentials
from .core import Core
from .doors import build as doors
from .doors.door import Door
from .jobs import Jobs
from .errors import StoreError
from .goip.server import GoipServer
from .limits import LineLimits
from .lock import DatabaseLock, LockHeld
from .metrics_recorder import Recorder
from .modem.bank import ModemBank
from .router import Router
from .sim.bank import SimBank
from .sim.goip_box import SimGoip
from .sim.goip_channel import channel_specs
from .store.queue import Store
from .store.sink import LineSink
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


class Part:
    """One part of the running agent, as :meth:`App.stop` sees it: ``stop(deadline)``
    (a ``time.monotonic()`` instant) stops it by then, as well as it can."""

    def __init__(self, name: str, stop: Callable[[float], None]) -> None:
        self.name = name
        self._stop = stop

    def stop(self, deadline: float) -> None:
        self._stop(deadline)


def _left(deadline: float, share: float = 1.0) -> float:
    """Seconds until ``deadline`` (monotonic), times ``share``; never negative."""
    return max(0.0, deadline - time.monotonic()) * share


class App:
    """The agent, wired from ``config``.  :meth:`start` (raises :class:`StartError`
    naming what could not be started), then :meth:`stop` once.

    ``sim``: a simulated bank the caller started and stops (the lines are its
    modems, with the ``[line:<name>]`` settings of the config where a section
    names one); ``clock``: epoch seconds for the queue (tests cross midnight
    with it); ``mqtt_options``: keyword arguments of the MQTT uplink (its
    reconnect delays and check intervals)."""

    def __init__(self, config: Config, *, watchdog: Watchdog | None = None, sim: SimBank | None = None,
                 clock: Callable[[], float] | None = None, mqtt_options: Mapping[str, Any] | None = None) -> None:
        self.config = config
        self._given_sim = sim
        self._clock = clock or time.time
        self._mqtt_options = dict(mqtt_options or {})
        self.stop_event = threading.Event()
        self.metrics = Recorder()  # what the router and the HTTP app measure, shown in /metrics
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
        for name, kinds in doors.wanted(config).items():
            for kind in kinds:
                targets.setdefault(kind, set()).add(name)
        self.store = Store(config.agent.database, timezone=config.agent.tz, max_parts=config.modems.max_parts,
                           push_targets=targets, clock=self._clock)
        self.events = LineSink(self.store, {line.name: line.provider for line in config.lines},
                               report_window_hours=config.queue.report_window_hours,
                               wake_router=self._wake_router, wake_outbox=self._wake_outbox)
        self.sim: SimBank | None = None
        self.bank: ModemBank | None = None
        self.router: Router | None = None
        self.core: Core | None = None
        self.http: HttpServer | None = None
        self.pusher: Pusher | None = None
        self.mqtt: MqttUplink | None = None
        self.goip: GoipServer | None = None
        self.doors: list[Door] = []  # the binary doors ([smpp], [cmpp])
        self.jobs: Jobs | None = None
        self._parts: list[Part] = []  # what start() started, in order: stop() stops them in reverse

    def start(self) -> None:
        """Take the database's lock, log the passwords still to change (one line, see
        :func:`agent.config.weak_credentials`), recover from a crash, build and start every part.

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
        self._parts.append(Part("lock", lambda deadline: self.lock.release()))
        _warn_weak_credentials(cfg)
        self.events.started_at = time.time()
        given = self._given_lines()
        store_lines = [line.name for line in (given or cfg.lines) if line.send_mode == "store" and line.enabled]
        try:
            self.store.open()
            requeued = self.store.requeue_in_flight(keep_lines=store_lines)
            awaiting = self.store.awaiting_lines() if store_lines else 0
        except (StoreError, OSError) as exc:
            raise StartError(EX_CANTCREAT, f"cannot use the database {cfg.agent.database}: {exc}") from None
        self._parts.append(Part("store", lambda deadline: self.store.close()))
        if requeued:
            log.warning("%d message(s) were being sent when the agent stopped: requeued, flagged in doubt"
                        " (they may have gone out already)", requeued)
        if awaiting:
            log.info("%d message(s) were being sent when the agent stopped: their lines settle them from the"
                     " modems' memory (send_mode = store)", awaiting)
        lines, modems = given or cfg.lines, cfg.modems
        if self._given_sim is not None:
            self.sim = self._given_sim
        elif cfg.simulated and cfg.simulator.kind == "goip":
            lines = tuple(LineConfig(name=f"goip{i}", device="", goip_id=spec.id, goip_password=spec.password)
                          for i, spec in enumerate(channel_specs(cfg.simulator.lines), start=1))
        elif cfg.simulated:
            sim_cfg = cfg.simulator
            profiles = [sim_cfg.profiles[i % len(sim_cfg.profiles)] for i in range(sim_cfg.lines)]
            sim = self.sim = SimBank(profiles, state_dir=str(cfg.agent.state_dir / "sim"),
                                     send_delay=sim_cfg.send_delay, report_delay=sim_cfg.report_delay)
            sim.start()
            self._parts.append(Part("sim", lambda deadline: sim.stop(_left(deadline))))
            lines = tuple(LineConfig(name=m.name, device=m.path) for m in sim.modems)
            modems = replace(modems, scan=modems.scan or (str(cfg.agent.state_dir / "sim" / "*"),))
            log.info("no modem configured: running on %d simulated modems (%s)", len(lines),
                     ", ".join(f"{m.name}={m.path}" for m in sim.modems))
        self._gateway_ids.update({line.name: f"modem{i}" for i, line in enumerate(lines, start=1)})
        if any(line.goip for line in lines):
            self.goip = GoipServer(cfg.goip_udp, lines, self.events, self.stop_event)
            try:
                self.goip.bind()
            except OSError as exc:
                raise StartError(EX_UNAVAILABLE, f"cannot listen on {cfg.goip_udp.host}:{cfg.goip_udp.port}"
                                                 f" ([goip_udp] listen): {exc.strerror or exc}") from None
            if cfg.simulated and cfg.simulator.kind == "goip":
                self._simulated_goip(self.goip.address[1])
        others = dict(self.goip.lines) if self.goip is not None else {}
        self.bank = ModemBank(lines, modems, self.events, self.stop_event, others=others)
        by_name = {line.name: line for line in lines}
        limits = LineLimits(self.store, by_name)
        self.router = Router(self.store, self.bank, by_name, cfg.queue, self.stop_event,
                             validity_minutes=modems.validity_minutes, status_report=modems.status_report,
                             timezone=cfg.agent.tz, limits=limits, clock=self._clock, recorder=self.metrics)
        self.pusher = Pusher(self.store, [d.destination for d in self.destinations], cfg.push, self.stop_event)
        core = self.core = Core(self.store, self.bank, lines, wake_router=self.router.wake, sim=self.sim,
                                limits=limits, max_parts=modems.max_parts)
        if cfg.mqtt.enabled:
            self.mqtt = core.uplink = MqttUplink(cfg.mqtt, core, cfg.agent.id, self.stop_event,
                                                 outbox=self.store, version=__version__,
                                                 formatters=mqtt_dialects.FORMATTERS, **self._mqtt_options)
            mqtt_dialects.mount(self.mqtt, core, config=mqtt_dialects.shown_config(cfg))
        try:
            self.doors = doors.build(cfg, core, self.store, self.stop_event, recorder=self.metrics)
        except doors.DoorError as exc:
            section = getattr(cfg, exc.door)
            raise StartError(EX_UNAVAILABLE, f"cannot listen on {section.host}:{section.port} ([{exc.door}] listen):"
                                             f" {exc.strerror or exc}") from None
        # Whoever writes outbox rows wakes every consumer of the outbox.
        self.router.pusher = _Wake([self.pusher, self.mqtt, *self.doors])
        try:
            self.http = HttpServer(create_app(core, cfg, recorder=self.metrics), host=cfg.http.host, port=cfg.http.port,
                                   threads=cfg.http.threads, max_body=cfg.http.max_body, timeout=cfg.http.timeout)
        except OSError as exc:
            raise StartError(EX_UNAVAILABLE, f"cannot listen on {cfg.http.host}:{cfg.http.port} ([http] host/port):"
                                             f" {exc.strerror or exc}") from None
        self.jobs = Jobs(self.store, cfg.queue, cfg.agent.tz, self.stop_event,
                         unresolved_before=self.events.started_at if store_lines else None, clock=self._clock)
        self._watch()
        bank, router, http, pusher, mqtt, jobs = self.bank, self.router, self.http, self.pusher, self.mqtt, self.jobs
        # Started so that the reverse order stops them right: the lines end (their
        # last results come in) before the router, whose last outcomes go into
        # the outbox before the MQTT uplink and the pusher stop.
        http.start()
        self._parts.append(Part("http", lambda deadline: http.stop(min(_left(deadline, 0.25), HTTP_STOP_MAX))))
        for door in self.doors:  # stopped after the lines and the router: the last receipts are delivered
            door.start()
            self._parts.append(Part(door.name, door.stop))
        pusher.start()
        self._parts.append(Part("pusher", lambda deadline: _join(pusher, deadline)))
        if mqtt is not None:
            mqtt.start()  # its stop publishes online=0 with the last outcomes before it
            self._parts.append(Part("mqtt", lambda deadline: mqtt.stop(_left(deadline, 0.5))))
        router.start()
        self._parts.append(Part("router", lambda deadline: _join(router, deadline)))
        if self.goip is not None:  # after the router: it stops before, and its last results are recorded
            goip = self.goip
            goip.start()
            self._parts.append(Part("goip", lambda deadline: _join(goip, deadline)))
        bank.start()
        self._parts.append(Part("lines", lambda deadline: bank.stop(_left(deadline, 0.5))))
        jobs.start()
        self._parts.append(Part("jobs", lambda deadline: _join(jobs, deadline)))

    def _simulated_goip(self, port: int) -> None:
        """Start a simulated GoIP box whose channels register with the listener on ``port``."""
        sim_cfg = self.config.simulator
        box = SimGoip(("127.0.0.1", port), channel_specs(sim_cfg.lines), keepalive=30.0,
                      send_delay=sim_cfg.send_delay, report_delay=sim_cfg.report_delay)
        box.start()
        self._parts.append(Part("sim", lambda deadline: box.stop(_left(deadline))))
        log.info("no line configured: running on a simulated GoIP box of %d channels", sim_cfg.lines)

    def _given_lines(self) -> tuple[LineConfig, ...]:
        """The lines of a simulated bank handed to the App: its modems, with the
        settings of the config's ``[line:<name>]`` of the same name."""
        if self._given_sim is None:
            return ()
        sections = {line.name: line for line in self.config.lines}
        return tuple(replace(sections[m.name], device=m.path) if m.name in sections
                     else LineConfig(name=m.name, device=m.path) for m in self._given_sim.modems)

    def _wake_router(self) -> None:
        if self.router is not None:
            self.router.wake()

    def _wake_outbox(self) -> None:
        for consumer in (self.pusher, self.mqtt, *self.doors):
            if consumer is not None:
                consumer.wake()

    def _watch(self) -> None:
        """Give every long-lived thread a heartbeat of the watchdog."""
        wd = self.watchdog
        assert self.bank is not None and self.router is not None and self.jobs is not None
        for worker in self.bank:
            if worker.name not in (self.goip.lines if self.goip is not None else {}):  # the listener beats for those
                worker.heartbeat = wd.register(f"line {worker.name}", lambda w=worker: w.alive)
        if self.goip is not None:
            self.goip.heartbeat = wd.register("goip", lambda: self.goip is not None and self.goip.alive)
        self.router.heartbeat = wd.register("router", lambda: self.router is not None and self.router.alive)
        self.jobs.heartbeat = wd.register("jobs", lambda: self.jobs is not None and self.jobs.alive)
        if self.mqtt is not None:
            self.mqtt.heartbeat = wd.register("mqtt", lambda: self.mqtt is not None and self.mqtt.alive)
        if self.pusher is not None:
            self.pusher.watch(wd)
        for door in self.doors:
            door.listener.heartbeat = wd.register(door.name, lambda d=door: d.alive)

    def health(self) -> list[str]:
        """What is wrong now (empty: every thread alive and making progress, and
        the HTTP server answers); the main thread pings systemd only when empty."""
        problems = self.watchdog.check()
        if self.http is not None and any(p.name == "http" for p in self._parts) and not self.stop_event.is_set():
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
        the stop event ends every thread and each :class:`Part` is stopped, in
        reverse start order, by the one deadline; the lock goes last.  Safe
        after a failed or partial :meth:`start`."""
        budget = self.config.agent.stop_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        parts = {part.name: part for part in self._parts}
        if "router" in parts:
            assert self.router is not None
            self.router.drain()
        if "http" in parts:
            parts.pop("http").stop(deadline)
        if "router" in parts:
            assert self.router is not None
            busy = self.router.in_flight
            if busy:
                log.info("stopping: waiting up to %.0fs for %d send(s) in flight", _left(deadline) - _reserve(budget),
                         busy)
            still = self.router.wait_idle(max(0.0, _left(deadline) - _reserve(budget)))
            if still:
                log.warning("stopping: %d send(s) still unanswered after %.0fs: cutting them short", still, budget)
        self.stop_event.set()
        for part in reversed(self._parts):
            if part.name in parts:
                part.stop(deadline)
        self._parts.clear()


def _warn_weak_credentials(config: Config) -> None:
    """Log one warning naming the passwords still to change (never their values), if any."""
    weak = weak_credentials(config)
    if weak:
        why = {"default": "the shipped default", "empty": "empty: that API accepts anyone"}
        log.warning("change these passwords in %s before real use: %s", config.source or "the config",
                    ", ".join(f"{key} ({why[problem]})" for key, problem in weak))


def _join(thread_owner: Any, deadline: float) -> None:
    """Wake a thread's owner (router, pusher, jobs) and join it by ``deadline``; log when it does not end."""
    wake = getattr(thread_owner, "wake", None)
    if wake is not None:
        wake()
    if thread_owner.join(_left(deadline, 0.5)) is False:
        log.error("%s did not stop in time", type(thread_owner).__name__.lower())


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
