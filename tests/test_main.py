"""The command line: config errors exit 78 naming the key; check-config."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_bad_config_exits_78_naming_the_key(tmp_path):
    cfg = tmp_path / "config.ini"
    cfg.write_text("[modems]\ncommand_timeout = fast\n")
    proc = run("--config", str(cfg))
    assert proc.returncode == 78
    assert "modems.command_timeout" in proc.stderr
    assert proc.stderr.count("\n") == 1  # one line, no traceback


def test_missing_config_exits_78(tmp_path):
    proc = run("--config", str(tmp_path / "nope.ini"))
    assert proc.returncode == 78
    assert "nope.ini" in proc.stderr


def test_check_config_describes_the_shipped_file():
    proc = run("--config", str(REPO / "config.ini"), "check-config")
    assert proc.returncode == 0, proc.stderr
    assert "4 simulated modems" in proc.stdout


def test_check_config_names_the_state_directory_and_database(tmp_path):
    cfg = tmp_path / "config.ini"
    cfg.write_text("[agent]\nid = b\n")
    proc = run("--config", str(cfg), "check-config", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"state dir: {tmp_path / 'var'} (default: var beside the config file)" in proc.stdout
    assert f"database: {tmp_path / 'var' / 'sms-agent.db'} (not there yet" in proc.stdout
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "sms-agent.db").touch()
    assert f"database: {tmp_path / 'var' / 'sms-agent.db'} (exists)" in run("--config", "config.ini", "check-config",
                                                                             cwd=tmp_path).stdout
