"""Smoke test of bench/bench_doors.py: one short run of each door, the HTTP comparison, the table,
and every check of the bench passed (exit 0: each submit answered 0 and committed, every receipt
came once, CMPP reports carry the submit's own Msg_Id)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_bench_doors_quick_runs_and_prints_the_table():
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "bench_doors.py"), "--quick", "--sessions", "1",
                           "--count", "50", "--idle-seconds", "0", "--http-seconds", "1"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{proc.stderr}"
    for header in ("door", "sess", "submit/s", "p50 ms", "p99 ms", "rows=acc", "CPU ms/sub", "receipts", "rcpt/s"):
        assert header in out
    assert "SMPP     1" in out and "CMPP     1" in out
    assert "HTTP GoIP sendsms" in out
    assert "result: all checks passed" in out
