"""The command line: config errors exit 78 naming the key; check-config; global options before
or after the command; --help everywhere; exit codes."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from . import cli_process
from .agent_process import AgentProcess
from .waiting import wait_until

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


COMMANDS = ["run", "check-config", "send", "lines", "status", "pdu", "simulate"]


def test_the_config_option_goes_before_or_after_the_command(tmp_path):
    good = tmp_path / "good.ini"
    good.write_text("[agent]\nid = good-box\n")
    (tmp_path / "config.ini").write_text("[agent]\nid = default-box\n")  # never the one meant below
    after = run("check-config", "--config", str(good), cwd=tmp_path)
    assert after.returncode == 0 and "box id: good-box" in after.stdout, after.stderr
    assert "box id: good-box" in run("check-config", "-c", "good.ini", cwd=tmp_path).stdout
    assert "box id: good-box" in run("--config", "good.ini", "check-config", cwd=tmp_path).stdout
    # Given on both sides, the one after the command wins.
    assert "box id: good-box" in run("--config", "config.ini", "check-config", "--config", "good.ini",
                                     cwd=tmp_path).stdout
    typo = run("check-config", "--config", "typo.ini", cwd=tmp_path)
    assert typo.returncode == 78 and "typo.ini" in typo.stderr and "OK" not in typo.stdout
    sent = run("send", "10086", "hello", "--config", "good.ini", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert (tmp_path / "var" / "sms-agent.db").exists()
    status = run("status", "--json", "--config", "good.ini", cwd=tmp_path)
    assert status.returncode == 0 and '"box": "good-box"' in status.stdout


def test_run_takes_its_config_after_the_command(tmp_path):
    cfg = tmp_path / "agent.ini"
    cfg.write_text("[agent]\nid = after\nstate_dir = state\n[http]\nport = 0\n[simulator]\nlines = 1\n"
                   "send_delay = 0\n")
    agent = AgentProcess(tmp_path, command=cli_process.command("run", "--config", cfg))  # no ./config.ini
    try:
        agent.start()
        wait_until(agent.running, 30, what=lambda: agent.output)
        agent.signal(signal.SIGTERM)
        assert agent.wait(30) == 0, agent.output
    finally:
        agent.stop()
    assert "box after" in agent.output and "Traceback" not in agent.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, tmp_path):
    (tmp_path / "config.ini").write_text("[agent]\nid = help-box\n")
    proc = run(command, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: sms-agent {command}") and proc.stderr == ""
    assert "OK" not in proc.stdout and "help-box" not in proc.stdout  # check-config did not run
    assert not (tmp_path / "var").exists()  # nothing ran


def test_the_top_level_help_lists_every_command_and_the_exit_codes():
    proc = run("--help")
    assert proc.returncode == 0
    listed = proc.stdout.split("commands:")[1].split("exit codes:")[0]
    for command in COMMANDS:
        assert f"\n    {command} " in listed, command
    codes = proc.stdout.split("exit codes:")[1]
    for code in ("0", "1", "2", "69", "73", "75", "78"):
        assert f"\n  {code} " in codes, code


def test_usage_errors_exit_2_and_version_goes_anywhere(tmp_path):
    assert run("bogus", cwd=tmp_path).returncode == 2
    assert run("run", "extra", cwd=tmp_path).returncode == 2
    assert run("send", "10086", cwd=tmp_path).returncode == 2  # no text
    for args in (["--version"], ["status", "--version"]):
        proc = run(*args, cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout.startswith("sms-agent "), args


def test_pdu_takes_the_rest_of_the_line_after_the_global_options(tmp_path):
    hexpdu = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
    for before in ([], ["--config", "any.ini"], ["-c=x"]):
        args = [*before, "pdu", "decode", hexpdu]
        proc = run(*args, cwd=tmp_path)
        assert proc.returncode == 0 and '"text": "How are you?"' in proc.stdout, (args, proc.stderr)
    assert run("--help", "pdu", cwd=tmp_path).stdout.startswith("usage: sms-agent [-h]")  # the top-level help
