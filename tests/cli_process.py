"""``sms-agent`` as a child process, as a shell runs it, for the command-line tests.

``system_dirs`` stands for the packaged (config, state) folders, ``/etc/sms-agent``
and ``/var/lib/sms-agent``: a test passes two folders under its ``tmp_path`` and
never touches the real ones (see :func:`agent.__main__.main`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
_MAIN = ("import sys; from pathlib import Path; from agent.__main__ import main; "
         "sys.exit(main(sys.argv[3:], system_dirs=(Path(sys.argv[1]), Path(sys.argv[2]))))")


def command(*args: str | bytes | os.PathLike[str], system_dirs: tuple[Path, Path] | None = None) -> list[Any]:
    """The argv of ``sms-agent ARGS...`` (with the test's packaged folders when given);
    a bytes argument is passed as those bytes."""
    if system_dirs is None:
        return [sys.executable, "-m", "agent", *map(os.fspath, args)]
    return [sys.executable, "-c", _MAIN, str(system_dirs[0]), str(system_dirs[1]), *map(os.fspath, args)]


def environment(**changes: str | None) -> dict[str, str]:
    """This process's environment with ``changes`` (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}  # as a login shell has it
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run(*args: str | bytes | os.PathLike[str], system_dirs: tuple[Path, Path] | None = None, cwd: Path = REPO,
        env: dict[str, str] | None = None, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run ``sms-agent ARGS...`` to its end; its exit status and output, as text."""
    return subprocess.run(command(*args, system_dirs=system_dirs), cwd=cwd, env=env or environment(),
                          capture_output=True, text=True, timeout=timeout, **kw)
