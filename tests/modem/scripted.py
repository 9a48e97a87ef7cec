"""A tiny scripted fake modem on a real pseudo-terminal.

The code under test opens :attr:`ScriptedModem.path` (the pty's slave) through
pyserial, exactly like a USB tty.  A thread reads the master side with select
and plays the script: each :class:`Step` waits until the host has written
exactly ``expect`` (the next bytes, byte for byte; ``b''`` waits for nothing),
optionally for a ``gate`` event, then writes ``reply``.  A wrong byte or a
step that times out stops the script; :meth:`ScriptedModem.check` reports it.
What the host writes after the last step is still recorded in
:attr:`received`.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import threading
import time
import tty
from dataclasses import dataclass
from typing import Iterable

STEP_TIMEOUT = 5.0


@dataclass(frozen=True)
class Step:
    """Wait for ``expect`` from the host (and for ``gate``), then send ``reply``.

    ``dribble`` sends the reply one byte at a time, each only after the host
    has read the previous one, so that the host sees every possible split.
    """

    expect: bytes = b""
    reply: bytes = b""
    gate: threading.Event | None = None
    dribble: bool = False


class _Stopped(Exception):
    pass


class ScriptError(AssertionError):
    pass


class ScriptedModem:
    """The pty pair, the script and the thread that plays it (see the module doc)."""

    def __init__(self, steps: Iterable[Step | tuple[bytes, bytes]], *, step_timeout: float = STEP_TIMEOUT) -> None:
        self.steps = [s if isinstance(s, Step) else Step(*s) for s in steps]
        self._step_timeout = step_timeout
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # raw before the host opens it: no echo, no CR/LF mapping
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._stop_r, self._stop_w = os.pipe()
        self._cond = threading.Condition()
        self._rx = bytearray()
        self._steps_done = 0
        self._pos = 0  # where the next expected bytes start in _rx (modem thread only)
        self._finished = False
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="scripted-modem", daemon=True)
        self._closed = False

    # --- test side ---------------------------------------------------------------

    def start(self) -> ScriptedModem:
        self._thread.start()
        return self

    @property
    def received(self) -> bytes:
        with self._cond:
            return bytes(self._rx)

    def wait_steps(self, count: int, timeout: float = STEP_TIMEOUT) -> bool:
        """Wait until ``count`` steps have been played."""
        with self._cond:
            return self._cond.wait_for(lambda: self._steps_done >= count or self._finished, timeout) \
                and self._steps_done >= count

    def wait_received(self, data: bytes, timeout: float = STEP_TIMEOUT) -> bool:
        """Wait until the host has written ``data`` (anywhere in the stream)."""
        with self._cond:
            return self._cond.wait_for(lambda: data in self._rx, timeout)

    def wait_pending(self, timeout: float = STEP_TIMEOUT) -> bool:
        """Wait until bytes we sent are waiting in the host's input queue."""
        return bool(select.select([self._slave], [], [], timeout)[0])

    def check(self, timeout: float = STEP_TIMEOUT) -> None:
        """Raise ScriptError unless every step was played as written."""
        with self._cond:
            self._cond.wait_for(lambda: self._finished, timeout)
            if self.error:
                raise ScriptError(self.error)
            if self._steps_done < len(self.steps):
                raise ScriptError(f"only {self._steps_done} of {len(self.steps)} steps played; "
                                  f"received {bytes(self._rx)!r}")

    def hangup(self) -> None:
        """Make the device vanish, as when a USB modem is unplugged: close the master."""
        self._stop_thread()
        if not self._closed:
            self._closed = True
            os.close(self._master)
            os.close(self._slave)

    def close(self) -> None:
        """Stop the thread and release every fd; idempotent."""
        self.hangup()
        if self._stop_r >= 0:
            os.close(self._stop_r)
            os.close(self._stop_w)
            self._stop_r = self._stop_w = -1

    def _stop_thread(self) -> None:
        if self._thread.is_alive():
            os.write(self._stop_w, b"!")
            self._thread.join(STEP_TIMEOUT)

    # --- modem thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            for index, step in enumerate(self.steps):
                deadline = time.monotonic() + self._step_timeout
                self._expect(step.expect, index, deadline)
                if step.gate is not None and not step.gate.wait(self._step_timeout):
                    raise ScriptError(f"step {index}: gate never opened")
                self._send(step.reply, deadline, step.dribble)
                with self._cond:
                    self._steps_done += 1
                    self._cond.notify_all()
        except _Stopped:
            return
        except ScriptError as exc:
            self.error = str(exc)
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()
        try:
            while True:  # keep recording what the host writes
                self._read(time.monotonic() + 3600)
        except (_Stopped, ScriptError):
            pass

    def _expect(self, expect: bytes, index: int, deadline: float) -> None:
        start = self._pos
        end = start + len(expect)
        while True:
            with self._cond:
                got = bytes(self._rx[start:end])
            if not expect.startswith(got):
                raise ScriptError(f"step {index}: expected {expect!r}, got {got!r}")
            if len(got) == len(expect):
                self._pos = end
                return
            self._read(deadline, f"step {index}: waiting for {expect!r}, got {got!r}")

    def _read(self, deadline: float, waiting: str = "") -> None:
        left = deadline - time.monotonic()
        ready = select.select([self._master, self._stop_r], [], [], max(0.0, left))[0]
        if self._stop_r in ready:
            raise _Stopped
        if not ready:
            raise ScriptError(f"timed out: {waiting}")
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            raise ScriptError(f"host side gone: {exc}") from None
        with self._cond:
            self._rx += data
            self._cond.notify_all()

    def _send(self, data: bytes, deadline: float, dribble: bool) -> None:
        chunks = [data[i:i + 1] for i in range(len(data))] if dribble else [data]
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                try:
                    view = view[os.write(self._master, view):]
                except BlockingIOError:
                    ready = select.select([self._stop_r], [self._master], [], max(0.0, deadline - time.monotonic()))
                    if self._stop_r in ready[0]:
                        raise _Stopped from None
                    if not ready[1]:
                        raise ScriptError("host does not read") from None
            if dribble:
                self._wait_drained(deadline)

    def _wait_drained(self, deadline: float) -> None:
        # The kernel has no event for "the reader took the bytes": poll the
        # slave's input queue length (TIOCINQ), briefly, under the step deadline.
        while struct.unpack("i", fcntl.ioctl(self._slave, termios.TIOCINQ, b"\0\0\0\0"))[0]:
            if time.monotonic() > deadline:
                raise ScriptError("host never read the dribbled bytes")
            if select.select([self._stop_r], [], [], 0.0005)[0]:
                raise _Stopped
