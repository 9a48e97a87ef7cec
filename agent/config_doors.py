"""The binary doors' sections of config.ini: ``[smpp]`` (an SMPP 3.4 server) and ``[cmpp]``
(a CMPP 2.0/3.0 server).  Frozen dataclasses and their readers; durations in seconds.

Both are off unless ``listen`` names an address.  Keys, and what each does:

``listen``               host:port to accept clients on ('' = off, the default)
``system_id`` (smpp)     what an ESME binds with (at most 15 characters)
``source_addr`` (cmpp)   the SP id a client connects with (6 characters)
``password``             SMPP: at most 8 characters; CMPP: the shared secret of the authenticator
``default_alphabet`` (smpp)  what data_coding 0 means, both ways: ``gsm`` (the GSM 03.38 default
                         alphabet, one character per octet: what Kannel and smpplib send) or
                         ``latin1`` (for ESMEs that send ASCII / ISO-8859-1 with data_coding 0)
``window``               requests the agent keeps outstanding towards one client (deliver_sm /
                         CMPP_DELIVER) before it waits for their responses; a client may keep as
                         many of its own outstanding as it likes, they are answered in order
``max_sessions``         connections at once (bound or not); one more is closed at once
``bind_timeout``         seconds a new connection has to bind (CMPP_CONNECT) before it is closed
``enquire_link``         seconds without traffic before the agent sends enquire_link / CMPP_ACTIVE_TEST
``inactivity_timeout``   seconds without any PDU from the client before the session is closed
``response_timeout``     seconds a request of the agent waits for its response; then the session is
                         closed (what was not acknowledged is delivered again on the next session)
``parts_timeout``        seconds the parts of a long message the client split itself may take to
                         arrive; a set still incomplete then is sent with the parts that came
``unbind_timeout``       seconds a stopping agent waits for the answer to its unbind / terminate
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config_reader import Section
from .errors import ConfigError
from .redact import SECRET


@dataclass(frozen=True)
class DoorTimers:
    """What the two doors share: window, sessions and timers."""

    window: int = 10
    max_sessions: int = 8
    bind_timeout: float = 30.0
    enquire_link: float = 30.0
    inactivity_timeout: float = 120.0
    response_timeout: float = 30.0
    parts_timeout: float = 600.0
    unbind_timeout: float = 2.0


@dataclass(frozen=True)
class SmppConfig:
    host: str = ""
    port: int = 0
    system_id: str = ""
    password: str = field(default="", metadata=SECRET)
    timers: DoorTimers = DoorTimers()
    default_alphabet: str = "gsm"

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class CmppConfig:
    host: str = ""
    port: int = 0
    source_addr: str = ""
    password: str = field(default="", metadata=SECRET)
    timers: DoorTimers = DoorTimers()

    @property
    def enabled(self) -> bool:
        return bool(self.host)


def _listen(s: Section, example: str) -> tuple[str, int]:
    listen = s.text("listen")
    if not listen:
        return "", 0
    host, sep, port_text = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"{s.name}.listen", f"expected host:port (e.g. {example}), not {listen!r}")
    return host, int(port_text)


def _timers(s: Section) -> DoorTimers:
    d = DoorTimers()
    return DoorTimers(
        window=s.integer("window", d.window, minimum=1),
        max_sessions=s.integer("max_sessions", d.max_sessions, minimum=1),
        bind_timeout=s.number("bind_timeout", d.bind_timeout, minimum=0.1),
        enquire_link=s.number("enquire_link", d.enquire_link, minimum=0.1),
        inactivity_timeout=s.number("inactivity_timeout", d.inactivity_timeout, minimum=0.1),
        response_timeout=s.number("response_timeout", d.response_timeout, minimum=0.1),
        parts_timeout=s.number("parts_timeout", d.parts_timeout, minimum=1),
        unbind_timeout=s.number("unbind_timeout", d.unbind_timeout, minimum=0),
    )


def read_smpp(s: Section) -> SmppConfig:
    """``[smpp]``: the SMPP 3.4 server."""
    host, port = _listen(s, "127.0.0.1:2775")
    system_id, password = s.text("system_id"), s.text("password")
    if host and not system_id:
        raise ConfigError("smpp.system_id", "is required when [smpp] listen is set")
    if len(system_id) > 15 or not system_id.isascii():
        raise ConfigError("smpp.system_id", "at most 15 ASCII characters")
    if host and not password:
        raise ConfigError("smpp.password", "is required when [smpp] listen is set")
    if len(password) > 8 or not password.isascii():
        raise ConfigError("smpp.password", "at most 8 ASCII characters (SMPP 3.4)")
    return SmppConfig(host=host, port=port, system_id=system_id, password=password, timers=_timers(s),
                      default_alphabet=s.choice("default_alphabet", "gsm", ("gsm", "latin1")))


def read_cmpp(s: Section) -> CmppConfig:
    """``[cmpp]``: the CMPP 2.0/3.0 server."""
    host, port = _listen(s, "127.0.0.1:7891")
    source_addr, password = s.text("source_addr"), s.text("password")
    if host and not source_addr:
        raise ConfigError("cmpp.source_addr", "is required when [cmpp] listen is set")
    if len(source_addr) > 6 or not source_addr.isascii():
        raise ConfigError("cmpp.source_addr", "at most 6 ASCII characters (the SP id)")
    if host and not password:
        raise ConfigError("cmpp.password", "is required when [cmpp] listen is set")
    if not password.isascii():
        raise ConfigError("cmpp.password", "ASCII characters only")
    return CmppConfig(host=host, port=port, source_addr=source_addr, password=password, timers=_timers(s))
