"""The technician's commands: send, lines, status, against a live agent's database."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pytest

from agent import cli
from agent.config import parse

from . import cli_process
from .queue_harness import Stack
from .waiting import wait_until


def _args(command: str, *argv: str) -> argparse.Namespace:
    """``argv`` parsed as the entry point parses the arguments of ``command``."""
    parser = argparse.ArgumentParser(prog=f"sms-agent {command}")
    cli.add_arguments(command, parser)
    return parser.parse_args(argv)


@pytest.fixture
def live(make_bank, tmp_path):
    """A running queue on two simulated lines, and a Config pointing at its database."""
    sim = make_bank(["generic", "huawei"])
    (tmp_path / "state").mkdir()
    stack = Stack(sim, tmp_path / "state" / "sms-agent.db", lines={"sim1": {"daily_limit": 100}}).start()
    base = parse("[agent]\nid = branch-7\nstate_dir = state\n", base_dir=tmp_path)
    config = replace(base, lines=stack.lines)
    yield stack, config
    stack.stop()


def test_send_queues_and_waits_for_the_result(live, capsys):
    stack, config = live
    stack.router.config = replace(stack.router.config, poll_interval=0.05)
    assert cli.send(config, _args("send", "+8613912345678", "from the technician", "--wait", "10")) == 0
    out = capsys.readouterr().out
    assert "queued as message 1" in out and "message 1: sent on sim" in out
    assert [m.text for modem in stack.sim.modems for m in modem.sent] == ["from the technician"]


def test_send_rejects_a_bad_number(live, capsys):
    _, config = live
    assert cli.send(config, _args("send", "call-me", "x")) == 2
    assert "not a phone number" in capsys.readouterr().err


def test_lines_shows_each_line_and_its_quota(live, capsys):
    stack, config = live
    assert cli.lines(config, _args("lines", "--json")) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"sim1", "sim2"}
    assert rows["sim1"]["daily_left"] == 100 and rows["sim2"]["daily_left"] is None
    assert rows["sim1"]["imei"] == stack.sim[0].imei and rows["sim2"]["iccid"] == stack.sim[1].iccid
    assert cli.lines(config, _args("lines")) == 0
    table = capsys.readouterr().out
    assert "sim1" in table and "0/  100" in table and "dBm" in table


def test_lines_apply_an_operators_override_and_the_sims_counters(live, capsys):
    stack, config = live
    stack.store.sims.set_line_limits("sim2", daily=3, total=None)  # as the status page or MQTT would
    stack.store.sims.set_sim_counters(stack.sim[1].iccid, daily_sent=1, total_sent=4)
    assert cli.lines(config, _args("lines", "--json")) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["sim2"]["daily_sent"], rows["sim2"]["daily_left"]) == (1, 2)
    assert (rows["sim2"]["total_sent"], rows["sim2"]["total_left"]) == (4, None)
    assert rows["sim1"]["daily_left"] == 100  # configured, no override


def test_status_summarises_queue_and_lines(live, capsys):
    stack, config = live
    assert cli.status(config, _args("status", "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["box"] == "branch-7" and summary["lines"] == 2 and summary["lines_ready"] == 2
    assert cli.status(config, _args("status")) == 0
    assert "2/2 line(s) ready" in capsys.readouterr().out


def test_commands_through_the_entry_point(tmp_path):
    import subprocess
    import sys

    cfg = tmp_path / "config.ini"
    cfg.write_text("[agent]\nstate_dir = state\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "agent", "--config", str(cfg), *a],  # noqa: E731
                                    capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent)
    sent = run("send", "10086", "CXYE")
    assert sent.returncode == 0 and "queued as message 1" in sent.stdout
    status = run("status")
    assert status.returncode == 0 and "unsent 1" in status.stdout


def test_a_shell_send_goes_into_the_services_database(tmp_path):
    """The unit runs the agent with $STATE_DIRECTORY and the config in /etc/sms-agent; a
    technician's shell has no $STATE_DIRECTORY: both mean one database, so the shell's
    message is sent."""
    import signal

    from .agent_process import AgentProcess

    etc, state = tmp_path / "etc" / "sms-agent", tmp_path / "var" / "lib" / "sms-agent"
    etc.mkdir(parents=True)
    state.mkdir(parents=True)  # systemd's StateDirectory=
    dirs = (etc, state)
    service = AgentProcess(etc, "[agent]\nid = branch\n[http]\nport = 0\n[queue]\npoll_interval = 0.1\n"
                                "[simulator]\nlines = 1\nsend_delay = 0\n",
                           command=cli_process.command("--config", etc / "config.ini", "run", system_dirs=dirs),
                           env=cli_process.environment(STATE_DIRECTORY=str(state)))
    try:
        service.start()
        wait_until(service.running, 30, what=lambda: service.output)
        shell = cli_process.run("--config", service.config, "send", "10086", "from the shell", "--wait", "20",
                                system_dirs=dirs, cwd=tmp_path)
        assert shell.returncode == 0, shell.stdout + shell.stderr
        assert "message 1: sent on sim1" in shell.stdout
        check = cli_process.run("--config", service.config, "check-config", system_dirs=dirs, cwd=tmp_path)
        assert f"state dir: {state} (the service's state directory" in check.stdout
        assert f"database: {state / 'sms-agent.db'} (exists)" in check.stdout
        assert not (etc / "var").exists()
        service.signal(signal.SIGTERM)
        assert service.wait(30) == 0, service.output
    finally:
        service.stop()
    assert f"database {state / 'sms-agent.db'}" in service.output


_LINES = ("[agent]\nid = refusals\n[modems]\nmax_parts = 2\n"
          "[line:G1]\ndevice = /dev/serial/by-id/usb-one\nprovider = CMCC\n"
          "[line:G2]\ndevice = /dev/serial/by-id/usb-two\nprovider = CU\nenabled = no\n")


@pytest.mark.parametrize("args, reason", [
    (["--line", "nope", "10086", "hi"], "unknown line 'nope' (the lines: G1, G2)"),
    (["10086", "hi", "--line", "G2"], "line G2 is disabled"),
    (["10086", "hi", "--provider", "CT"], "no enabled line is in provider group 'CT' (the groups: CMCC)"),
    (["10086", "hi", "--provider", "CU"], "no enabled line is in provider group 'CU'"),  # only a disabled line
    (["10086", "x" * 307], "the text needs 3 SMS parts, at most 2 allowed ([modems] max_parts)"),
    (["10086", "长" * 135], "the text needs 3 SMS parts"),
    (["10086", ""], "the text is empty"),
    ([b"10086", b"caf\xe9"], "the text cannot be encoded"),  # Latin-1 bytes in a UTF-8 shell
    (["12", "hi"], "not a phone number: '12'"),
    (["+86 139", "hi"], "not a phone number"),
    (["\u0661\u0662\u0663\u0664", "hi"], "not a phone number"),  # digits, but not ASCII ones
], ids=["unknown-line", "disabled-line", "unknown-provider", "provider-of-a-disabled-line", "too-many-parts-gsm7",
        "too-many-parts-ucs2", "empty", "not-utf8", "short-number", "spaced-number", "arabic-digits"])
def test_send_refuses_what_the_apis_refuse_and_queues_nothing(args, reason, tmp_path):
    import sqlite3

    cfg = tmp_path / "config.ini"
    cfg.write_text(_LINES)
    first = cli_process.run("send", "10086", "the one queued", "--config", cfg, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    refused = cli_process.run("send", *args, "--config", cfg, cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert reason in refused.stderr and refused.stderr.count("\n") == 1 and refused.stdout == ""
    assert refused.stderr.startswith("sms-agent send: ") and "nothing queued" in refused.stderr
    with sqlite3.connect(tmp_path / "var" / "sms-agent.db") as db:
        assert db.execute("SELECT text FROM smsserver_out").fetchall() == [("the one queued",)]


def test_send_takes_what_the_apis_take(tmp_path):
    import sqlite3

    cfg = tmp_path / "config.ini"
    cfg.write_text(_LINES)
    for args in (["+8613912345678", "x" * 306, "--line", "G1"], ["10086", "长" * 134, "--provider", "CMCC"],
                 ["10086", "on G1, its group named too", "--line", "G1", "--provider", "CU"]):
        proc = cli_process.run("--config", cfg, "send", *args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(tmp_path / "var" / "sms-agent.db") as db:
        rows = db.execute("SELECT gateway_id, provider FROM smsserver_out ORDER BY id").fetchall()
    assert rows == [("G1", ""), ("*", "CMCC"), ("G1", "")]


def test_send_on_the_simulated_bank_knows_its_lines(tmp_path):
    cfg = tmp_path / "config.ini"
    cfg.write_text("[simulator]\nlines = 2\n")
    assert cli_process.run("--config", cfg, "send", "10086", "hi", "--line", "sim2", cwd=tmp_path).returncode == 0
    refused = cli_process.run("--config", cfg, "send", "10086", "hi", "--line", "sim3", cwd=tmp_path)
    assert refused.returncode == 2 and "unknown line 'sim3' (the lines: sim1, sim2)" in refused.stderr


def test_refusal_is_a_pure_check(tmp_path):
    config = parse(_LINES, base_dir=tmp_path)
    assert cli.refusal(config, "10086", "hi") == ""
    assert cli.refusal(config, "10086", "hi", line="G1", provider="nope") == ""  # the line wins
    assert "disabled" in cli.refusal(config, "10086", "hi", line="G2")
    assert not (tmp_path / "var").exists()
