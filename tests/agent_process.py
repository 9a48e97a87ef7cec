"""The whole agent as a child process (``python -m agent run``) for end-to-end tests."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def running_agent(directory: Path, config_text: str, *, ready_timeout: float = 20.0) -> Iterator[str]:
    """Write ``config.ini`` in ``directory``, run the agent there and yield the base
    URL of its HTTP APIs once it says it is running.  On leaving, stop it with
    SIGTERM and check it exited 0 without a traceback in its output."""
    cfg = directory / "config.ini"
    cfg.write_text(config_text)
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(cfg), "run"], cwd=directory,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    base: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            output.append(line)
            m = re.search(r"HTTP APIs on (http://127\.0\.0\.1:\d+)", line)
            if m:
                base.append(m.group(1))
            if base and "running (" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(ready_timeout), "".join(output)
        yield base[0]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, "".join(output)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    assert "Traceback" not in "".join(output), "".join(output)
