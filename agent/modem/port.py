"""The serial port of one modem: the only module that imports pyserial.

pyserial opens the device, takes the exclusive lock and sets the line up
(raw, 8N1, no flow control).  Reads and writes then go straight to its file
descriptor with ``poll``: one system call waits on the device and on a
:class:`Wakeup` together, and one ``read`` takes everything waiting, which
pyserial's per-call select loops would not give us.  POSIX only.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import select
import threading
import time
from typing import Callable

import serial

from ..errors import PortError

log = logging.getLogger(__name__)

_READ_SIZE = 65536
_WRITE_TIMEOUT = 5.0  # a stalled device must not block the line's thread forever


class Wakeup:
    """A self-pipe that interrupts :meth:`Port.read` from any thread.

    :meth:`set` may be called from any thread, any number of times; the flag
    stays set until the owner calls :meth:`clear`.  :meth:`close` is idempotent,
    and :meth:`set` after close does nothing.
    """

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        # Guards the fds against close() racing set(): a closed fd number may be reused.
        self._lock = threading.Lock()
        self._closed = False

    def fileno(self) -> int:
        return self._read_fd

    def set(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                os.write(self._write_fd, b"!")
            except BlockingIOError:
                pass  # the pipe is full: it is set already

    def is_set(self) -> bool:
        with self._lock:
            if self._closed:
                return False
            readable = select.poll()
            readable.register(self._read_fd, select.POLLIN)
            return bool(readable.poll(0))

    def clear(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                while os.read(self._read_fd, 4096):
                    pass
            except BlockingIOError:
                pass

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._read_fd)
                os.close(self._write_fd)


class Port:
    """One serial device, opened exclusively, used by a single thread.

    Every failure of the device (cannot open, unplugged, EIO) raises
    PortError naming the path; the port is then useless until reopened.
    """

    def __init__(self, path: str, *, baudrate: int = 115200,
                 beat: Callable[[float | None], None] | None = None) -> None:
        """``beat`` is told, before each wait for input, how long the wait may
        last (the owner's watchdog heartbeat)."""
        self._path = path
        self._beat = beat
        self._baudrate = baudrate
        self._serial: serial.Serial | None = None
        self._fd = -1
        self._poll: select.poll | None = None
        self._wake_fd = -1  # the wakeup fd currently registered with _poll

    @property
    def path(self) -> str:
        return self._path

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        """Open and configure the device.  Raise PortError when it cannot be opened
        (missing, permission, already locked by another process)."""
        if self._serial is not None:
            return
        try:
            ser = serial.Serial(
                baudrate=self._baudrate, xonxoff=False, rtscts=False, dsrdtr=False, exclusive=True,
            )
            ser.port = self._path
            ser.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PortError(f"cannot open {self._path}: {exc}") from exc
        self._serial = ser
        self._fd = ser.fileno()
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)
        self._wake_fd = -1
        log.debug("%s: opened at %d baud", self._path, self._baudrate)

    def close(self) -> None:
        """Close the device; idempotent, never raises."""
        ser, self._serial = self._serial, None
        self._fd, self._poll, self._wake_fd = -1, None, -1
        if ser is None:
            return
        try:
            ser.close()
        except (serial.SerialException, OSError) as exc:
            log.debug("%s: error while closing: %s", self._path, exc)
        log.debug("%s: closed", self._path)

    def write(self, data: bytes) -> None:
        """Write all of ``data``.  Raise PortError when the device is gone or
        does not take the bytes within a few seconds."""
        fd = self._require_open()
        view = memoryview(data)
        deadline: float | None = None
        while view:
            try:
                view = view[os.write(fd, view):]
                continue
            except BlockingIOError:
                pass
            except OSError as exc:
                raise PortError(f"{self._path}: write failed: {exc}") from exc
            # The device's buffer is full: wait (bounded) until it drains.
            if deadline is None:
                deadline = time.monotonic() + _WRITE_TIMEOUT
            writable = select.poll()
            writable.register(fd, select.POLLOUT)
            if not writable.poll(_millis(deadline - time.monotonic())):
                raise PortError(f"{self._path}: write timed out")

    def read(self, timeout: float, wakeup: Wakeup | None = None) -> bytes:
        """Wait up to ``timeout`` seconds for input, and return all that is waiting.

        Return b'' on timeout, or as soon as ``wakeup`` is set (it is not
        cleared here) while no input is waiting.  Raise PortError when the
        device is gone (EIO, hang-up, readable but empty).
        """
        self._require_open()
        poller = self._poll
        assert poller is not None
        wake_fd = wakeup.fileno() if wakeup is not None else -1
        if wake_fd != self._wake_fd:
            if self._wake_fd >= 0:
                poller.unregister(self._wake_fd)
            if wake_fd >= 0:
                poller.register(wake_fd, select.POLLIN)
            self._wake_fd = wake_fd
        if self._beat is not None:
            self._beat(timeout if math.isfinite(timeout) else None)
        events = poller.poll(_millis(timeout))
        for fd, mask in events:
            if fd == self._fd:
                if mask & select.POLLNVAL:
                    raise PortError(f"{self._path}: device closed under us")
                return self._read_now()
        return b""

    def _read_now(self) -> bytes:
        try:
            data = os.read(self._fd, _READ_SIZE)
        except BlockingIOError:
            return b""
        except OSError as exc:
            reason = "device gone" if exc.errno in (errno.EIO, errno.ENXIO, errno.ENODEV) else "read failed"
            raise PortError(f"{self._path}: {reason}: {exc}") from exc
        if not data:
            raise PortError(f"{self._path}: device gone (readable but empty)")
        return data

    def _require_open(self) -> int:
        if self._serial is None:
            raise PortError(f"{self._path}: port is not open")
        return self._fd


def _millis(timeout: float) -> int | None:
    """A timeout in seconds as poll() wants it: rounded up, 0 for <= 0 or NaN, None for infinity."""
    if not timeout > 0:
        return 0
    if math.isinf(timeout):
        return None
    return min(math.ceil(timeout * 1000), 2**31 - 1)
