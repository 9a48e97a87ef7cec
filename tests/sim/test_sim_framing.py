"""Echo, result framing, error formats and command-line parsing of the simulated modem."""

from __future__ import annotations

import pytest

from agent.sim.replies import AtError, parse, params


def test_echo_is_on_by_default_and_ate0_still_echoes(sim, port):
    modem = sim(["huawei"])[0]
    p = port(modem.path, echo=True)
    # [GI#126] byte dump: AT+CPIN?\r\r\n+CPIN: READY\r\n\r\nOK\r\n
    assert p.cmd("AT+CPIN?") == b"AT+CPIN?\r\r\n+CPIN: READY\r\n\r\nOK\r\n"
    assert p.cmd("AT") == b"AT\r\r\nOK\r\n"
    assert p.cmd("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert p.cmd("AT") == b"\r\nOK\r\n"
    assert modem.echo is False
    assert p.cmd("ATZ") == b"\r\nOK\r\n"
    assert p.cmd("AT") == b"AT\r\r\nOK\r\n"  # ATZ restores echo


def test_unknown_commands_per_profile(sim, port):
    generic, huawei = sim(["generic", "huawei"])
    assert port(generic.path).cmd("AT+NOSUCH") == b"\r\nERROR\r\n"
    h = port(huawei.path)
    h.cmd("AT^CURC=0")
    assert h.cmd("AT+NOSUCH") == b"\r\nCOMMAND NOT SUPPORT\r\n"


def test_cmee_modes(sim, port):
    modem = sim(["generic"])[0]
    p = port(modem.path)
    modem.insert_sim(False)
    assert p.cmd("AT+CIMI") == b"\r\nERROR\r\n"
    p.cmd("AT+CMEE=1")
    assert p.cmd("AT+CIMI") == b"\r\n+CME ERROR: 10\r\n"
    assert p.cmd("AT+CMGR=1") == b"\r\n+CMS ERROR: 310\r\n"
    p.cmd("AT+CMEE=2")
    assert p.cmd("AT+CIMI") == b"\r\n+CME ERROR: SIM not inserted\r\n"
    assert p.cmd("AT+CMEE?") == b"\r\n+CMEE: 2\r\n\r\nOK\r\n"


def test_chained_commands_and_noise(sim, port):
    modem = sim(["generic"])[0]
    p = port(modem.path)
    assert p.cmd("AT+CMEE=1;+CMGF=0;+CMEE?") == b"\r\n+CMEE: 1\r\n\r\nOK\r\n"
    assert p.cmd("ATE0V1Q0&C1&D2") == b"\r\nOK\r\n"
    # CRLF terminators, NULs and non-AT lines are ignored like on real modems.
    p.write(b"\x00\nhello\r\n")
    assert p.cmd("AT") == b"\r\nOK\r\n"
    assert p.cmd("AT+CMGF=1") == b"\r\nERROR\r\n"  # PDU mode only
    assert modem.commands[-2:] == ["AT", "AT+CMGF=1"]


def test_garbage_reaches_the_host(sim, port):
    modem = sim(["generic"])[0]
    p = port(modem.path)
    modem.garbage(b"\xff\xfe\x00noise")
    assert p.until(b"noise") == b"\xff\xfe\x00noise"
    modem.garbage()
    assert len(p.quiet_for(0.1)) >= 8


def test_parse_and_params():
    assert parse("") == []
    assert parse("E0V1") == [("E", "exec", "0"), ("V", "exec", "1")]
    assert parse('+CUSD=1,"*1;0#",15;+CSQ') == [("+CUSD", "set", '1,"*1;0#",15'), ("+CSQ", "exec", "")]
    assert parse("+CPMS=?;^ICCID?") == [("+CPMS", "test", ""), ("^ICCID", "read", "")]
    assert parse("&F") == [("&F", "exec", "")]
    assert params('"SM", "ME",,1') == ["SM", "ME", "", "1"]
    with pytest.raises(AtError):
        parse("!!")
