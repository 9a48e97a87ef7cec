"""The simulated network's ledger: one JSON line per SMS part it accepted.

A proof harness (``bench/crash.py``) counts from it what really left the
box, whatever the agent believed.  Each line is written with a single
``write`` on a file opened with ``O_APPEND``, so a line is never torn or
interleaved; it is not fsynced (the simulator is not the process a crash
test kills).  Fields: ``time`` (ISO-8601 wall time), ``modem`` (``sim1``...),
``via`` (``CMGS`` or ``CMSS``), ``index`` (the storage slot for ``CMSS``,
else null), ``recipient``, ``mr`` (the TP-MR answered), ``pdu`` (the
SMS-SUBMIT in hex with its SMSC field), ``text`` (decoded), ``concat``
(``[ref, total, seq]`` or null).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any


class Ledger:
    """An append-only JSON-lines file at ``path``; :meth:`open` before writing."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._fd = -1
        self._lock = threading.Lock()

    def open(self) -> None:
        """Open (creating it, keeping what is there) for appending. Raise OSError."""
        with self._lock:
            if self._fd < 0:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def write(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` as one line. Raise RuntimeError when not open, OSError on a write error."""
        data = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self._fd < 0:
                raise RuntimeError(f"ledger {self.path} is not open")
            view = memoryview(data)
            while view:  # one write in practice; a short one is finished, never interleaved (one lock)
                view = view[os.write(self._fd, view):]

    def close(self) -> None:
        """Close the file; idempotent."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read(path: str) -> list[dict[str, Any]]:
    """Every entry of the ledger at ``path`` (empty when it does not exist)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
