"""The network-facing sections of config.ini: [http], [auth], [goip], [jindi], [push], [mqtt].

Frozen dataclasses and their readers; :mod:`agent.config` assembles them
into the :class:`~agent.config.Config` (and re-exports the classes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .config_reader import Section
from .errors import ConfigError
from .redact import NOT_SECRET, SECRET, URL


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8060  # 0: any free port (tests)
    threads: int = 8
    max_body: int = 4_194_304  # bytes
    timeout: float = 30.0  # seconds an idle keep-alive connection is kept


@dataclass(frozen=True)
class GoipUdpConfig:
    """The UDP listener the channels of GoIP boxes register with (``[goip_udp]``); durations in seconds."""

    host: str = "0.0.0.0"
    port: int = 44444  # 0: any free port (tests)
    offline_after: float = 92.0  # a channel without a keepalive for this long is offline (3 missed intervals)
    reply_timeout: float = 5.0  # wait for the box's answer to a packet before resending it
    retries: int = 3  # resends of one packet before giving up (a SEND then is in doubt)
    wait_timeout: float = 120.0  # how long a SEND the box answered WAIT is polled before it is in doubt
    ussd_timeout: float = 30.0  # a USSD request's answer
    max_datagram: int = 4096  # longer datagrams are dropped (counted)


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = field(default="", metadata=SECRET)

    @property
    def configured(self) -> bool:
        return bool(self.password)


@dataclass(frozen=True)
class GoipConfig:
    """The GoIP SMS Server JSON API (``/goip/...``) and its two pushes."""

    credentials: Credentials = Credentials()
    result_url: str = field(default="", metadata=URL)  # send results are POSTed here ('' = no push)
    mo_url: str = field(default="", metadata=URL)  # received SMS are POSTed here


@dataclass(frozen=True)
class JindiConfig:
    """The Jindi URL API (``/send``, ``/sendstatus``, ``/read``) and its HTTP push."""

    password: str = field(default="", metadata=SECRET)
    # A URL template with %gatewayId%, %text%, %originator%, %messageDate%, %encoding%.
    push_url: str = field(default="", metadata=URL)
    push_method: str = "GET"


@dataclass(frozen=True)
class StatusConfig:
    """``[status]``: the page's ``language`` ('en' or 'zh'), the admin login
    (no password: nobody can log in and the page stays read-only and masked),
    and the page's ``refresh`` period in seconds (0: no automatic refresh)."""

    language: str = "en"
    admin_username: str = "admin"
    admin_password: str = field(default="", metadata=SECRET)
    refresh: float = 10.0


@dataclass(frozen=True)
class MqttConfig:
    """The MQTT uplink; off when ``host`` is empty."""

    host: str = ""
    port: int = 1883
    username: str = ""
    password: str = field(default="", metadata=SECRET)
    prefix: str = ""  # '' -> sms-agent/<box id>
    protocol: str = "5"  # '5' or '3.1.1'
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = field(default="", metadata=NOT_SECRET)  # the key file's path, shown; the key stays in the file
    keepalive: int = 60
    status_interval: float = 60.0
    outbox_max_age_hours: float = 168.0
    outbox_max_events: int = 100_000
    replay_rate: float = 2000.0  # backlog events per second on reconnect, beside live ones

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class PushConfig:
    """Delivery of webhooks from the outbox."""

    timeout: float = 10.0
    max_age_hours: float = 72.0  # a push still failing after this is given up (and counted)
    backoff: float = 5.0
    backoff_max: float = 600.0
    workers: int = 2


def read_http(s: Section) -> HttpConfig:
    d = HttpConfig()
    port = s.integer("port", d.port, minimum=0)
    if port > 65535:
        raise ConfigError("http.port", f"not a TCP port: {port}")
    return HttpConfig(host=s.text("host", d.host), port=port, threads=s.integer("threads", d.threads, minimum=1),
                      max_body=s.integer("max_body", d.max_body, minimum=1024),
                      timeout=s.number("timeout", d.timeout, minimum=1))


