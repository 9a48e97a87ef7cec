"""One thread serving a set of UDP sockets on 127.0.0.1 and a heap of timers.

The thread waits in ``select`` on every socket plus a wake-up pipe, with
the timeout set by the earliest timer: idle, it sleeps.  It holds the
owner's lock (a Condition) while it hands a datagram or runs a timer, and
notifies it after each round, so that the owner's state has one guard and
waiters wake on every change.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable, Hashable

log = logging.getLogger(__name__)

Addr = tuple[str, int]
_LOOPBACK = "127.0.0.1"
_DATAGRAM = 65535
_DRAIN = 64  # datagrams read from one socket per round, so that no socket starves the others


class UdpLoop:
    """Sockets keyed by the owner's keys, timers, and the thread ``name`` that serves them.

    ``deliver(key, data, addr)`` is called on the thread, with ``cond`` held,
    for each datagram a socket receives.
    """

    def __init__(self, name: str, cond: threading.Condition, clock: Callable[[], float],
                 deliver: Callable[[Hashable, bytes, Addr], None]) -> None:
        self._name = name
        self._cond = cond
        self._clock = clock
        self._deliver = deliver
        self._heap: list[tuple[float, int, Callable[[], object]]] = []
        self._seq = itertools.count()
        self._sockets: dict[Hashable, socket.socket] = {}
        self._selector: selectors.BaseSelector | None = None
        self._wake_r = self._wake_w = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True from :meth:`open` until :meth:`stop`."""
        return self._selector is not None and not self._stop.is_set()

    def open(self, keys: list[Hashable]) -> dict[Hashable, Addr]:
        """Bind one socket per key on 127.0.0.1, an ephemeral port each; return their addresses.
        Raise OSError when a socket cannot be made."""
        with self._cond:
            if self._selector is not None:
                raise RuntimeError(f"{self._name} already open")
            self._selector = selectors.DefaultSelector()
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_r, False)
            os.set_blocking(self._wake_w, False)
            self._selector.register(self._wake_r, selectors.EVENT_READ, None)
            for key in keys:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._sockets[key] = sock
                sock.setblocking(False)
                sock.bind((_LOOPBACK, 0))
                self._selector.register(sock, selectors.EVENT_READ, key)
            return {key: sock.getsockname() for key, sock in self._sockets.items()}

    def start(self) -> None:
        """Start the thread (after :meth:`open`)."""
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop the thread, close the sockets, drop the timers. Idempotent."""
        self._stop.set()
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.error("%s thread did not stop within %.1fs", self._name, timeout)
        with self._cond:
            for sock in self._sockets.values():
                sock.close()
            self._sockets.clear()
            if self._selector is not None:
                self._selector.close()
            for fd in (self._wake_r, self._wake_w):
                if fd >= 0:
                    os.close(fd)
            self._wake_r = self._wake_w = -1
            self._heap.clear()

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the thread, with the lock held, after ``delay`` seconds."""
        with self._cond:
            heapq.heappush(self._heap, (self._clock() + max(0.0, delay), next(self._seq), fn))
        if threading.current_thread() is not self._thread:
            self._wake()

    def sendto(self, key: Hashable, data: bytes, addr: Addr) -> None:
        """Send ``data`` to ``addr`` from ``key``'s socket; a datagram that cannot go is lost, as UDP may."""
        sock = self._sockets.get(key)
        if sock is None:
            return
        try:
            sock.sendto(data, addr)
        except OSError as exc:  # a full buffer, no route
            log.debug("%s %s: send to %s failed: %s", self._name, key, addr, exc)

    def wake(self) -> None:
        """Have the thread look again at its timers (after a change made by another thread)."""
        self._wake()

    def cpu_time(self) -> float:
        """CPU seconds the thread has used (0.0 before it starts)."""
        if self._thread is None or self._thread.ident is None:
            return 0.0
        return time.clock_gettime(time.pthread_getcpuclockid(self._thread.ident))

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # already awake (pipe full) or stopped

    def _run(self) -> None:
        selector = self._selector
        assert selector is not None
        while not self._stop.is_set():
            try:
                with self._cond:
                    timeout = max(0.0, self._heap[0][0] - self._clock()) if self._heap else None
                ready = selector.select(timeout)
                with self._cond:
                    if self._stop.is_set():
                        break
                    for key, _ in ready:
                        if key.data is None:
                            self._drain_wake()
                        else:
                            self._drain(key.fileobj, key.data)  # type: ignore[arg-type]
                    self._run_timers()
                    self._cond.notify_all()
            except Exception:  # the loop must outlive any one handler's bug
                log.exception("%s: unexpected error", self._name)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _drain(self, sock: socket.socket, key: Hashable) -> None:
        for _ in range(_DRAIN):
            try:
                data, addr = sock.recvfrom(_DATAGRAM)
            except BlockingIOError:
                return
            except OSError as exc:
                log.debug("%s %s: receive failed: %s", self._name, key, exc)
                return
            try:
                self._deliver(key, data, addr)
            except Exception:
                log.exception("%s %s: handling %r failed", self._name, key, data[:80])

    def _run_timers(self) -> None:
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:
                log.exception("%s: timer failed", self._name)
