"""Crash recovery: the agent killed with SIGKILL mid-run loses no accepted message."""

from __future__ import annotations

import importlib.util
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from agent.model import NewMessage
from agent.store.queue import Store

from .waiting import wait_until

REPO = Path(__file__).resolve().parent.parent


def _counts(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db, timeout=5)
    try:
        return dict(con.execute("SELECT status, count(*) FROM smsserver_out GROUP BY status").fetchall())
    finally:
        con.close()


def _start(cfg: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "agent", "--config", str(cfg), "run"], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_sigkill_mid_run_loses_nothing_and_flags_in_doubt(tmp_path):
    cfg = tmp_path / "config.ini"
    cfg.write_text("[agent]\nid = crash\nstate_dir = state\n[queue]\npoll_interval = 0.1\n[http]\nport = 0\n"
                   "[simulator]\nlines = 2\nsend_delay = 0.3\nprofiles = generic\n")
    db = tmp_path / "state" / "sms-agent.db"
    db.parent.mkdir()
    store = Store(db)
    store.open()
    ids = store.enqueue([NewMessage(recipient=f"+86139000000{i:02d}", text=f"message {i}") for i in range(30)]).ids
    store.close()

    proc = _start(cfg, tmp_path)
    try:
        wait_until(lambda: _counts(db).get("S", 0) >= 4 and _counts(db).get("Q", 0) >= 1, 30, "never sending")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    con = sqlite3.connect(db)
    in_flight = {r[0] for r in con.execute("SELECT id FROM smsserver_out WHERE status = 'Q'")}
    con.close()
    assert in_flight, "nothing was in flight at the kill"

    proc = _start(cfg, tmp_path)
    try:
        wait_until(lambda: _counts(db) == {"S": 30}, 60, f"not all sent: {_counts(db)}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    con = sqlite3.connect(db)
    rows = dict(con.execute("SELECT id, in_doubt FROM smsserver_out").fetchall())
    con.close()
    assert sorted(rows) == sorted(ids)  # none lost, none duplicated
    assert {i for i, flag in rows.items() if flag} == in_flight  # exactly those that may have gone out twice


def _crash_bench():
    """bench/crash.py, the harness of the crash proof, imported by path (bench/ is no package)."""
    name = "sms_agent_bench_crash"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "bench" / "crash.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_ten_sigkills_over_http_lose_nothing_and_flag_every_duplicate(tmp_path):
    """bench/crash.py in small: the simulated bank in its own process with a ledger of what its
    network accepted, 200 submissions over HTTP, the agent SIGKILLed 10 times at random moments."""
    crash = _crash_bench()
    figures = crash.run(tmp_path / "proof", messages=200, kills=10, send_mode="direct", seed=11, settle_timeout=60)
    report = "\n".join(figures.lines())
    assert figures.kills == 10 and figures.acknowledged == 200 and figures.refused == 0, report
    assert figures.lost == 0, report
    assert figures.unflagged_duplicates == 0 and figures.doubled_rows == 0, report
    assert figures.sent + figures.failed >= 200 and figures.integrity == "ok", report



def test_ten_sigkills_with_send_mode_store_send_nothing_twice(tmp_path):
    """The same with every line in send_mode = store: a send the kill cut short is settled
    from the modem's memory at the next start, so no message reaches its recipient twice."""
    crash = _crash_bench()
    figures = crash.run(tmp_path / "proof", messages=200, kills=10, send_mode="store", seed=12, settle_timeout=60)
    report = "\n".join(figures.lines())
    assert figures.kills == 10 and figures.acknowledged == 200 and figures.refused == 0, report
    assert figures.lost == 0 and figures.duplicates == 0 and figures.doubled_rows == 0, report
    assert figures.parts_via_cmss == figures.ledger_parts > 0, report
    assert figures.integrity == "ok", report


def test_ten_sigkills_over_smpp_lose_no_acknowledged_message(tmp_path):
    """The same over the SMPP door (bench/crash.py --door smpp): transceiver sessions with a
    window of 10, bound again after each kill; a submit_sm whose response the kill swallowed
    is not sent again (no idempotency key in SMPP) and counts as unanswered."""
    crash = _crash_bench()
    figures = crash.run(tmp_path / "proof", messages=200, kills=10, send_mode="store", seed=13, settle_timeout=60,
                        door="smpp")
    report = "\n".join(figures.lines())
    assert figures.kills == 10 and figures.refused == 0 and figures.sessions > 10, report
    assert figures.acknowledged + figures.unanswered == 200 and figures.acknowledged >= 50, report
    assert figures.lost == 0 and figures.duplicates == 0 and figures.doubled_rows == 0, report
    assert figures.sent + figures.failed >= figures.acknowledged, report
    assert figures.unanswered_sent <= figures.unanswered_stored <= figures.unanswered, report
    assert figures.integrity == "ok", report
