"""A real mosquitto on a free loopback port, MQTT test clients, and agents wired to the broker.

The broker runs from its own config file in the test's temporary folder
(``listener <port> 127.0.0.1``, anonymous or with a password file,
persistence off unless a test needs sessions to survive a broker restart),
and can be stopped and started again on the same port.  mosquitto must be
installed (``scripts/test`` installs it): the tests fail, never skip,
without it.
"""

from __future__ import annotations


import base64
import getpass
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from ..waiting import wait_until as _wait_until
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.app import App
from agent.config import Config, ModemsConfig, MqttConfig, parse
from agent.core import Core
from agent.modem.bank import ModemBank
from agent.router import Router
from agent.sim.bank import SimBank
from agent.uplink.mqtt import MqttUplink

from ..conftest import FAST



def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None)
    if not found:
        pytest.fail("mosquitto is not installed (scripts/test installs it: apt-get install mosquitto)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Any, timeout: float = 5.0, what: Any = "condition") -> Any:
    """:func:`tests.waiting.wait_until` with this suite's default timeout."""
    return _wait_until(predicate, timeout, what)

def password_line(user: str, password: str) -> str:
    """A mosquitto 2.x password file line (PBKDF2-SHA512, as mosquitto_passwd writes it)."""
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101)
    return f"{user}:$7$101${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}\n"