def read_goip_udp(s: Section) -> GoipUdpConfig:
    """``[goip_udp] listen = host:port`` and its timers."""
    d = GoipUdpConfig()
    host, port = d.host, d.port
    listen = s.text("listen")
    if listen:
        host, sep, port_text = listen.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
            raise ConfigError("goip_udp.listen", f"expected host:port (e.g. 0.0.0.0:44444), not {listen!r}")
        port = int(port_text)
    return GoipUdpConfig(
        host=host, port=port,
        offline_after=s.number("offline_after", d.offline_after, minimum=1),
        reply_timeout=s.number("reply_timeout", d.reply_timeout, minimum=0.01),
        retries=s.integer("retries", d.retries, minimum=0),
        wait_timeout=s.number("wait_timeout", d.wait_timeout, minimum=0.01),
        ussd_timeout=s.number("ussd_timeout", d.ussd_timeout, minimum=0.1),
        max_datagram=s.integer("max_datagram", d.max_datagram, minimum=512),
    )


def _url(s: Section, key: str) -> str:
    url = s.text(key)
    if url and not re.match(r"https?://[^/\s]+", url):
        raise ConfigError(f"{s.name}.{key}", f"not an http(s) URL: {url!r}")
    return url


def read_dialects(auth: Section, goip: Section, jindi: Section) -> tuple[GoipConfig, JindiConfig]:
    """[auth] username/password serve every dialect unless its own section overrides them."""
    user, password = auth.text("username"), auth.text("password")
    goip_cfg = GoipConfig(
        credentials=Credentials(goip.text("username", user), goip.text("password", password)),
        result_url=_url(goip, "result_url"),
        mo_url=_url(goip, "mo_url"),
    )
    jindi_cfg = JindiConfig(
        password=jindi.text("password", password),
        push_url=_url(jindi, "push_url"),
        push_method=jindi.choice("push_method", "GET", ("GET", "POST")),
    )
    return goip_cfg, jindi_cfg


def read_mqtt(s: Section, base_dir: Path) -> MqttConfig:
    d = MqttConfig()
    port = s.integer("port", d.port, minimum=1)
    if port > 65535:
        raise ConfigError("mqtt.port", f"not a TCP port: {port}")
    prefix = s.text("prefix").strip("/")
    if prefix and not re.fullmatch(r"[^#+\s]+", prefix):
        raise ConfigError("mqtt.prefix", f"no wildcards or spaces in a topic prefix: {prefix!r}")

    def path(key: str) -> str:
        value = s.text(key)
        if not value:
            return ""
        p = Path(value) if Path(value).is_absolute() else base_dir / value
        if not p.is_file():
            raise ConfigError(f"mqtt.{key}", f"no such file: {p}")
        return str(p)

    return MqttConfig(
        host=s.text("host"), port=port, username=s.text("username"), password=s.text("password"), prefix=prefix,
        protocol=s.choice("protocol", d.protocol, ("5", "3.1.1")),
        tls_ca=path("tls_ca"), tls_cert=path("tls_cert"), tls_key=path("tls_key"),
        keepalive=s.integer("keepalive", d.keepalive, minimum=5),
        status_interval=s.number("status_interval", d.status_interval, minimum=1),
        outbox_max_age_hours=s.number("outbox_max_age_hours", d.outbox_max_age_hours, minimum=0.01),
        outbox_max_events=s.integer("outbox_max_events", d.outbox_max_events, minimum=100),
        replay_rate=s.number("replay_rate", d.replay_rate, minimum=1),
    )


def read_status(s: Section) -> StatusConfig:
    d = StatusConfig()
    return StatusConfig(language=s.choice("language", d.language, ("en", "zh")),
                        admin_username=s.text("admin_username", d.admin_username),
                        admin_password=s.text("admin_password"),
                        refresh=s.number("refresh", d.refresh, minimum=0))


def read_push(s: Section) -> PushConfig:
    d = PushConfig()
    return PushConfig(
        timeout=s.number("timeout", d.timeout, minimum=0.1),
        max_age_hours=s.number("max_age_hours", d.max_age_hours, minimum=0.01),
        backoff=s.number("backoff", d.backoff, minimum=0.01),
        backoff_max=s.number("backoff_max", d.backoff_max, minimum=0.01),
        workers=s.integer("workers", d.workers, minimum=1),
    )
