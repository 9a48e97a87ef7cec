"""The watchdog: systemd is told all is well only while every thread is alive and making progress."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import pytest

from agent import router as router_module
from agent.app import App
from agent.config import parse
from agent.watchdog import Watchdog

from .waiting import wait_until


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_thread_past_its_promise_is_named_once(caplog):
    clock = Clock()
    wd = Watchdog(grace=5, clock=clock)
    stuck = wd.register("router", lambda: True)
    idle = wd.register("line sim1", lambda: True)
    stuck.beat(10)
    idle.beat(None)  # waiting for work: no deadline
    clock.t += 15
    assert wd.check() == []  # 10 s promised, 5 s of grace
    clock.t += 1
    with caplog.at_level(logging.ERROR, logger="agent.watchdog"):
        assert wd.check() == ["router has made no progress for 16s"]
        wd.check()
    assert [r.getMessage() for r in caplog.records].count(
        "watchdog: router has made no progress for 16s; systemd is no longer told all is well") == 1
    stuck.beat(10)
    assert wd.check() == []


def test_a_dead_thread_is_named():
    wd = Watchdog(grace=5, clock=Clock())
    thread = threading.Thread(target=lambda: None, name="push-1")
    thread.start()
    thread.join()
    wd.register("push-1", thread.is_alive).beat(None)
    assert wd.check() == ["push-1 has died"]


@pytest.fixture
def app(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(router_module, "TURN_ALLOWANCE", 0.2)
    config = parse("[agent]\nid = wd\nstate_dir = state\n[http]\nport = 0\n[queue]\npoll_interval = 0.1\n"
                   "[simulator]\nlines = 2\nsend_delay = 0\n", base_dir=tmp_path)
    a = App(config, watchdog=Watchdog(grace=0.3))
    a.start()
    assert a.wait_ready(20)
    yield a
    a.stop()


def test_every_long_lived_thread_is_watched_and_a_stuck_router_stops_the_pings(app):
    names = {b.name for b in app.watchdog._beats}
    assert {"router", "jobs", "line sim1", "line sim2"} <= names
    wait_until(lambda: app.health() == [], 5, lambda: f"healthy: {app.health()}")

    release = threading.Event()
    entered = threading.Event()
    real = app.store.dispatch.candidates

    def stuck(**kw):  # the router's next turn hangs in the database
        entered.set()
        release.wait(30)
        return real(**kw)

    app.store.dispatch.candidates = stuck
    try:
        app.router.wake()
        assert entered.wait(5)
        problems = wait_until(lambda: app.health(), 5, "the watchdog to notice")
        assert [p for p in problems if p.startswith("router has made no progress")], problems
        assert not [p for p in problems if not p.startswith("router")], problems  # the others are fine
    finally:
        release.set()
        app.store.dispatch.candidates = real
    wait_until(lambda: app.health() == [], 5, lambda: f"healthy again: {app.health()}")


def test_an_http_server_that_does_not_answer_stops_the_pings(app):
    # Pretend the server moved to a port where nothing answers.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    real_port = app.http.port
    app.http.port = dead_port
    try:
        problems = app.health()
        assert [p for p in problems if p.startswith("the HTTP server does not answer")], problems
    finally:
        app.http.port = real_port
    assert app.health() == []


def test_the_agent_process_tells_systemd_ready_watchdog_and_stopping(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(20)
    (tmp_path / "config.ini").write_text("[agent]\nid = wd\nstate_dir = state\n[http]\nport = 0\n"
                                         "[simulator]\nlines = 1\nsend_delay = 0\n")
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"}
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", "config.ini", "run"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        got: list[str] = []
        while got.count("WATCHDOG=1") < 3:
            got.append(sock.recv(4096).decode())
        assert got[0] == "READY=1"
        proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in got:
            got.append(sock.recv(4096).decode())
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