class Broker:
    """mosquitto on 127.0.0.1:``port``; ``users`` turns anonymous access off;
    ``persistent`` keeps sessions and queued messages across :meth:`restart`."""

    def __init__(self, folder: Path, *, users: dict[str, str] | None = None, persistent: bool = False,
                 acl: str = "", tls: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.users = users or {}
        self.persistent = persistent
        self.acl = acl
        self.tls = tls  # cafile/certfile/keyfile: a second listener, TLS with client certificates
        self.tls_port = free_port() if tls else 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / "mosquitto.log"

    def config_text(self) -> str:
        # Started as root, mosquitto would become the user "mosquitto", who cannot
        # write the log and the persistence file into the test's folder.
        lines = [f"listener {self.port} 127.0.0.1", f"user {getpass.getuser()}", "max_queued_messages 100000",
                 "log_type all", f"log_dest file {self.log}"]
        if self.users:
            pw = self.folder / "passwd"
            pw.write_text("".join(password_line(u, p) for u, p in self.users.items()))
            pw.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl:
            acl = self.folder / "acl"
            acl.write_text(self.acl)
            acl.chmod(0o600)
            lines.append(f"acl_file {acl}")
        if self.persistent:
            lines += ["persistence true", f"persistence_location {self.folder}/"]
        else:
            lines.append("persistence false")
        if self.tls:
            # Listener options follow their listener line: this one goes last.
            lines += [f"listener {self.tls_port} 127.0.0.1", *(f"{k} {v}" for k, v in self.tls.items()),
                      "require_certificate true"]
        return "\n".join(lines) + "\n"

    def start(self) -> Broker:
        conf = self.folder / "mosquitto.conf"
        conf.write_text(self.config_text())
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        wait_until(self._accepts, 10, f"mosquitto on port {self.port}")
        return self

    def _accepts(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise AssertionError(f"mosquitto exited with {self.proc.returncode}: {err}")
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM (a persistent broker saves its sessions) and wait for the exit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def restart(self) -> Broker:
        self.stop()
        return self.start()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    made: list[Broker] = []

    def make(**kw: Any) -> Broker:
        b = Broker(tmp_path / f"broker{len(made)}", **kw).start()
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()


# --- a test client --------------------------------------------------------------------------


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    properties: Any = None
    dup: bool = False  # the broker sent it again (QoS 1 redelivery to this client)

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Client:
    """A paho client that records what it receives; MQTT 5 or 3.1.1 (``protocol``)."""

    broker: Broker
    protocol: str = "5"
    subscriptions: list[str] = field(default_factory=list)
    durable: bool = False  # keep the session (and what is queued for it) across reconnects
    username: str = ""
    password: str = ""

    def __post_init__(self) -> None:
        self.cond = threading.Condition()
        self.messages: list[Received] = []
        self.subscribed = threading.Event()
        self.client_id = f"test-{uuid.uuid4().hex[:10]}"
        v5 = self.protocol == "5"
        self.reply_topic = f"test/replies/{self.client_id}"
        if v5:
            self.subscriptions.append(self.reply_topic)  # where request() asks for replies
        if v5:
            self.paho = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=paho.MQTTv5)
        else:
            self.paho = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=paho.MQTTv311,
                                    clean_session=not self.durable)
        if self.username:
            self.paho.username_pw_set(self.username, self.password)
        self.paho.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]
        self.paho.on_connect = self._on_connect
        self.paho.on_message = self._on_message
        self.paho.on_subscribe = lambda *a: self.subscribed.set()

    def connect(self) -> Client:
        kw: dict[str, Any] = {}
        if self.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600 if self.durable else 0
            kw = {"clean_start": not self.durable, "properties": props}
        self.paho.connect_async(self.broker.host, self.broker.port, 30, **kw)
        self.paho.loop_start()
        if self.subscriptions:
            assert self.subscribed.wait(5), "test client: no SUBACK"
        return self

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self.subscriptions and not reason.is_failure:
            client.subscribe([(t, 1) for t in self.subscriptions])

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self.cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), msg.properties,
                                          bool(msg.dup)))
            self.cond.notify_all()

    def on(self, topic: str) -> list[Received]:
        with self.cond:
            return [m for m in self.messages if paho.topic_matches_sub(topic, m.topic)]

    def wait_for(self, topic: str, predicate: Callable[[Received], bool] = lambda m: True,
                 timeout: float = 5.0) -> Received:
        """The first message on ``topic`` (a filter) satisfying ``predicate``, waiting for it."""
        def find() -> Received | None:
            return next((m for m in self.messages if paho.topic_matches_sub(topic, m.topic) and predicate(m)), None)
        with self.cond:
            assert self.cond.wait_for(lambda: find() is not None, timeout), \
                f"nothing on {topic} matched; got {[(m.topic, m.payload[:80]) for m in self.messages][-10:]}"
            found = find()
            assert found is not None
            return found

    def wait_count(self, topic: str, n: int, timeout: float = 10.0) -> list[Received]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.on_locked(topic)) >= n, timeout)
            got = self.on_locked(topic)
        assert ok, f"{len(got)} of {n} messages on {topic}"
        return got

    def on_locked(self, topic: str) -> list[Received]:
        return [m for m in self.messages if paho.topic_matches_sub(topic, m.topic)]

    def subscribe(self, topic: str) -> None:
        """Subscribe to one more filter (kept across reconnects) and wait for the SUBACK."""
        if topic in self.subscriptions:
            return
        self.subscriptions.append(topic)
        done = threading.Event()
        self.paho.on_subscribe = lambda *a: done.set()
        self.paho.subscribe(topic, 1)
        assert done.wait(5), f"test client: no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1, properties: Properties | None = None) -> None:
        info = self.paho.publish(topic, payload, qos=qos, properties=properties)
        info.wait_for_publish(5)

    def request(self, prefix: str, command: str, body: Any, *, timeout: float = 10.0) -> dict[str, Any]:
        """Publish a command and return its reply: on an MQTT 5 response topic with
        correlation data, or on ``reply/<id>`` for 3.1.1 (the body needs an ``id`` then)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if self.protocol == "5":
            correlation = uuid.uuid4().bytes
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = self.reply_topic
            props.CorrelationData = correlation
            self.publish(f"{prefix}/cmd/{command}", raw, properties=props)
            msg = self.wait_for(self.reply_topic,
                                lambda m: getattr(m.properties, "CorrelationData", None) == correlation, timeout)
        else:
            rid = body.get("id") if isinstance(body, dict) else None
            valid = isinstance(rid, (str, int)) and "/" not in str(rid)
            topic = f"{prefix}/reply/{rid}" if valid else f"{prefix}/reply"  # no usable id: the bare topic
            self.subscribe(f"{prefix}/reply/#")
            seen = len(self.on(topic))
            self.publish(f"{prefix}/cmd/{command}", raw)
            with self.cond:
                assert self.cond.wait_for(lambda: len(self.on_locked(topic)) > seen, timeout), f"no reply on {topic}"
                msg = self.on_locked(topic)[seen]
        reply: dict[str, Any] = msg.json()
        return reply


@pytest.fixture
def make_client() -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(broker: Broker, *subscriptions: str, protocol: str = "5", **kw: Any) -> Client:
        c = Client(broker, protocol, list(subscriptions), **kw).connect()
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


# --- agents ---------------------------------------------------------------------------------


def mqtt_config(broker: Broker, **kw: Any) -> MqttConfig:
    kw.setdefault("status_interval", 30.0)
    kw.setdefault("port", broker.port)
    return MqttConfig(host=broker.host, **kw)


class Agent:
    """The agent as :class:`agent.app.App` wires it, on a simulated bank (or no
    line at all), with the uplink under test: the MQTT settings ``mqtt``, box
    ``box_id``; ``app_config`` the rest of the configuration (default: none),
    ``uplink_kw`` the uplink's reconnect delays and check intervals."""

    def __init__(self, db: Path, mqtt: MqttConfig, *, box_id: str | None = None, sim: Any = None,
                 app_config: Config | None = None, **uplink_kw: Any) -> None:
        self.db = db
        base = app_config or parse("[agent]\nid = box1\n", base_dir=db.parent)
        self.box_id = box_id or (base.agent.id if app_config else "box1")
        self.config = replace(
            base, agent=replace(base.agent, id=self.box_id, state_dir=db.parent, database=db), mqtt=mqtt,
            http=replace(base.http, host="127.0.0.1", port=0), modems=replace(base.modems, **_timings(FAST)),
            queue=replace(base.queue, retry_backoff=0.0, poll_interval=0.1))
        self.sim = sim if sim is not None else SimBank([], state_dir=str(db.parent / f"{db.stem}-nosim"))
        uplink_kw.setdefault("reconnect", (0.1, 0.5))
        uplink_kw.setdefault("status_every", 0.2)
        self.app = App(self.config, sim=self.sim, mqtt_options=uplink_kw)
        self.stop_event = self.app.stop_event
        self.store = self.app.store
        self.prefix = mqtt.prefix or f"sms-agent/{self.box_id}"

    @property
    def uplink(self) -> MqttUplink:
        assert self.app.mqtt is not None, "not started, or no MQTT host"
        return self.app.mqtt

    @property
    def core(self) -> Core:
        assert self.app.core is not None
        return self.app.core

    @property
    def bank(self) -> ModemBank:
        assert self.app.bank is not None
        return self.app.bank

    @property
    def router(self) -> Router:
        assert self.app.router is not None
        return self.app.router

    def start(self) -> Agent:
        self.app.start()
        assert self.app.wait_ready(10)
        return self

    def stop(self) -> None:
        self.app.stop(10)


def _timings(modems: ModemsConfig) -> dict[str, Any]:
    return {f.name: getattr(modems, f.name) for f in fields(modems)
            if f.name not in ("max_parts", "validity_minutes", "status_report", "smsc", "scan")}


@pytest.fixture
def make_agent(tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    made: list[Agent] = []

    def make(mqtt: MqttConfig, *, db: Path | None = None, start: bool = True, **kw: Any) -> Agent:
        agent = Agent(db or tmp_path / f"agent{len(made)}.db", mqtt, **kw)
        made.append(agent)
        return agent.start() if start else agent

    yield make
    for agent in made:
        if not agent.stop_event.is_set():
            agent.stop()
