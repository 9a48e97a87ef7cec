"""scripts/run is quiet: pip's output shows only when an install fails."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# A stand-in for python3: "-m venv DIR" makes DIR/bin/python, a pip that prints
# 60 lines and fails when $FAKE_PIP_FAIL is set, and DIR/bin/sms-agent, which
# says how it was called.
_FAKE_PYTHON = r"""#!/bin/sh
[ "$1 $2" = "-m venv" ] || { echo "unexpected: $*" >&2; exit 9; }
mkdir -p "$3/bin"
cat >"$3/bin/python" <<'PY'
#!/bin/sh
for i in $(seq 60); do echo "Collecting package-$i (from sms-agent)"; done
[ -z "$FAKE_PIP_FAIL" ] || { echo "ERROR: No matching distribution found for package-61" >&2; exit 1; }
echo "Successfully installed sms-agent"
PY
printf '#!/bin/sh\necho "agent: $*"\n' >"$3/bin/sms-agent"
chmod +x "$3/bin/python" "$3/bin/sms-agent"
"""


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A folder laid out like the repository as far as scripts/run cares, with a fake python3."""
    (tmp_path / "scripts").mkdir()
    shutil.copy2(REPO / "scripts" / "run", tmp_path / "scripts" / "run")
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    fake = tmp_path / "fake-python3"
    fake.write_text(_FAKE_PYTHON)
    fake.chmod(0o755)
    return tmp_path


def _run(checkout: Path, *args: str, fail: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": str(checkout / "fake-python3"), "TMPDIR": str(checkout),
           "FAKE_PIP_FAIL": "1" if fail else ""}
    return subprocess.run([str(checkout / "scripts" / "run"), *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_scripts_run_shows_no_pip_output_when_the_install_works(checkout):
    first = _run(checkout, "--config", "x.ini", "check-config")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout == "agent: --config x.ini check-config\n"
    assert first.stderr == "scripts/run: installing the agent into .venv...\n"
    again = _run(checkout, "run")  # installed: straight to the agent
    assert (again.returncode, again.stdout, again.stderr) == (0, "agent: run\n", "")
    assert not list(checkout.glob("sms-agent-install.*"))  # no log left behind


def test_scripts_run_shows_pips_output_when_the_install_fails(checkout):
    failed = _run(checkout, "run", fail=True)
    assert failed.returncode != 0
    assert "agent:" not in failed.stdout  # the agent is not started
    assert failed.stderr.count("Collecting package-") == 60  # the first pip step (upgrading pip) failed
    assert "ERROR: No matching distribution found for package-61" in failed.stderr
    last = failed.stderr.splitlines()[-1]
    assert last.startswith("scripts/run: the install failed: .venv/bin/python -m pip install")
    log = next(checkout.glob("sms-agent-install.*"))  # kept, and named
    assert str(log) in last and "package-61" in log.read_text()
    # Nothing was marked installed: the next run tries again, and then works.
    retried = _run(checkout, "run")
    assert (retried.returncode, retried.stdout) == (0, "agent: run\n"), retried.stderr

