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


class AgentProcess:
    """``python -m agent --config <directory>/config.ini run`` (or ``command``, with
    ``env``) as a child process whose output (stdout and stderr together) is
    collected as it comes."""

    def __init__(self, directory: Path, config_text: str | None = None, *, command: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.directory = directory
        self.config = directory / "config.ini"
        if config_text is not None:
            self.config.write_text(config_text)
        self.command = command or [sys.executable, "-m", "agent", "--config", str(self.config), "run"]
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self) -> AgentProcess:
        self.lines = []
        self.proc = subprocess.Popen(self.command, cwd=self.directory, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def url(self) -> str | None:
        m = re.search(r"HTTP APIs on (http://127\.0\.0\.1:\d+)", self.output)
        return m.group(1) if m else None

    def running(self) -> bool:
        return "running (" in self.output

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """The exit status, once the process ended and its output is all read."""
        assert self.proc is not None
        code = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        return code

    def stop(self) -> None:
        """Kill it if it still runs (for ``finally``)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
