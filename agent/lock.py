"""One agent per database: an exclusive lock on a file beside it.

``run`` takes the lock before anything opens or changes the database (crash
recovery requeues rows left 'Q': a second agent doing that under a live one
would make it send them twice).  The lock is ``flock`` on ``<database>.lock``:
the kernel drops it when the process ends, however it ends, so a crash never
leaves a stale lock behind.  The file holds the PID of the holder, for the
message a second start prints, and is 0640 like the database.  The CLI's read and queue commands do not take
it: they work beside the running agent, as applications' SQL does.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class LockHeld(Exception):
    """Another process holds the lock (``pid``: its PID when it could be read, else None)."""

    def __init__(self, database: Path, pid: int | None) -> None:
        holder = f"process {pid}" if pid else "another process"
        super().__init__(f"the database {database} is in use by {holder} (another sms-agent run): not started")
        self.database = database
        self.pid = pid


class DatabaseLock:
    """The lock of the database at ``database``.  :meth:`acquire` once, :meth:`release` at the end."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting and write our PID into the file.

        Raise LockHeld when another process holds it, OSError when the lock
        file cannot be created or opened (an unwritable state directory)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            if os.fstat(fd).st_uid == os.geteuid():
                os.fchmod(fd, 0o640)  # the database's mode (agent.store.db.FILE_MODE), whatever the umask
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise LockHeld(self.database, pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (idempotent).  The file stays: removing it would race a starting agent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
