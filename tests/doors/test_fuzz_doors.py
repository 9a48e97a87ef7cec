"""A short run of ``bench/fuzz_doors.py``: hostile and mutated PDUs over many connections
to the SMPP and CMPP doors of a running agent.  The full run (10^5 PDUs) is
``python bench/fuzz_doors.py``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fuzz_doors.py"
COUNT = 4000  # well under a second of the doors' time


@pytest.mark.slow
def test_hostile_pdus_crash_nothing_and_queue_nothing(tmp_path):
    seed = 20261207  # fixed, so a failure replays; other seeds: run the bench with --seed
    run = subprocess.run([sys.executable, str(BENCH), "--count", str(COUNT), "--seed", str(seed), "--json"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.stdout, run.stderr[-3000:]
    f = json.loads(run.stdout)
    assert f["pdus_sent"] == {"smpp": COUNT // 2, "cmpp": COUNT // 2}
    assert min(f["connections"].values()) > 20 and not f["connections_refused"]
    kinds = {k.split(" ", 1)[1] for k in f["kinds"]}
    assert {"valid_submit", "mutated", "random", "stray", "keepalive", "noise", "length_lie", "huge", "truncated",
            "unbind"} <= kinds
    assert (f["exceptions"], f["tracebacks_in_log"]) == (0, 0), f["first_errors"]
    assert f["rows_from_refused_pdus"] == 0
    assert f["valid_submits_accepted"] > 0 and f["accepted_tasks"] >= f["valid_submits_accepted"]
    assert f["listeners_alive"] == {"smpp": True, "cmpp": True}
    assert f["smpp_still_binds_and_submits"] and f["cmpp_still_binds_and_submits"]
    assert f["integrity_check"] == "ok"
    assert run.returncode == 0, run.stderr[-3000:]
