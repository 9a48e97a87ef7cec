"""The doors a configuration asks for, built and listening (not yet started)."""

from __future__ import annotations

import threading

from ..config import Config
from ..core import Core
from ..metrics_recorder import Recorder
from ..store.queue import Store
from . import cmpp, smpp
from .door import Door
from .feed import KINDS

NAMES = ("smpp", "cmpp")


def wanted(config: Config) -> dict[str, tuple[str, ...]]:
    """The outbox destinations of the configured doors and the event kinds each wants."""
    return {name: KINDS for name in NAMES if getattr(config, name).enabled}


def build(config: Config, core: Core, store: Store, stop: threading.Event, *,
          recorder: Recorder | None = None) -> list[Door]:
    """The configured doors, each bound to its address (OSError when one cannot be had:
    its ``door`` attribute names the section)."""
    doors = []
    tz = config.agent.tz
    if config.smpp.enabled:
        c = config.smpp
        doors.append(_open("smpp", lambda: Door("smpp", c.host, c.port, c.timers, core, store, stop,
                                                smpp.session_factory(c.system_id, c.password,
                                                                     latin1=c.default_alphabet == "latin1"),
                                                tz=tz, recorder=recorder)))
    if config.cmpp.enabled:
        k = config.cmpp
        doors.append(_open("cmpp", lambda: Door("cmpp", k.host, k.port, k.timers, core, store, stop,
                                                cmpp.session_factory(k.source_addr, k.password), tz=tz,
                                                recorder=recorder)))
    return doors


class DoorError(OSError):
    def __init__(self, door: str, exc: OSError) -> None:
        super().__init__(exc.errno, exc.strerror or str(exc))
        self.door = door


def _open(name: str, make) -> Door:
    try:
        return make()
    except OSError as exc:
        raise DoorError(name, exc) from None
