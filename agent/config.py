"""config.ini -> frozen, validated dataclasses.

Given the text of an INI file, :func:`load` (or :func:`parse`) returns a
:class:`Config` whose sections are immutable dataclasses.  Every value is
checked once here; a missing, malformed or unknown key raises
:class:`~agent.errors.ConfigError` naming it as ``section.key``, so a typo
stops the agent at start (exit 78) instead of being silently ignored.

Each part of the agent is given only its own section object.

Sections
--------
``[agent]``      box identity, state directory, timezone, log level.
``[modems]``     defaults shared by every modem line.
``[line:NAME]``  one section per real line (``NAME`` is the line id used
                 everywhere: logs, APIs, MQTT topics): a modem (``device``) or a
                 channel of a GoIP box (``goip_id``).  No ``[line:*]`` section
                 means: run on the simulated bank.
``[goip_udp]``   the UDP listener GoIP channels register with.
``[smpp]``, ``[cmpp]``  the binary doors (:mod:`agent.config_doors`), off unless ``listen`` is set.
``[simulator]``  the simulated bank used when no line is configured.

The state directory
-------------------
The service (``systemd/sms-agent.service``) and a technician's shell
(``sms-agent --config /etc/sms-agent/config.ini send ...``) must mean the same
database, though only the service has ``$STATE_DIRECTORY``.  So the state
directory is, first that applies:

1. ``[agent] state_dir`` (relative to the config file's folder);
2. ``/var/lib/sms-agent`` (the unit's ``StateDirectory=``) when the config file
   lives in ``/etc/sms-agent`` (its ``ConfigurationDirectory=``): a shell
   resolves it as the service does, with no environment to copy;
3. ``$STATE_DIRECTORY`` (its first entry), for a unit whose config lives elsewhere;
4. ``var`` beside the config file (a checkout: ``scripts/run``).

Rule 2 comes before 3 on purpose: a unit whose ``StateDirectory=`` differs
from ``/var/lib/sms-agent`` while its config is in ``/etc/sms-agent`` then fails
at start naming the directory it cannot write (exit 73), instead of writing a
database that the shell never sees; such a box sets ``state_dir``.
:attr:`AgentConfig.state_dir_source` says which rule chose.
"""

from __future__ import annotations

import configparser
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

# The network sections live in config_net; their classes are importable from here too.
from .config_net import (Credentials, GoipConfig, GoipUdpConfig, HttpConfig, JindiConfig, MqttConfig, PushConfig,
                         StatusConfig, read_dialects, read_goip_udp, read_http, read_mqtt, read_push, read_status)
from .config_dialects import (BatchSendConfig, HttpInterfaceConfig, SompConfig, read_batchsend, read_httpinterface,
                              read_somp)
from .config_doors import CmppConfig, SmppConfig, read_cmpp, read_smpp
from .config_lines import LineConfig, read_line
from .config_reader import Section
from .errors import ConfigError

__all__ = [
    "AgentConfig", "BatchSendConfig", "CmppConfig", "Config", "Credentials", "GoipConfig", "GoipUdpConfig", "HttpConfig",
    "HttpInterfaceConfig",
    "JindiConfig", "LineConfig", "ModemsConfig", "MqttConfig", "PushConfig", "QueueConfig", "SimulatorConfig",
    "SmppConfig", "SompConfig", "StatusConfig", "load", "parse", "weak_credentials",
]

SIM_PROFILES = ("generic", "simcom", "huawei", "quectel", "zte", "wavecom")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# The packaged layout: the unit's ConfigurationDirectory= and StateDirectory= (see the module docstring).
SYSTEM_DIRS = (Path("/etc/sms-agent"), Path("/var/lib/sms-agent"))


@dataclass(frozen=True)
class AgentConfig:
    id: str
    state_dir: Path
    timezone: str  # IANA name; "" means the system's local time
    log_level: str
    database: Path
    # Seconds a stop may take in all: sends in flight finish within it (below the unit's TimeoutStopSec=30).
    stop_timeout: float = 20.0
    # Which rule chose state_dir, in words for check-config (see the module docstring).
    state_dir_source: str = field(default="", compare=False)

    @property
    def tz(self) -> ZoneInfo | None:
        """The configured timezone, None for the system's local time."""
        return ZoneInfo(self.timezone) if self.timezone else None


