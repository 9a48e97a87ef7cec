"""One TCP listener and its sessions, served by one thread and one selector.

Both binary protocols frame a PDU the same way: a 4-byte big-endian length
(the whole PDU, itself included) first.  :class:`Listener` owns the listening
socket, every connection's socket and buffers, and the timers; a protocol
supplies a :class:`Session` per connection, which is handed whole frames and
the clock and answers by :meth:`Conn.send`.  Everything happens on the
listener's thread, so a session needs no lock; other threads only call
:meth:`Listener.wake` (new events in the outbox) through a socket pair.

Limits: ``max_sessions`` connections at once (one more is closed at once,
logged once a minute), a frame longer than the session's ``max_frame`` or
shorter than its header closes the connection after the session's last word
(:meth:`Session.bad_frame`), 4 MB of unsent output closes a client that does
not read.  At a stop every session is asked to say goodbye
(:meth:`Session.goodbye`: unbind, CMPP_TERMINATE) and given until the
deadline to be answered; then all sockets close.

A session that raises (a bug some input found) is closed and logged with its
traceback; the door and its other sessions go on (one client cannot take the
door away from the others).  What the session had in flight goes back to the
outbox, as when a client disconnects.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

log = logging.getLogger(__name__)

MAX_OUTPUT = 4 * 1024 * 1024  # bytes queued to a client that does not read before it is dropped
_READ = 65536


class Session(Protocol):
    """What a protocol does with one connection (all calls on the listener's thread)."""

    max_frame: int
    header: int  # the smallest valid frame

    def frame(self, data: bytes, now: float) -> None: ...

    def bad_frame(self, length: int) -> None: ...

    def timer(self, now: float) -> float | None: ...  # do what is due; return when to be called next

    def pump(self, now: float) -> None: ...  # deliver what waits in the outbox, if this session takes it

    def goodbye(self) -> bool: ...  # start the goodbye; True when an answer is awaited

    def closed(self) -> None: ...

    @property
    def done(self) -> bool: ...  # the goodbye was answered (or nothing awaits one)


class Conn:
    """A connection's socket and buffers, as its session sees it."""

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self.sock = sock
        self.peer = peer
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.closing = False  # close once the output is written
        self.dead = False

    def send(self, data: bytes) -> None:
        if self.dead:
            return
        if not self.outbuf:
            try:
                n = self.sock.send(data)
            except BlockingIOError:
                n = 0
            except OSError:
                self.dead = True
                return
            data = data[n:]
        self.outbuf += data
        if len(self.outbuf) > MAX_OUTPUT:
            log.warning("%s does not read what is sent to it: closed", self.peer)
            self.dead = True

    def close_after_output(self) -> None:
        self.closing = True


SessionFactory = Callable[[Conn], Session]


class Listener(threading.Thread):
    """Accept on (``host``, ``port``) and serve each connection with ``factory(conn)``."""

    def __init__(self, name: str, host: str, port: int, factory: SessionFactory, stop: threading.Event, *,
                 max_sessions: int, idle: Callable[[float], float | None] | None = None,
                 unbind_timeout: float = 2.0, counted: Callable[[int], None] | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self.door = name
        self._factory = factory
        self._halt = stop
        self._max = max_sessions
        self._idle = idle  # the door's own timer (stale parts...), called like a session's
        self._unbind_timeout = unbind_timeout
        self._counted = counted or (lambda n: None)  # told the number of connections when it changes
        self._sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                          backlog=64, reuse_port=False)
        self._sock.setblocking(False)
        self.address = self._sock.getsockname()[:2]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._conns: dict[socket.socket, tuple[Conn, Session]] = {}
        self._next: dict[socket.socket, float | None] = {}
        self._refused_logged = 0.0
        self.heartbeat = None  # a watchdog Heartbeat, set by the App
        self.sessions_total = 0
        self.session_failures = 0  # sessions ended by an exception of their own (see _guard)

    # --- other threads ------------------------------------------------------------------

    def wake(self) -> None:
        """New outbox events, or the stop: look now (any thread)."""
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass

    @property
    def sessions(self) -> int:
        return len(self._conns)

    def stop_now(self, deadline: float) -> None:
        """Wake the thread for the stop and join it by ``deadline`` (monotonic)."""
        self.wake()
        if self.is_alive():
            self.join(max(0.0, deadline - time.monotonic()))

    # --- the thread -----------------------------------------------------------------------

    def run(self) -> None:
        self._sel.register(self._sock, selectors.EVENT_READ, "accept")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        idle_next = 0.0 if self._idle is not None else float("inf")
        try:
            while not self._halt.is_set():
                now = time.monotonic()
                if self._idle is not None and now >= idle_next:
                    idle_next = self._idle(now) or now + 60.0
                timeout = self._timeout(now, idle_next)
                if self.heartbeat is not None:
                    self.heartbeat.beat(None if timeout is None else timeout + 30.0)
                for key, mask in self._sel.select(timeout):
                    self._event(key, mask)
                self._timers()
                self._pump()
                self._reap()
            self._goodbye()
        except Exception:  # a bug outside any session: log it once, and let the watchdog see the thread gone
            log.exception("%s listener failed", self.door)
            raise
        finally:
            for sock in list(self._conns):
                self._close(sock)
            self._sel.close()
            self._sock.close()
            self._wake_r.close()
            self._wake_w.close()

    def _timeout(self, now: float, idle_next: float) -> float | None:
        due = [t for t in self._next.values() if t is not None]
        due.append(idle_next)
        first = min(due)
        return None if first == float("inf") else max(0.0, first - now)

    def _event(self, key: selectors.SelectorKey, mask: int) -> None:
        if key.data == "accept":
            self._accept()
        elif key.data == "wake":
            try:
                while self._wake_r.recv(4096):
                    pass
            except (BlockingIOError, OSError):
                pass
        else:
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock not in self._conns:
                return
            if mask & selectors.EVENT_WRITE:
                self._flush(sock)
            if mask & selectors.EVENT_READ:
                self._read(sock)

    def _accept(self) -> None:
        while True:
            try:
                sock, addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("%s: accept failed: %s", self.door, exc)
                return
            peer = f"{addr[0]}:{addr[1]}"
            if len(self._conns) >= self._max:
                now = time.monotonic()
                if now - self._refused_logged > 60:
                    self._refused_logged = now
                    log.warning("%s: %s refused, already %d sessions (max_sessions)", self.door, peer, self._max)
                sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Conn(sock, peer)
            session = self._factory(conn)
            self._conns[sock] = (conn, session)
            self._next[sock] = session.timer(time.monotonic())
            self._sel.register(sock, selectors.EVENT_READ, "conn")
            self.sessions_total += 1
            self._counted(len(self._conns))
            log.info("%s: connection from %s", self.door, peer)

    def _read(self, sock: socket.socket) -> None:
        conn, session = self._conns[sock]
        try:
            data = sock.recv(_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            conn.dead = True
            return
        conn.inbuf += data
        now = time.monotonic()
        with self._guard(conn):
            while len(conn.inbuf) >= 4 and not conn.dead and not conn.closing:
                length = int.from_bytes(conn.inbuf[:4], "big")
                if length < session.header or length > session.max_frame:
                    session.bad_frame(length)
                    conn.close_after_output()
                    break
                if len(conn.inbuf) < length:
                    break
                frame = bytes(conn.inbuf[:length])
                del conn.inbuf[:length]
                session.frame(frame, now)
            self._next[sock] = session.timer(now)

    @contextlib.contextmanager
    def _guard(self, conn: Conn) -> Iterator[None]:
        """A session's own failure (a bug its input found) ends that session, not the door:
        logged with its traceback, the connection closed, the others served on."""
        try:
            yield
        except Exception:
            log.exception("%s: the session of %s failed; closed", self.door, conn.peer)
            conn.dead = True
            self.session_failures += 1

    def _flush(self, sock: socket.socket) -> None:
        conn = self._conns[sock][0]
        if conn.outbuf:
            try:
                n = sock.send(conn.outbuf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                conn.dead = True
                return
            del conn.outbuf[:n]

    def _timers(self) -> None:
        now = time.monotonic()
        for sock, when in list(self._next.items()):
            if when is not None and when <= now and sock in self._conns:
                conn, session = self._conns[sock]
                with self._guard(conn):
                    self._next[sock] = session.timer(now)

    def _pump(self) -> None:
        now = time.monotonic()
        for sock, (conn, session) in list(self._conns.items()):
            if not conn.dead and not conn.closing:
                with self._guard(conn):
                    session.pump(now)
                    self._next[sock] = session.timer(now)

    def _reap(self) -> None:
        for sock, (conn, _) in list(self._conns.items()):
            if conn.dead or (conn.closing and not conn.outbuf):
                self._close(sock)
            else:
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbuf else 0)
                if self._sel.get_key(sock).events != events:
                    self._sel.modify(sock, events, "conn")

    def _close(self, sock: socket.socket) -> None:
        conn, session = self._conns.pop(sock)
        self._next.pop(sock, None)
        try:
            self._sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        try:
            sock.close()
        except OSError:
            pass
        conn.dead = True
        session.closed()
        self._counted(len(self._conns))
        log.info("%s: connection from %s closed", self.door, conn.peer)

    def _goodbye(self) -> None:
        """Ask every session to end, and wait for the answers until the unbind timeout."""
        waiting = [sock for sock, (_, session) in self._conns.items() if session.goodbye()]
        deadline = time.monotonic() + self._unbind_timeout
        while waiting and time.monotonic() < deadline:
            self._reap()
            waiting = [s for s in waiting if s in self._conns and not self._conns[s][1].done]
            if not waiting:
                break
            for key, mask in self._sel.select(max(0.0, deadline - time.monotonic())):
                if key.data == "conn":
                    self._event(key, mask)
        for sock in list(self._conns):  # the last words (unbind_resp...) go out before the close
            self._flush(sock)
