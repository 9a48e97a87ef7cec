"""The whole agent as a process: a graceful stop, one agent per database, clear start-up errors.

* SIGTERM while every line is mid-send: the sends finish, their outcomes are
  written, nothing is left 'Q' or in doubt, and nothing is sent again after a
  restart.
* A stop budget too short for the sends: only those are cut short, left in
  doubt with a log line that says so, and requeued in doubt at the next start.
* A second ``run`` on the same database exits 75 at once, naming the database
  and the PID holding it, and changes nothing; the CLI still works beside it.
* A busy HTTP port, an unusable state directory or database: one line naming
  it, a documented exit code, no traceback.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from agent.model import NewMessage
from agent.store.queue import Store

from .agent_process import AgentProcess
from .waiting import wait_until

REPO = Path(__file__).resolve().parent.parent


def _config(*, send_delay: float, stop_timeout: float = 20, lines: int = 2, port: int = 0, extra: str = "") -> str:
    return (f"[agent]\nid = stop\nstate_dir = state\nstop_timeout = {stop_timeout}\n[queue]\npoll_interval = 0.1\n"
            f"[http]\nport = {port}\n[simulator]\nlines = {lines}\nsend_delay = {send_delay}\nreport_delay = 0\n"
            + extra)


def _enqueue(db: Path, texts: list[str]) -> list[int]:
    db.parent.mkdir(parents=True, exist_ok=True)
    store = Store(db)
    store.open()
    try:
        return store.enqueue([NewMessage(recipient=f"+861390000{i:04d}", text=t) for i, t in enumerate(texts)]).ids
    finally:
        store.close()


def _rows(db: Path) -> dict[int, tuple]:
    con = sqlite3.connect(db, timeout=5)
    try:
        return {r[0]: r[1:] for r in con.execute("SELECT id, status, in_doubt, errors, failure_cause FROM smsserver_out")}
    finally:
        con.close()


def _statuses(db: Path) -> list[str]:
    return sorted(r[0] for r in _rows(db).values())


def test_sigterm_mid_send_lets_the_sends_finish_and_nothing_goes_twice(tmp_path):
    db = tmp_path / "state" / "sms-agent.db"
    # 3 parts each at 0.4 s a part: a send takes 1.2 s.
    ids = _enqueue(db, [f"message {n} " + "x" * 300 for n in range(6)])
    agent = AgentProcess(tmp_path, _config(send_delay=0.4)).start()
    try:
        wait_until(lambda: _statuses(db).count("Q") == 2, 20, lambda: f"both lines sending: {_rows(db)}\n{agent.output}")
        agent.signal(signal.SIGTERM)
        assert agent.wait(30) == 0, agent.output
    finally:
        agent.stop()
    rows = _rows(db)
    assert sorted(rows) == ids
    assert [r for r in rows.values() if r[0] not in ("S", "U")] == []  # nothing left in flight
    assert [r for r in rows.values() if r[1] or r[2] or r[3]] == []  # nothing in doubt, no error counted
    sent_first = {i for i, r in rows.items() if r[0] == "S"}
    assert len(sent_first) >= 2
    assert "waiting up to" in agent.output
    assert "no final result" not in agent.output and "retry" not in agent.output
    assert "Traceback" not in agent.output

    agent.start()  # the rest goes out; what went out is never sent again
    try:
        wait_until(lambda: _statuses(db) == ["S"] * 6, 30, lambda: f"all sent: {_rows(db)}\n{agent.output}")
        agent.signal(signal.SIGTERM)
        assert agent.wait(30) == 0, agent.output
    finally:
        agent.stop()
    assert "requeued" not in agent.output
    assert [r for r in _rows(db).values() if r[1]] == []


def test_a_stop_budget_too_short_leaves_only_the_unanswered_sends_in_doubt(tmp_path):
    db = tmp_path / "state" / "sms-agent.db"
    ids = _enqueue(db, [f"slow {n}" for n in range(4)])
    agent = AgentProcess(tmp_path, _config(send_delay=30, stop_timeout=1)).start()
    try:
        wait_until(lambda: _statuses(db).count("Q") == 2, 20, lambda: f"both lines sending: {_rows(db)}")
        agent.signal(signal.SIGTERM)
        assert agent.wait(15) == 0, agent.output
    finally:
        agent.stop()
    rows = _rows(db)
    in_flight = sorted(i for i, r in rows.items() if r[0] == "Q")
    assert len(in_flight) == 2 and sorted(rows) == ids
    assert [r for r in rows.values() if r[0] == "U" and (r[1] or r[2])] == []  # the waiting ones untouched
    out = agent.output
    assert "cut short by the stop" in out and "left in doubt" in out
    assert "no final result" not in out and "retry" not in out and "Traceback" not in out

    agent.config.write_text(_config(send_delay=0, stop_timeout=5))
    agent.start()
    try:
        wait_until(lambda: _statuses(db) == ["S"] * 4, 30, lambda: f"all sent: {_rows(db)}\n{agent.output}")
        agent.signal(signal.SIGTERM)
        assert agent.wait(30) == 0, agent.output
    finally:
        agent.stop()
    assert "2 message(s) were being sent when the agent stopped: requeued, flagged in doubt" in agent.output
    assert sorted(i for i, r in _rows(db).items() if r[1]) == in_flight


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_once(directory: Path, config_text: str, timeout: float = 20) -> tuple[int, str]:
    cfg = directory / "second.ini"
    cfg.write_text(config_text)
    proc = subprocess.run([sys.executable, "-m", "agent", "--config", str(cfg), "run"], cwd=directory,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def test_a_second_run_on_the_same_database_exits_75_and_changes_nothing(tmp_path):
    db = tmp_path / "state" / "sms-agent.db"
    _enqueue(db, [f"held {n}" for n in range(4)])
    first = AgentProcess(tmp_path, _config(send_delay=30, stop_timeout=1)).start()
    try:
        wait_until(lambda: _statuses(db).count("Q") == 2, 20, lambda: f"both lines sending: {_rows(db)}")
        before = _rows(db)
        code, out = _run_once(tmp_path, _config(send_delay=0))  # another HTTP port, same database
        assert code == 75, out
        assert f"the database {db} is in use by process {first.proc.pid}" in out, out
        assert "Traceback" not in out and "requeued" not in out
        assert _rows(db) == before  # no crash recovery under the live agent
        status = subprocess.run([sys.executable, "-m", "agent", "--config", str(first.config), "status", "--json"],
                                cwd=tmp_path, capture_output=True, text=True, timeout=20)
        assert status.returncode == 0 and '"Q": 2' in status.stdout, status.stdout + status.stderr
        assert first.proc.poll() is None
    finally:
        first.signal(signal.SIGTERM)
        first.wait(20)
        first.stop()


def test_a_busy_http_port_is_one_line_naming_it(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out = _run_once(tmp_path, _config(send_delay=0, port=port))
    assert code == 69, out
    assert f"cannot listen on 127.0.0.1:{port}" in out
    assert "Traceback" not in out and "cannot join thread" not in out
    # The lock went with the failed start: the next one works.
    agent = AgentProcess(tmp_path, _config(send_delay=0, port=_free_port())).start()
    try:
        wait_until(agent.running, 20, lambda: agent.output)
        agent.signal(signal.SIGTERM)
        assert agent.wait(20) == 0
    finally:
        agent.stop()


def test_an_unusable_state_directory_or_database_is_one_line_naming_it(tmp_path):
    (tmp_path / "afile").write_text("not a directory")
    code, out = _run_once(tmp_path, _config(send_delay=0).replace("state_dir = state", "state_dir = afile/state"))
    assert code == 73, out
    assert f"cannot create the state directory {tmp_path / 'afile' / 'state'}" in out
    assert "Traceback" not in out

    (tmp_path / "state" / "sms-agent.db").mkdir(parents=True)  # the database's path is taken by a directory
    code, out = _run_once(tmp_path, _config(send_delay=0))
    assert code == 73, out
    assert f"cannot use the database {tmp_path / 'state' / 'sms-agent.db'}" in out
    assert "Traceback" not in out


def test_the_unit_does_not_restart_on_what_a_restart_cannot_fix():
    unit = (REPO / "systemd" / "sms-agent.service").read_text()
    prevent = next(line for line in unit.splitlines() if line.startswith("RestartPreventExitStatus="))
    assert set(prevent.split("=", 1)[1].split()) == {"69", "73", "75", "78"}
    stop = next(line for line in unit.splitlines() if line.startswith("TimeoutStopSec="))
    assert int(stop.split("=")[1]) > 20  # above the default stop budget


def test_the_lock_file_names_the_holder(tmp_path):
    from agent.lock import DatabaseLock, LockHeld

    db = tmp_path / "x.db"
    first = DatabaseLock(db)
    first.acquire()
    assert (tmp_path / "x.db.lock").read_text().strip() == str(os.getpid())
    second = DatabaseLock(db)
    try:
        second.acquire()
        raise AssertionError("a second lock was granted")
    except LockHeld as exc:
        assert exc.pid == os.getpid()
    first.release()
    second.acquire()  # free again once released
    second.release()
