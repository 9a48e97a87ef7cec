"""The agent as a process: starts on the simulated bank, idles at ~0 CPU, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_agent_runs_on_the_simulated_bank_and_stops_cleanly(tmp_path):
    cfg = tmp_path / "config.ini"
    cfg.write_text(
        "[agent]\nid = test-box\nstate_dir = state\n"
        "[modems]\nhealth_interval = 60\n[http]\nport = 0\n"
        "[simulator]\nlines = 3\nsend_delay = 0\nprofiles = simcom, huawei, quectel\n"
    )
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(cfg), "run"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if sum("ready (ICCID" in ln for ln in lines) == 3:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(20), "".join(lines)
        assert all(f"sim{i}" in "".join(lines) for i in (1, 2, 3))
        # Idle: no busy loop anywhere (threads wait in select / on events).
        before = _cpu_seconds(proc.pid)
        threading.Event().wait(1.0)
        idle_cpu = _cpu_seconds(proc.pid) - before
        assert idle_cpu < 0.05, f"idle agent used {idle_cpu:.3f} CPU seconds in 1 s"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert time.monotonic() - t0 < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    out = "".join(lines)
    assert "stopped" in out
    assert "Traceback" not in out
    assert (tmp_path / "state" / "sim").is_dir()
