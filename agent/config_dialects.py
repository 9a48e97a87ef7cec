"""The compatibility dialects' sections of config.ini: [somp], [batchsend],
[httpinterface] and its [templates].

Each dialect takes the [auth] username/password unless its own section sets
``username``/``password``; ``allow`` is a comma-separated list of client
addresses or networks (``192.168.1.0/24``) allowed to call it (empty: any);
``max_rate`` bounds its submissions per second (0: no bound), answered with
the dialect's own "too fast" code.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from .config_net import Credentials
from .config_reader import Section
from .errors import ConfigError
from .redact import SECRET, URL

TEMPLATE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class SompConfig:
    """SOMP HTTP ``/mt`` and ``/mo``."""

    credentials: Credentials = Credentials()
    timestamp_window: float = 300.0  # seconds an MD5+timestamp password stays valid (and is remembered against replay)
    allow: tuple[str, ...] = ()
    max_rate: float = 0.0


@dataclass(frozen=True)
class BatchSendConfig:
    """``/msg/HttpBatchSendSM``, ``/msg/QueryBalance`` and the two pushes."""

    credentials: Credentials = Credentials()
    allow: tuple[str, ...] = ()
    max_rate: float = 0.0
    report_url: str = field(default="", metadata=URL)  # status reports are sent here with GET ('' = no push)
    mo_url: str = field(default="", metadata=URL)  # received SMS are sent here with GET ('' = no push)
    receiver: str = ""  # the pushes' ``receiver`` ('' = the username)
    push_password: str = field(default="", metadata=SECRET)  # the pushes' ``pswd`` ('' = the password)


@dataclass(frozen=True)
class HttpInterfaceConfig:
    """``/service/httpService/httpInterface.do``."""

    credentials: Credentials = Credentials()
    very_code: str = field(default="", metadata=SECRET)  # [auth] very_code: the second shared secret ('' = not checked)
    allow: tuple[str, ...] = ()
    max_rate: float = 0.0
    signature: str = ""  # prefixed to every text, e.g. 【Branch】
    templates: dict[str, str] = field(default_factory=dict)  # template id (lower case) -> text with @1@, @2@...


def _allow(s: Section) -> tuple[str, ...]:
    out = []
    for item in s.items("allow"):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(f"{s.name}.allow", f"not an address or network: {item!r}") from None
    return tuple(out)


def _url(s: Section, key: str) -> str:
    url = s.text(key)
    if url and not re.match(r"https?://[^/\s]+", url):
        raise ConfigError(f"{s.name}.{key}", f"not an http(s) URL: {url!r}")
    return url


def _credentials(auth: Section, s: Section) -> Credentials:
    return Credentials(s.text("username", auth.text("username")), s.text("password", auth.text("password")))


def read_somp(auth: Section, s: Section) -> SompConfig:
    d = SompConfig()
    return SompConfig(credentials=_credentials(auth, s),
                      timestamp_window=s.number("timestamp_window", d.timestamp_window, minimum=1),
                      allow=_allow(s), max_rate=s.number("max_rate", d.max_rate, minimum=0))


def read_batchsend(auth: Section, s: Section) -> BatchSendConfig:
    d = BatchSendConfig()
    return BatchSendConfig(credentials=_credentials(auth, s), allow=_allow(s),
                           max_rate=s.number("max_rate", d.max_rate, minimum=0),
                           report_url=_url(s, "report_url"), mo_url=_url(s, "mo_url"),
                           receiver=s.text("receiver"), push_password=s.text("push_password"))


def read_httpinterface(auth: Section, s: Section, templates: Section) -> HttpInterfaceConfig:
    d = HttpInterfaceConfig()
    found = templates.entries()
    for key, text in found.items():
        if not TEMPLATE_ID.match(key):
            raise ConfigError(f"templates.{key}", "a template id is 1-64 letters, digits, '_', '.' or '-'")
        if not text:
            raise ConfigError(f"templates.{key}", "a template needs a text")
    return HttpInterfaceConfig(credentials=_credentials(auth, s), very_code=auth.text("very_code"),
                               allow=_allow(s), max_rate=s.number("max_rate", d.max_rate, minimum=0),
                               signature=s.text("signature"), templates=found)
