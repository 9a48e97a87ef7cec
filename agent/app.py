"""Wiring only: build every part from the Config, start them in order, stop them in reverse.

Start order: store (and crash recovery: rows left ``Q`` are requeued in
doubt), simulated bank (when no modem is configured), modem lines, router,
HTTP server, webhook pusher, periodic jobs.  Stop order is the reverse; the
lines answer every request they hold, and the router writes every outcome
before the store closes.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any, Sequence

from . import __version__
from .api.server import HttpServer, create_app
from .config import Config, LineConfig
from .core import Core
from .jobs import Jobs
from .limits import LineLimits
from .modem.bank import ModemBank
from .modem.types import CallRecord, DeliveryReport, IncomingSms, LineState
from .router import Router
from .sim.bank import SimBank
from .store.queue import Store
from .uplink.forward import DESTINATION as MQTT
from .uplink.forward import KINDS as MQTT_KINDS
from .uplink.mqtt import MqttUplink
from .uplink.push import Destination, Pusher

log = logging.getLogger(__name__)


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

    def on_sms(self, sms: IncomingSms) -> None:
        self.store.store_sms(sms, window_hours=self._window)
        self._pushed()

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
    def __init__(self, config: Config) -> None:
        self.config = config
        self.stop_event = threading.Event()
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

    def start(self) -> None:
        cfg = self.config
        cfg.agent.state_dir.mkdir(parents=True, exist_ok=True)
        cfg.agent.database.parent.mkdir(parents=True, exist_ok=True)
        self.store.open()
        requeued = self.store.requeue_in_flight()
        if requeued:
            log.warning("%d message(s) were being sent when the agent stopped: requeued, flagged in doubt", requeued)
        lines, modems = cfg.lines, cfg.modems
        if cfg.simulated:
            sim_cfg = cfg.simulator
            profiles = [sim_cfg.profiles[i % len(sim_cfg.profiles)] for i in range(sim_cfg.lines)]
            sim = self.sim = SimBank(profiles, state_dir=str(cfg.agent.state_dir / "sim"),
                                     send_delay=sim_cfg.send_delay)
            sim.start()
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
                                                 version=__version__, app_config=cfg)
        # Whoever writes outbox rows wakes every consumer of the outbox.
        outbox = _Wake([self.pusher, self.mqtt])
        self.events.pusher = outbox
        self.router.pusher = outbox
        self.http = HttpServer(create_app(core, cfg), host=cfg.http.host, port=cfg.http.port,
                               threads=cfg.http.threads, max_body=cfg.http.max_body, timeout=cfg.http.timeout)
        self.jobs = Jobs(self.store, cfg.queue, cfg.agent.tz, self.stop_event)
        self.bank.start()
        self.router.start()
        self.http.start()
        self.pusher.start()
        if self.mqtt is not None:
            self.mqtt.start()
        self.jobs.start()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every enabled line has finished starting (ready or given up); True if so."""
        if self.bank is None:
            return False
        return self.bank.wait_started(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self.jobs is not None:
            self.jobs.join(timeout)
        if self.mqtt is not None:
            self.mqtt.stop(timeout / 2)  # publishes online=0 while everything is still up
        if self.pusher is not None:
            self.pusher.wake()
            self.pusher.join(timeout)
        if self.http is not None:
            self.http.stop(timeout)
        if self.bank is not None:
            self.bank.stop(timeout)
        if self.router is not None:
            self.router.wake()
            if not self.router.join(timeout):
                log.error("router did not stop in time")
        if self.sim is not None:
            self.sim.stop()
        self.store.close()


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