@dataclass(frozen=True)
class ModemsConfig:
    """Defaults for every line; durations in seconds."""

    health_interval: float = 30.0
    command_timeout: float = 10.0
    send_timeout: float = 90.0
    max_parts: int = 10
    validity_minutes: int | None = 1440
    status_report: bool = True
    smsc: str = ""
    reopen_backoff: float = 1.0
    reopen_backoff_max: float = 60.0
    quarantine_after: int = 5
    quarantine_retry: float = 300.0
    reset_wait: float = 15.0  # seconds a modem may take to come back after AT+CFUN=1,1
    scan: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueConfig:
    """The outgoing queue and the router; durations in seconds."""

    max_retries: int = 3
    retry_backoff: float = 30.0
    retry_backoff_max: float = 900.0
    report_window_hours: float = 72.0
    purge_days: int = 30
    reassembly_timeout: float = 86400.0
    poll_interval: float = 0.5
    batch: int = 200


@dataclass(frozen=True)
class SimulatorConfig:
    lines: int = 4
    send_delay: float = 2.0
    profiles: tuple[str, ...] = ("generic",)
    report_delay: float = 0.5  # seconds from a send to its status report
    # "modems": simulated USB modems on pseudo-terminals; "goip": a simulated GoIP box
    # whose channels register with [goip_udp] (on 127.0.0.1) as lines goip1..goipN.
    kind: str = "modems"


