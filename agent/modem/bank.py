"""The set of lines: one :class:`LineWorker` per modem (and the lines driven
elsewhere, e.g. GoIP channels), plus hot-plug discovery of modems.

A modem that comes back from a USB unplug may appear at another
``/dev/ttyUSBn``.  Lines are best configured by their stable
``/dev/serial/by-id/...`` path; when that path is gone and the line's IMEI
is known (configured, or read when it was last seen), :meth:`ModemBank.locate`
probes the ports matched by ``[modems] scan`` globs that no other line holds
and returns the one whose ``AT+CGSN`` answers that IMEI.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping

from ..config import LineConfig, ModemsConfig
from ..errors import ModemError
from .channel import Channel
from .port import Port
from ..model import Line, LineEvents, LineState
from .worker import LineWorker

log = logging.getLogger(__name__)


def _real(path: str) -> str:
    """The path with its symlinks resolved; the path itself when a link vanishes
    while it is being resolved (a modem unplugged meanwhile)."""
    try:
        return os.path.realpath(path)
    except OSError:
        return path


class ModemBank:
    """Every line of the agent, in configuration order: a :class:`LineWorker` for
    each modem, and the lines given in ``others`` by name (the channels of a
    GoIP box, driven elsewhere) for the rest."""

    def __init__(self, lines: tuple[LineConfig, ...], modems: ModemsConfig, events: LineEvents,
                 stop: threading.Event, *, others: Mapping[str, Line] | None = None) -> None:
        self.modems = modems
        self._stop = stop
        self._probe_lock = threading.Lock()
        others = others or {}
        self.workers: dict[str, Line] = {
            line.name: others[line.name] if line.name in others
            else LineWorker(line, modems, events, stop, locate=self.locate) for line in lines
        }

    def __iter__(self) -> Iterator[Line]:
        return iter(self.workers.values())

    def __getitem__(self, name: str) -> Line:
        return self.workers[name]

    def __len__(self) -> int:
        return len(self.workers)

    def states(self) -> list[LineState]:
        """A snapshot of every line (no port is touched)."""
        return [w.state for w in self.workers.values()]

    def start(self) -> None:
        for w in self.workers.values():
            w.start()

    def wait_started(self, timeout: float) -> bool:
        """Wait until every line is ready or has given up for now; True when all did in time."""
        deadline = time.monotonic() + timeout
        return all(w.started.wait(max(0.0, deadline - time.monotonic())) for w in self.workers.values())

    def stop(self, timeout: float = 10.0) -> None:
        """Wake every worker (the shared stop event must be set) and join them within ``timeout``."""
        for w in self.workers.values():
            w.wake()
        deadline = time.monotonic() + timeout
        for w in self.workers.values():
            if not w.join(max(0.0, deadline - time.monotonic())):
                log.error("%s: worker did not stop in time", w.name)

    def locate(self, imei: str, asking: str) -> str | None:
        """Return the path of the scanned port whose modem answers IMEI ``imei``, or None.

        Ports held by other lines are skipped.  Probes are serialised so two
        lines never open the same candidate at once.
        """
        with self._probe_lock:
            held = {_real(w.state.device) for w in self.workers.values()
                    if w.name != asking and w.state.state not in ("offline", "stopped", "disabled")}
            for pattern in self.modems.scan:
                for path in sorted(glob.glob(pattern)):
                    if _real(path) in held or self._stop.is_set():
                        continue
                    if self._probe_imei(path) == imei:
                        return path
        return None

    def _probe_imei(self, path: str) -> str:
        port = Port(path)
        try:
            port.open()
            channel = Channel(port, on_urc=lambda urc: None, name=f"probe:{path}")
            channel.abort()
            channel.command("ATE0", timeout=min(self.modems.command_timeout, 2.0))
            resp = channel.command("AT+CGSN", timeout=min(self.modems.command_timeout, 2.0))
            for line in resp.lines:
                digits = "".join(ch for ch in line if ch.isdigit())
                if 14 <= len(digits) <= 17:
                    return digits
        except ModemError as exc:
            log.debug("probe %s: %s", path, exc)
        finally:
            port.close()
        return ""
