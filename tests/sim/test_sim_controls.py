"""Controls of the simulated modems: calls, USSD, hangs, hot-plug, resets, idle cost."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest
import serial

from agent.codec import gsm7
from agent.sim.profiles import PROFILES


def test_ring_until_ath(sim, port):
    modem = sim(["simcom"])[0]
    p = port(modem.path)
    p.cmd("AT+CLIP=1")
    modem.ring("+27821231234", times=50, interval=0.02)
    assert p.until(b',0\r\n') == b'\r\nRING\r\n\r\n+CLIP: "+27821231234",145,,,,0\r\n'
    p.until(b"RING")
    assert p.cmd("ATH").endswith(b"\r\nOK\r\n")
    assert b"RING" not in p.quiet_for(0.1)
    assert modem.calls == [("+27821231234", True)]


def test_ring_exhausted_and_variants(sim, port):
    wavecom = replace(PROFILES["wavecom"], call_end="NO CARRIER")
    generic, w = sim(["generic", wavecom])
    p = port(generic.path)
    generic.ring("12345", times=2, interval=0.02)
    assert generic.wait_for(lambda m: len(m.calls) == 1, 1)
    assert p.until(b"RING\r\n") and p.until(b"RING\r\n")  # no +CLIP without AT+CLIP=1
    assert b"RING" not in p.quiet_for(0.1)
    assert generic.calls == [("12345", False)]
    pw = port(w.path)
    pw.cmd("AT+CLIP=1;+CRC=1")
    w.ring("+4912345", times=1, interval=0.02)
    assert pw.until(b"NO CARRIER\r\n") == b'\r\n+CRING: VOICE\r\n\r\n+CLIP: "+4912345",145\r\n\r\nNO CARRIER\r\n'


def test_ussd_text_and_huawei_packed(sim, port):
    simcom, huawei = sim(["simcom", "huawei"], ussd={"*101#": "Available Balance: R 96.45 ."})
    s = port(simcom.path)
    assert s.cmd('AT+CUSD=1,"*101#",15') == b"\r\nOK\r\n"
    assert s.until(b",15\r\n") == b'\r\n+CUSD: 0,"Available Balance: R 96.45 .",15\r\n'
    s.cmd('AT+CUSD=1,"*100#",15')
    assert b"Your balance is 11.00 CNY" in s.until(b",15\r\n")
    h = port(huawei.path)
    h.cmd("AT^CURC=0")
    assert h.cmd('AT+CUSD=1,"*101#",15') == b"\r\nERROR\r\n"  # text refused in ^USSDMODE=1
    assert h.cmd('AT+CUSD=1,"AA182C3602",15') == b"\r\nOK\r\n"  # *101# as packed GSM-7
    packed = re.search(rb'\+CUSD: 0,"([0-9A-F]+)",15', h.until(b",15\r\n")).group(1)
    data = bytes.fromhex(packed.decode())
    assert gsm7.decode(gsm7.unpack(data, len(data) * 8 // 7)).rstrip("\r") == "Available Balance: R 96.45 ."
    h.cmd("AT^USSDMODE=0")
    huawei.set_ussd_answer("*5#", "plain")
    h.cmd('AT+CUSD=1,"*5#",15')
    assert h.until(b",15\r\n") == b'\r\n+CUSD: 0,"plain",15\r\n'


def test_hang_and_unhang(sim, port):
    modem = sim(["generic"])[0]
    p = port(modem.path)
    modem.hang()
    p.write(b"AT\r")
    assert p.quiet_for(0.2) == b""
    modem.unhang()
    assert p.cmd("AT") == b"\r\nOK\r\n"
    assert modem.commands.count("AT") == 1  # what came during the hang was dropped


def test_unplug_and_replug_same_and_new_path(sim, port):
    modem = sim(["simcom"])[0]
    old_path = modem.path
    p = port(modem.path)
    modem.deliver("+100", "survives")
    modem.unplug()
    assert not os.path.lexists(old_path) and not modem.plugged
    with pytest.raises(serial.SerialException):
        for _ in range(10):
            p.serial.read(10)
            p.serial.write(b"AT\r")
    assert modem.replug() == old_path and os.path.realpath(old_path) == modem.device
    p2 = port(old_path)
    assert p2.cmd("AT+CMGL=4").count(b"+CMGL:") == 1  # SIM memory kept
    assert p2.cmd("AT+CGSN") == f"\r\n{modem.imei}\r\n\r\nOK\r\n".encode()
    modem.hang()
    new_path = modem.replug(new_path=True)  # a replug also clears a hang
    assert new_path != old_path and not os.path.lexists(old_path)
    assert os.path.realpath(new_path) == modem.device and modem.path == new_path
    assert port(new_path).cmd("AT") == b"\r\nOK\r\n"


def test_reset_emits_the_banner_and_echo_comes_back(sim, port):
    simcom, quectel = sim(["simcom", "quectel"])
    p = port(simcom.path)
    p.cmd("AT+CMEE=1")
    simcom.reset()
    p.write(b"AT\r")  # dropped: the modem is rebooting
    banner = p.until(b"PB DONE\r\n")
    assert banner == b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n"
    assert p.cmd("AT") == b"AT\r\r\nOK\r\n"
    assert p.cmd("AT+CMEE?") == b"AT+CMEE?\r\r\n+CMEE: 0\r\n\r\nOK\r\n"
    q = port(quectel.path)
    assert q.cmd("AT+CFUN=1,1") == b"\r\nOK\r\n"
    assert q.until(b"+QIND: PB DONE\r\n") == (
        b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\n+QIND: SMS DONE\r\n\r\n+QIND: PB DONE\r\n"
    )


def test_sim_busy_at_boot(sim, port):
    busy = replace(PROFILES["generic"], sim_busy_at_boot=3)
    modem = sim([busy])[0]
    p = port(modem.path)
    p.cmd("AT+CMEE=1")
    assert p.cmd("AT+CSCA?") == b"\r\n+CME ERROR: 14\r\n"
    assert p.cmd("AT+CPMS?") == b"\r\n+CME ERROR: 14\r\n"
    assert p.cmd("AT+CMGF=0") == b"\r\n+CME ERROR: 14\r\n"
    assert p.cmd("AT+CSCA?") == b'\r\n+CSCA: "+8613800100500",145\r\n\r\nOK\r\n'
    assert p.cmd("AT+CMGF=0") == b"\r\nOK\r\n"


def test_periodic_urcs_and_curc(sim, port):
    chatty = replace(PROFILES["huawei"], periodic_urcs=(replace(PROFILES["huawei"].periodic_urcs[1], period=0.03),))
    modem = sim([chatty])[0]
    p = port(modem.path)
    assert p.until(b"^BOOT:35323129,0,0,0,26\r\r\n", timeout=1)
    p.cmd("AT^CURC=0")
    p.quiet_for(0.05)
    assert p.quiet_for(0.15) == b""


def test_wait_for_wakes_on_events_without_polling(sim, port):
    modem = sim(["generic"])[0]
    p = port(modem.path)
    threading.Timer(0.05, lambda: p.write(b"AT+CSQ\r")).start()
    assert modem.wait_for(lambda m: "AT+CSQ" in m.commands, 2)
    assert not modem.wait_for(lambda m: "AT+NEVER" in m.commands, 0.05)


def test_idle_bank_uses_no_cpu(sim):
    sim(["simcom", "generic", "quectel", "zte"])
    threading.Event().wait(0.1)  # let start-up settle
    before = time.process_time()
    threading.Event().wait(0.5)
    assert time.process_time() - before < 0.05


def test_cli_runs_until_sigterm(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from agent.sim.cli import main; sys.exit(main(sys.argv[1:]))",
         "--lines", "2", "--profile", "huawei", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    try:
        lines = [proc.stdout.readline().decode().split() for _ in range(2)]
        assert lines == [["sim1", "huawei", str(tmp_path / "sim1")], ["sim2", "huawei", str(tmp_path / "sim2")]]
        with serial.Serial(lines[0][2], timeout=1) as s:
            s.write(b"ATE0\r")
            assert b"OK" in s.read_until(b"OK\r\n")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not os.path.lexists(tmp_path / "sim1")
