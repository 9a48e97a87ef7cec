"""Signs that a modem is back, looked for cheaply while its line waits to reopen.

:class:`DeviceWatch` compares what ``stat`` says of the line's device path
(and of the ports the ``[modems] scan`` globs match) with its previous look:
a device node that appeared, or was created anew (a replugged USB stick gets
a fresh node, a new ``/dev/serial/by-id`` link, new owner or mode from udev),
is news.  A few ``stat`` calls a second on a line that is offline, none on a
healthy one; no udev library, no inotify.

:func:`answers` asks a modem whose port stayed (a hung modem) for ``AT``
once, on a port of its own that it closes after.
"""

from __future__ import annotations

import glob
import logging
import os
from typing import Callable

from ..errors import CommandError, ModemError
from .channel import Channel
from .port import Port

log = logging.getLogger(__name__)

_Look = dict[str, tuple[int, ...]]


def _node(path: str) -> tuple[int, ...] | None:
    """What identifies the device at ``path`` now (symlinks followed), None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_rdev, st.st_mode, st.st_uid, st.st_gid, st.st_ctime_ns)


class DeviceWatch:
    """Watches ``path`` and, while it is gone, the ports the ``scan`` globs match.

    The globs are listed again only when the directories they look in changed
    (a node added or removed changes its directory), so a look costs two or
    three ``stat`` calls however many ports there are.
    """

    def __init__(self, path: str, scan: tuple[str, ...] = ()) -> None:
        self.path = path
        self._scan = scan
        dirs = {os.path.dirname(pattern) for pattern in scan}
        self._dirs = None if any(glob.has_magic(d) for d in dirs) else sorted(dirs)
        self._stamp: tuple[object, ...] | None = None
        self._ports: _Look = {}
        self._seen: _Look = {}
        self._seen_scan = False

    def _scanned(self) -> _Look:
        """The scanned ports (not the line's own path) and their nodes."""
        stamp = tuple(_node(d) for d in self._dirs) if self._dirs is not None else None
        if stamp is None or stamp != self._stamp:
            self._stamp = stamp
            paths = {p for pattern in self._scan for p in glob.glob(pattern)} - {self.path}
            found = {p: _node(p) for p in paths}
            self._ports = {p: node for p, node in found.items() if node is not None}
        return self._ports

    def _look(self, scan: bool) -> tuple[_Look, bool]:
        own = _node(self.path)
        if own is not None:
            return {self.path: own}, False
        return (dict(self._scanned()), True) if scan else ({}, False)

    def rebase(self, scan: bool) -> None:
        """Remember what is there now (before an attempt to open)."""
        self._seen, self._seen_scan = self._look(scan)

    def appeared(self, scan: bool) -> str | None:
        """Look again: return a path whose device appeared or changed since the
        previous look, else None.  The line's own path comes first; with ``scan``
        (the modem may come back elsewhere) a scanned port counts while the
        line's path is gone.  A device that only went away is no news."""
        before, had_scan = self._seen, self._seen_scan
        now, self._seen_scan = self._look(scan)
        self._seen = now
        news = sorted(p for p, node in now.items() if before.get(p) != node)
        if self.path in news:
            return self.path
        # A first look at the ports (the line's path just went) is no news either.
        return news[0] if news and self._seen_scan and had_scan else None


def answers(path: str, *, baudrate: int, timeout: float, beat: Callable[[float | None], None] | None = None) -> bool:
    """Open ``path``, send ``AT`` and close it: True when the modem answered
    (OK, or even ERROR) within ``timeout`` seconds, False when it stayed silent
    or the port could not be opened."""
    port = Port(path, baudrate=baudrate, beat=beat)
    try:
        port.open()
        Channel(port, on_urc=lambda urc: None, name=f"probe:{path}").command("AT", timeout=timeout)
        return True
    except CommandError:
        return True  # an error final is an answer: the modem is alive
    except ModemError as exc:
        log.debug("probe %s: %s", path, exc)
        return False
    finally:
        port.close()
