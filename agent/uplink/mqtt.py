"""The MQTT uplink: the box's state, events and remote management through a broker.

The only module that imports paho-mqtt (2.x, callback API 2).  Topics, under
``prefix`` (default ``sms-agent/<box id>``):

=========================  ==========================================================
``online``                 retained ``1`` while connected; ``0`` on a clean stop and,
                           as the will, when the connection is lost
``status``                 retained JSON (:mod:`agent.uplink.status`), on change
                           (checked every few seconds) and every ``status_interval``
``lines/<line>``           retained JSON per line, on change (checked every second)
                           and every ``status_interval``
``mo``, ``dr``, ``calls``  QoS 1 events from the outbox (:mod:`agent.uplink.forward`)
``<level>/<name>``         subscribed, QoS 1, for each level a dialect serves
                           (:meth:`MqttUplink.serve`): ``cmd/<name>`` the commands
                           (:mod:`agent.api.mqtt_commands`), ``somp/<phone>`` the
                           SOMP dialect (:mod:`agent.api.somp_mqtt`)
``reply/<id>``             replies for clients without an MQTT 5 response topic
                           (``reply`` alone when the request had no usable id)
others                     what the dialects' event formatters publish, e.g.
                           ``somp/receive/M<phone>`` and ``somp/receive/R<phone>``
=========================  ==========================================================

The transport speaks no dialect: the handlers of requests and the formatters
of events are handed to it by whoever wires the agent.

Connection: MQTT 5 (or 3.1.1 per config), client id ``sms-agent-<box id>``,
TLS when a CA or client certificate is configured, username/password,
keepalive; no clean start (MQTT 5: ``clean_start=False`` and a session expiry
of :data:`SESSION_EXPIRY`; 3.1.1: ``clean_session=False``), so the broker
keeps the QoS 1 subscriptions, and the commands sent meanwhile, across a
drop.  paho reconnects by itself (1 s doubling to 60 s); it is handed only
what the forwarder tracks, and drops it at each new connection (the outbox
replays it).  Requests are handled on a small pool (``mqtt-cmd``), never on
paho's network thread: USSD and modem resets wait for the modem.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from . import status as status_json
from .forward import EventFormatter, Forwarder
from ..watchdog import NO_BEAT, Heartbeat

if TYPE_CHECKING:
    from ..config import MqttConfig
    from ..core import Core
    from ..store.queue import Store

log = logging.getLogger(__name__)

SESSION_EXPIRY = 86400  # seconds the broker keeps the session (subscriptions, queued commands) of a gone box
PAHO_INFLIGHT = 20  # QoS 1 messages on the wire until the broker says its Receive Maximum
ROUND_ALLOWANCE = 30.0  # seconds a publishing round may take before the watchdog calls the thread hung
MAX_PENDING = 32  # requests waiting for a worker; beyond, "busy"

# A request handler: (topic level after the served one, payload) -> the reply to publish, or None.
Handler = Callable[[str, bytes], "dict[str, Any] | None"]
Busy = Callable[[str], "dict[str, Any] | None"]


class MqttUplink:
    """See the module doc.  ``outbox`` is the store whose MQTT outbox rows it
    forwards; ``stop`` is the agent's stop event; ``version`` goes into
    ``status``; ``formatters`` make the dialects' own publications of outbox
    events; request handlers are added with :meth:`serve` before :meth:`start`.
    ``reconnect`` is paho's (first, longest) delay between connection attempts;
    ``housekeeping`` how often the outbox bounds are applied, ``status_every``
    how often ``status`` is checked for a change (seconds)."""

    def __init__(self, config: MqttConfig, core: Core, box_id: str, stop: threading.Event, *, outbox: Store,
                 version: str, formatters: Sequence[EventFormatter] = (), workers: int = 4,
                 reconnect: tuple[float, float] = (1.0, 60.0), housekeeping: float = 10.0,
                 status_every: float = status_json.STATUS_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.prefix = config.prefix or f"sms-agent/{box_id}"
        self._core = core
        self._outbox = outbox
        self._box_id = box_id
        self._stop = stop
        self._version = version
        self._clock = clock
        self._v5 = config.protocol == "5"
        self._started_at = datetime.now().astimezone()
        self._started = clock()
        self._closing = threading.Event()
        self._cond = threading.Condition()
        self._woken = False
        self._gen_lock = threading.Lock()  # orders publications against a new connection's drop
        self._generation = 0
        self._connected = False
        self._subscribed = False
        self._subscribe_mid: int | None = None
        self._connected_since: datetime | None = None
        self._last_error: str | None = None
        self._refused = False
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._state = status_json.StatePublisher(lambda: status_json.lines(core), self.status, self._retain,
                                                 interval=config.status_interval, status_every=status_every,
                                                 clock=clock)
        self._forwarder = Forwarder(outbox, self._publish_event, self.wake, replay_rate=config.replay_rate,
                                    formatters=formatters,
                                    max_age_seconds=config.outbox_max_age_hours * 3600,
                                    max_items=config.outbox_max_events, housekeeping=housekeeping)
        self._handlers: dict[str, tuple[Handler, Busy | None]] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mqtt-cmd")
        self._client = self._make_client(box_id, reconnect)
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self.heartbeat: Heartbeat = NO_BEAT  # the watchdog's, set before start()

    # --- the public face ------------------------------------------------------------------

    def serve(self, level: str, handler: Handler, *, busy: Busy | None = None) -> None:
        """Subscribe to ``<prefix>/<level>/+`` and hand each request on it to
        ``handler(name, payload)`` (``name``: the topic level after ``level``),
        on the request pool; a reply it returns is published (to the MQTT 5
        response topic, else ``reply/<id>``).  ``busy(name)`` is the reply when
        too many requests wait (None: logged only).  Before :meth:`start`."""
        self._handlers[level] = (handler, busy)

    def lines(self) -> dict[str, dict[str, Any]]:
        """The ``lines/<line>`` objects, by line name."""
        return status_json.lines(self._core)

    def start(self) -> None:
        """Connect in the background (paho retries until the broker answers) and start publishing."""
        log.info("mqtt: connecting to %s:%d as %s (MQTT %s%s), prefix %s", self.config.host, self.config.port,
                 self._client_id, self.config.protocol, ", TLS" if self._tls else "", self.prefix)
        kwargs: dict[str, Any] = {}
        if self._v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY
            kwargs = {"clean_start": False, "properties": props}
        self._client.connect_async(self.config.host, self.config.port, self.config.keepalive, **kwargs)
        self._client.loop_start()
        self._thread.start()

    def wake(self) -> None:
        """New outbox rows may be there (or something else changed): look now."""
        with self._cond:
            self._woken = True
            self._cond.notify()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish ``online`` = 0 (retained), disconnect cleanly, stop the threads,
        all within about ``timeout`` seconds; requests still running are abandoned."""
        deadline = time.monotonic() + timeout
        self._closing.set()
        self.wake()
        if self._thread.ident is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()) / 2)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._connected:
            info = self._client.publish(f"{self.prefix}/online", b"0", qos=1, retain=True)
            try:
                info.wait_for_publish(max(0.1, deadline - time.monotonic() - 0.5))
            except (RuntimeError, ValueError) as exc:
                log.warning("mqtt: online=0 not published: %s", exc)
            # The broker acknowledges in order: events published before online=0 are settled now.
            self._forwarder.settle()
        self._client.disable_logger()  # paho's loop logs an error when its socket closes under it
        self._client.disconnect()
        self._client.loop_stop()
        log.info("mqtt: stopped (%d event(s) published since start)", self._forwarder.published)

    @property
    def alive(self) -> bool:
        """True while the publishing thread runs."""
        return self._thread.is_alive()

    @property
    def connected(self) -> bool:
        """True once connected, subscribed (the broker acknowledged the served levels)
        and publishing events (rows written from now on are live, not backlog)."""
        return self._connected and self._subscribed and self._forwarder.generation == self._generation

    @property
    def connected_since(self) -> datetime | None:
        return self._connected_since

    def stats(self) -> dict[str, Any]:
        """``connected``, ``connected_since`` (ISO 8601 or None), ``backlog`` (events
        waiting in the outbox), ``dropped`` (given up, across restarts),
        ``published`` (acknowledged since start), ``inflight``, ``replaying``,
        ``last_error`` (None when all is well)."""
        published = self._forwarder.published  # read first: rows counted there are gone from the store
        stored = self._outbox.outbox.stats().get("mqtt", {})
        since = self._connected_since
        return {"connected": self.connected, "connected_since": since.isoformat(timespec="seconds") if since else None,
                "backlog": stored.get("pending", 0), "dropped": stored.get("dropped", 0),
                "published": published, "inflight": self._forwarder.inflight,
                "replaying": self._forwarder.replay_left, "last_error": self._last_error or self._forwarder.last_error}

    def status(self) -> dict[str, Any]:
        """The ``status`` object, as published now."""
        mqtt = {k: v for k, v in self.stats().items() if k not in ("connected",)}
        return status_json.status(self._core, box_id=self._box_id, version=self._version, started=self._started_at,
                                  uptime=self._clock() - self._started, mqtt=mqtt)

    # --- paho ---------------------------------------------------------------------------

    def _make_client(self, box_id: str, reconnect: tuple[float, float]) -> paho.Client:
        cfg = self.config
        self._client_id = f"sms-agent-{box_id}"
        if self._v5:
            client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id, protocol=paho.MQTTv5)
        else:
            client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id, protocol=paho.MQTTv311,
                                 clean_session=False)
        client.enable_logger(logging.getLogger("agent.uplink.paho"))
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password or None)
        self._tls = bool(cfg.tls_ca or cfg.tls_cert)
        if self._tls:
            client.tls_set(ca_certs=cfg.tls_ca or None, certfile=cfg.tls_cert or None, keyfile=cfg.tls_key or None)
        client.will_set(f"{self.prefix}/online", b"0", qos=1, retain=True)
        client.reconnect_delay_set(reconnect[0], reconnect[1])  # type: ignore[arg-type]  # floats work
        client.max_inflight_messages_set(PAHO_INFLIGHT)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: paho.Client, userdata: Any, flags: paho.ConnectFlags, reason: ReasonCode,
                    properties: Properties | None) -> None:
        try:
            if reason.is_failure:
                self._refused = True  # the disconnection that follows says less than this
                self._set_error(f"the broker refused the connection: {reason}")
                return
            with self._gen_lock:
                # paho would resend what the last connection left unacknowledged; the
                # outbox replays it instead, in order, with the rest of the backlog.
                client.drop_out_messages()
                limit = getattr(properties, "ReceiveMaximum", None) if self._v5 else None
                if limit:
                    # The broker's Receive Maximum bounds our unacknowledged QoS 1
                    # messages; paho does not read it, and its setter refuses an open
                    # connection, though nothing has been sent on this one yet.
                    client._max_inflight_messages = min(int(limit), 1000)
                self._generation += 1
                self._connected = True
                generation = self._generation
            self._connected_since = datetime.now().astimezone()
            self._last_error = None
            client.publish(f"{self.prefix}/online", b"1", qos=1, retain=True)
            self._subscribed = False
            _, self._subscribe_mid = client.subscribe([(f"{self.prefix}/{level}/+", 1) for level in self._handlers]
                                                      or [(f"{self.prefix}/cmd/+", 1)])
            log.info("mqtt: connected to %s:%d (session %s)", self.config.host, self.config.port,
                     "resumed" if flags.session_present else "new")
            self._state.refresh()
            self._forwarder.connected(generation)
        except Exception:
            log.exception("mqtt: on_connect failed")

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode],
                      properties: Properties | None) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            levels = " and ".join(f"{level}/+" for level in self._handlers)
            self._set_error(f"the broker refused the subscriptions to {levels}: {', '.join(refused)}")
        self._subscribed = True

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._set_error(f"cannot connect to {self.config.host}:{self.config.port}")

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: paho.DisconnectFlags, reason: ReasonCode,
                       properties: Properties | None) -> None:
        was = self._connected
        self._connected = False
        self._connected_since = None
        self._forwarder.disconnected()
        refused, self._refused = self._refused, False
        if not self._closing.is_set() and not refused:
            self._set_error(f"connection lost: {reason}" if was else f"connection failed: {reason}")

    def _set_error(self, error: str) -> None:
        if error != self._last_error:
            log.warning("mqtt: %s; retrying", error)
        self._last_error = error

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode,
                    properties: Properties) -> None:
        self._forwarder.acked(mid, not reason.is_failure, "" if not reason.is_failure else str(reason))

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
            if not topic.startswith(self.prefix + "/"):
                return
            kind, _, name = topic[len(self.prefix) + 1:].partition("/")
            served = self._handlers.get(kind)
            if served is None or not name:
                return
            if message.retain:
                # A retained request would run again at every subscription (each reconnect).
                log.warning("mqtt: retained message on %s ignored: requests must not be retained", topic)
                return
            handler, busy = served
            props = message.properties
            response = getattr(props, "ResponseTopic", None) if props is not None else None
            correlation = getattr(props, "CorrelationData", None) if props is not None else None
            payload = bytes(message.payload)

            def refuse() -> None:
                reply = busy(name) if busy is not None else None
                if reply is None:
                    log.warning("mqtt: request on %s refused: too many requests waiting", topic)
                else:
                    self._reply(name, reply, response, correlation)

            self._submit(lambda: self._request(handler, name, payload, response, correlation), refuse)
        except Exception:
            log.exception("mqtt: message on %s not handled", message.topic)

    # --- requests, on the pool ---------------------------------------------------------------

    def _submit(self, job: Callable[[], None], busy: Callable[[], None]) -> None:
        with self._pending_lock:
            if self._pending >= MAX_PENDING:
                full = True
            else:
                full = False
                self._pending += 1
        if full:
            busy()
            return

        def run() -> None:
            try:
                job()
            except Exception:
                log.exception("mqtt: request failed")
            finally:
                with self._pending_lock:
                    self._pending -= 1
        try:
            self._pool.submit(run)
        except RuntimeError:  # stopping
            with self._pending_lock:
                self._pending -= 1

    def _request(self, handler: Handler, name: str, payload: bytes, response: str | None,
                 correlation: bytes | None) -> None:
        reply = handler(name, payload)
        if reply is None:
            return
        if "ok" in reply:
            log.info("mqtt: command %s id %s: %s", name, reply.get("id"),
                     "ok" if reply["ok"] else f"{reply.get('error')}: {reply.get('detail')}")
        self._reply(name, reply, response, correlation)

    def _reply(self, name: str, reply: dict[str, Any], response: str | None, correlation: bytes | None) -> None:
        topic = response or (f"{self.prefix}/reply/{reply['id']}" if reply.get("id") else f"{self.prefix}/reply")
        props = None
        if self._v5:
            props = Properties(PacketTypes.PUBLISH)
            props.ContentType = "application/json"
            if correlation is not None:
                props.CorrelationData = correlation
        body = json.dumps(reply, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")
        try:
            self._client.publish(topic, body, qos=1, properties=props)
        except ValueError as exc:  # a response topic with wildcards, too long...
            log.warning("mqtt: reply to %s %s not published: %s", name, reply.get("id"), exc)

    # --- the publishing thread --------------------------------------------------------------

    def _publish_event(self, generation: int, topic: str, payload: bytes) -> int | None:
        with self._gen_lock:
            if generation != self._generation or not self._connected:
                return None
            info = self._client.publish(f"{self.prefix}/{topic}", payload, qos=1)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("mqtt: paho did not take an event: %s", paho.error_string(info.rc))
            return None
        return info.mid

    def _run(self) -> None:
        try:
            while not (self._stop.is_set() or self._closing.is_set()):
                self.heartbeat.beat(ROUND_ALLOWANCE)
                try:
                    wait = self._forwarder.pump()
                    if self._connected:
                        wait = min(wait, self._state.turn())
                except Exception:
                    log.exception("mqtt: publishing round failed; trying again shortly")
                    wait = 1.0
                with self._cond:
                    if not self._woken:
                        self.heartbeat.beat(wait + ROUND_ALLOWANCE)
                        self._cond.wait(wait)
                    self._woken = False
        finally:
            self._outbox.close()  # this thread's connection

    def _retain(self, topic: str, obj: dict[str, Any]) -> None:
        body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")
        self._client.publish(f"{self.prefix}/{topic}", body, qos=1, retain=True)