@dataclass(frozen=True)
class Config:
    agent: AgentConfig
    modems: ModemsConfig
    lines: tuple[LineConfig, ...]
    simulator: SimulatorConfig
    queue: QueueConfig = field(default_factory=QueueConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    auth: Credentials = field(default_factory=Credentials)  # [auth] as written; each dialect has its own copy
    goip: GoipConfig = field(default_factory=GoipConfig)
    jindi: JindiConfig = field(default_factory=JindiConfig)
    push: PushConfig = field(default_factory=PushConfig)
    somp: SompConfig = field(default_factory=SompConfig)
    batchsend: BatchSendConfig = field(default_factory=BatchSendConfig)
    httpinterface: HttpInterfaceConfig = field(default_factory=HttpInterfaceConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    goip_udp: GoipUdpConfig = field(default_factory=GoipUdpConfig)
    smpp: SmppConfig = field(default_factory=SmppConfig)
    cmpp: CmppConfig = field(default_factory=CmppConfig)
    source: str = field(default="", compare=False)

    @property
    def simulated(self) -> bool:
        """True when no modem line is configured: the agent runs on the simulated bank."""
        return not self.lines


# --- typed readers ------------------------------------------------------------


# --- sections -------------------------------------------------------------------


def _agent(s: Section, base_dir: Path, system_dirs: tuple[Path, Path]) -> AgentConfig:
    box_id = s.text("id") or socket.gethostname()
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", box_id):
        raise ConfigError("agent.id", f"only letters, digits, '_', '.', '-' allowed, not {box_id!r}")
    state_dir, state_dir_source = _state_dir(s.text("state_dir"), base_dir, system_dirs)
    timezone = s.text("timezone")
    if timezone:
        _check_timezone(timezone)
    database = Path(s.text("database", "sms-agent.db"))
    if not database.is_absolute():
        database = state_dir / database
    return AgentConfig(
        id=box_id,
        state_dir=state_dir,
        timezone=timezone,
        log_level=s.choice("log_level", "INFO", LOG_LEVELS),
        database=database,
        stop_timeout=s.number("stop_timeout", 20.0, minimum=1),
        state_dir_source=state_dir_source,
    )


def _state_dir(configured: str, base_dir: Path, system_dirs: tuple[Path, Path]) -> tuple[Path, str]:
    """Given ``[agent] state_dir`` (empty when unset), the config file's folder and the
    packaged (config, state) folders, return the state directory and the rule that
    chose it, in words (the rules are in the module docstring)."""
    if configured:
        path = Path(configured)
        return (path if path.is_absolute() else base_dir / path), "[agent] state_dir"
    system_config, system_state = system_dirs
    if _same_dir(base_dir, system_config):
        return system_state, f"the service's state directory, as the config is in {system_config}"
    from_systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if from_systemd:
        return Path(from_systemd), "$STATE_DIRECTORY"
    return base_dir / "var", "default: var beside the config file"


def _same_dir(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one folder (through symlinks too)."""
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("agent.timezone", f"unknown timezone {name!r} (use an IANA name like Asia/Shanghai)") from None


def _modems(s: Section) -> ModemsConfig:
    d = ModemsConfig()
    validity = s.integer("validity_minutes", d.validity_minutes or 0, minimum=0)
    smsc = s.text("smsc")
    if smsc and not re.fullmatch(r"\+?\d{3,20}", smsc):
        raise ConfigError("modems.smsc", f"not a phone number: {smsc!r}")
    return ModemsConfig(
        health_interval=s.number("health_interval", d.health_interval, minimum=1),
        command_timeout=s.number("command_timeout", d.command_timeout, minimum=0.05),
        send_timeout=s.number("send_timeout", d.send_timeout, minimum=0.05),
        max_parts=s.integer("max_parts", d.max_parts, minimum=1),
        validity_minutes=validity or None,
        status_report=s.flag("status_report", d.status_report),
        smsc=smsc,
        reopen_backoff=s.number("reopen_backoff", d.reopen_backoff, minimum=0.01),
        reopen_backoff_max=s.number("reopen_backoff_max", d.reopen_backoff_max, minimum=0.01),
        quarantine_after=s.integer("quarantine_after", d.quarantine_after, minimum=1),
        quarantine_retry=s.number("quarantine_retry", d.quarantine_retry, minimum=0.05),
        reset_wait=s.number("reset_wait", d.reset_wait, minimum=0.05),
        scan=s.items("scan"),
    )


def _queue(s: Section) -> QueueConfig:
    d = QueueConfig()
    return QueueConfig(
        max_retries=s.integer("max_retries", d.max_retries, minimum=0),
        retry_backoff=s.number("retry_backoff", d.retry_backoff, minimum=0),
        retry_backoff_max=s.number("retry_backoff_max", d.retry_backoff_max, minimum=0),
        report_window_hours=s.number("report_window_hours", d.report_window_hours, minimum=0.01),
        purge_days=s.integer("purge_days", d.purge_days, minimum=0),
        reassembly_timeout=s.number("reassembly_timeout", d.reassembly_timeout, minimum=1),
        poll_interval=s.number("poll_interval", d.poll_interval, minimum=0.01),
    )


def _simulator(s: Section) -> SimulatorConfig:
    d = SimulatorConfig()
    profiles = s.items("profiles", d.profiles)
    for p in profiles:
        if p not in SIM_PROFILES:
            raise ConfigError("simulator.profiles", f"unknown profile {p!r} (known: {', '.join(SIM_PROFILES)})")
    return SimulatorConfig(
        lines=s.integer("lines", d.lines, minimum=1),
        send_delay=s.number("send_delay", d.send_delay, minimum=0),
        profiles=profiles or d.profiles,
        report_delay=s.number("report_delay", d.report_delay, minimum=0),
        kind=s.choice("kind", d.kind, ("modems", "goip")),
    )


# The passwords the shipped config.ini sets (README's quick start uses them): fine for a
# first try, a hole on a real box.
SHIPPED_PASSWORDS = frozenset({"change-me"})


def weak_credentials(config: Config) -> list[tuple[str, str]]:
    """Given a config, return the passwords to change before real use, as
    ``(key, why)`` in a fixed order, never their values: ``why`` is
    'default' for a password of the shipped config.ini
    (:data:`SHIPPED_PASSWORDS`) and 'empty' for an API password left empty
    (that API then accepts anyone).  An API password equal to ``[auth]``'s is
    reported once, as ``[auth] password``; an empty ``[status]
    admin_password`` is not reported (nobody can log in: the page is
    read-only and masked)."""
    found: dict[str, str] = {}
    apis = (("goip", config.goip.credentials.password), ("jindi", config.jindi.password),
            ("somp", config.somp.credentials.password), ("batchsend", config.batchsend.credentials.password),
            ("httpinterface", config.httpinterface.credentials.password))
    for section, password in apis:
        key = "[auth] password" if password == config.auth.password else f"[{section}] password"
        if password in SHIPPED_PASSWORDS or not password:
            found.setdefault(key, "default" if password else "empty")
    for section, door in (("smpp", config.smpp), ("cmpp", config.cmpp)):
        if door.enabled and door.password in SHIPPED_PASSWORDS:
            found[f"[{section}] password"] = "default"
    if config.status.admin_password in SHIPPED_PASSWORDS:
        found["[status] admin_password"] = "default"
    return list(found.items())


KNOWN_SECTIONS = ("agent", "modems", "simulator", "queue", "http", "auth", "goip", "jindi", "push", "mqtt", "status",
                  "somp", "batchsend", "httpinterface", "templates", "goip_udp", "smpp", "cmpp")


def parse(text: str, *, base_dir: Path | str = ".", source: str = "<string>",
          system_dirs: tuple[Path, Path] = SYSTEM_DIRS) -> Config:
    """Given INI text, return the validated :class:`Config`.

    Relative paths are resolved against ``base_dir`` (the config file's folder).
    ``system_dirs`` is the packaged (config, state) folder pair that chooses the
    default state directory (tests pass their own; see the module docstring).
    Raise :class:`ConfigError` naming the first bad key.
    """
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00none")
    parser.optionxform = str.lower  # type: ignore[assignment, method-assign]
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise ConfigError(source, f"not a valid INI file: {exc}") from None

    lines: list[LineConfig] = []
    for name in parser.sections():
        if name.startswith("line:"):
            sec = Section(parser, name)
            lines.append(read_line(sec, name[len("line:"):]))
            sec.check_unknown()
        elif name not in KNOWN_SECTIONS:
            raise ConfigError(name, "unknown section (a typo?)")
    names = [line.name for line in lines]
    for n in names:
        if names.count(n) > 1:
            raise ConfigError(f"line:{n}", "line names must be unique")
    goip_ids = [line.goip_id for line in lines if line.goip]
    for line in lines:
        if line.goip and goip_ids.count(line.goip_id) > 1:
            raise ConfigError(f"line:{line.name}.goip_id", f"{line.goip_id!r} names two lines")

    base = Path(base_dir)
    sections = {n: Section(parser, n) for n in KNOWN_SECTIONS}
    goip, jindi = read_dialects(sections["auth"], sections["goip"], sections["jindi"])
    config = Config(
        agent=_agent(sections["agent"], base, system_dirs),
        modems=_modems(sections["modems"]),
        lines=tuple(lines),
        simulator=_simulator(sections["simulator"]),
        queue=_queue(sections["queue"]),
        http=read_http(sections["http"]),
        auth=Credentials(sections["auth"].text("username"), sections["auth"].text("password")),
        goip=goip,
        jindi=jindi,
        push=read_push(sections["push"]),
        somp=read_somp(sections["auth"], sections["somp"]),
        batchsend=read_batchsend(sections["auth"], sections["batchsend"]),
        httpinterface=read_httpinterface(sections["auth"], sections["httpinterface"], sections["templates"]),
        mqtt=read_mqtt(sections["mqtt"], base),
        status=read_status(sections["status"]),
        goip_udp=read_goip_udp(sections["goip_udp"]),
        smpp=read_smpp(sections["smpp"]),
        cmpp=read_cmpp(sections["cmpp"]),
        source=source,
    )
    for sec in sections.values():
        sec.check_unknown()
    return config


def load(path: str | os.PathLike[str], *, system_dirs: tuple[Path, Path] = SYSTEM_DIRS) -> Config:
    """Read and parse the config file at ``path`` (``system_dirs`` as :func:`parse`);
    ConfigError if unreadable or invalid."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(str(p), "not UTF-8 text") from None
    return parse(text, base_dir=p.resolve().parent, source=str(p), system_dirs=system_dirs)
