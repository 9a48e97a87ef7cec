"""``[line:NAME]`` sections: one per line, a modem (``device``) or a channel of a
GoIP box (``goip_id``), validated; errors name ``line:NAME.key``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .config_reader import Section
from .errors import ConfigError
from .redact import SECRET

LINE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
PROFILES = ("auto", "generic", "simcom", "huawei", "quectel", "zte", "wavecom")
SEND_MODES = ("direct", "store")
GOIP_TOKEN = re.compile(r"[^;:\s\x00]{1,64}")  # what a GoIP packet can carry as an id or password


@dataclass(frozen=True)
class LineConfig:
    name: str
    device: str  # the modem's AT port; best a /dev/serial/by-id/... path ('' for a GoIP channel)
    baudrate: int = 115200
    profile: str = "auto"
    pin: str = field(default="", metadata=SECRET)
    imei: str = ""
    provider: str = ""
    enabled: bool = True
    daily_limit: int = -1  # SMS parts per local day; -1 unlimited
    total_limit: int = -1  # SMS parts in all; -1 unlimited
    # "direct": AT+CMGS.  "store": AT+CMGW then AT+CMSS, so that a send cut short
    # by a crash is resolved from the modem's memory instead of sent again.
    send_mode: str = "direct"
    # A channel of a GoIP box instead of a modem: its "SMS Client ID" and password (see [goip_udp]).
    goip_id: str = ""
    goip_password: str = field(default="", metadata=SECRET)

    @property
    def goip(self) -> bool:
        """True for a channel of a GoIP box, False for a modem."""
        return bool(self.goip_id)


def read_line(s: Section, name: str) -> LineConfig:
    """The line of section ``[line:name]``; ConfigError naming the key that is wrong."""
    if not LINE_NAME.fullmatch(name):
        raise ConfigError(s.name, "line name must be 1-32 letters, digits, '_', '.', '-'")
    pin = s.text("pin")
    if pin and not re.fullmatch(r"\d{4,8}", pin):
        raise ConfigError(f"{s.name}.pin", "a SIM PIN is 4 to 8 digits")
    imei = s.text("imei")
    if imei and not re.fullmatch(r"\d{14,16}", imei):
        raise ConfigError(f"{s.name}.imei", "an IMEI is 14 to 16 digits")
    device, goip_id = s.text("device"), s.text("goip_id")
    if device and goip_id:
        raise ConfigError(f"{s.name}.goip_id", "a line has either device (a modem) or goip_id (a GoIP channel),"
                                               " not both")
    if not device and not goip_id:
        raise ConfigError(f"{s.name}.device", "required: device (a modem's port) or goip_id (a GoIP channel)")
    goip_password = s.text("goip_password")
    for key, value in (("goip_id", goip_id), ("goip_password", goip_password)):
        if value and not GOIP_TOKEN.fullmatch(value):
            raise ConfigError(f"{s.name}.{key}", "at most 64 characters, none of ';', ':', spaces")
    if goip_id and not goip_password:
        raise ConfigError(f"{s.name}.goip_password", "required with goip_id (the channel's password)")
    if goip_password and not goip_id:
        raise ConfigError(f"{s.name}.goip_password", "only for a GoIP channel (goip_id)")
    if goip_id and s.text("send_mode", "direct") != "direct":
        raise ConfigError(f"{s.name}.send_mode", "a GoIP channel sends directly (no modem storage)")
    return LineConfig(
        name=name,
        device=device,
        goip_id=goip_id,
        goip_password=goip_password,
        baudrate=s.integer("baudrate", 115200, minimum=300),
        profile=s.choice("profile", "auto", PROFILES),
        pin=pin,
        imei=imei,
        provider=s.text("provider"),
        enabled=s.flag("enabled", True),
        daily_limit=s.integer("daily_limit", -1, minimum=-1),
        total_limit=s.integer("total_limit", -1, minimum=-1),
        send_mode=s.choice("send_mode", "direct", SEND_MODES),
    )
