"""Identity and status answers of each simulated profile, byte-exact where the captures are."""

from __future__ import annotations

import os

import pytest

from agent.sim.identity import identity_for, luhn_valid, swapped_iccid
from agent.sim.profiles import PROFILES

ICCID_COMMANDS = ("AT+CCID", "AT+ICCID", "AT+CICCID", "AT+QCCID", "AT^ICCID?")
ICCID_LINE = {  # profile -> the answer line, {} the ICCID (swapped for Huawei)
    "generic": "{}",
    "sim800": "{}",
    "simcom": "+ICCID: {}",
    "quectel": "+QCCID: {}",
    "huawei": "^ICCID: {}",
    "zte": "+ICCID: {}",
    "wavecom": '+CCID: "{}"',
}


def test_identity_is_deterministic_and_valid():
    for index in (1, 2, 3, 17):
        ident = identity_for(index, "86147103")
        assert ident == identity_for(index, "86147103")
        assert len(ident.imei) == 15 and luhn_valid(ident.imei)
        assert len(ident.imsi) == 15 and ident.imsi.startswith(ident.mccmnc)
        assert len(ident.iccid) == 19 and ident.iccid.startswith("89") and luhn_valid(ident.iccid)
    assert identity_for(1, "86147103").imei != identity_for(2, "86147103").imei
    assert identity_for(1, "86147103").operator != identity_for(2, "86147103").operator


def test_swapped_iccid_matches_the_huawei_capture():
    # at_transcripts.md: "984402003576012594F9" is 8944200053671052499
    assert swapped_iccid("8944200053671052499") == "984402003576012594F9"


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_identity_commands_per_profile(sim, port, name):
    bank = sim([name, name])
    modem = bank[1]
    assert modem.name == "sim2" and bank.by_name("sim2") is modem and len(bank) == 2
    assert os.path.realpath(modem.path) == modem.device
    p = port(modem.path)
    profile = PROFILES[name]
    assert p.cmd("AT+CGMI") == f"\r\n{profile.manufacturer}\r\n\r\nOK\r\n".encode()
    assert p.cmd("AT+CGMM") == f"\r\n{profile.model}\r\n\r\nOK\r\n".encode()
    assert p.cmd("AT+CGMR") == f"\r\n{profile.cgmr_prefix}{profile.revision}\r\n\r\nOK\r\n".encode()
    assert p.cmd("AT+CGSN") == f"\r\n{modem.imei}\r\n\r\nOK\r\n".encode()
    assert p.cmd("AT+CIMI") == f"\r\n{modem.imsi}\r\n\r\nOK\r\n".encode()
    assert p.cmd("AT+CNUM") == f'\r\n+CNUM: "","{modem.number}",145\r\n\r\nOK\r\n'.encode()
    iccid = swapped_iccid(modem.iccid) if name == "huawei" else modem.iccid
    answers = {command: p.cmd(command) for command in ICCID_COMMANDS}
    good = [c for c, a in answers.items() if a == f"\r\n{ICCID_LINE[name].format(iccid)}\r\n\r\nOK\r\n".encode()]
    assert good == ["AT" + profile.iccid_command + ("?" if name == "huawei" else "")]
    for command in set(ICCID_COMMANDS) - set(good):
        assert answers[command].endswith(f"\r\n{profile.unknown_final}\r\n".encode())


def test_huawei_iccid_has_swapped_nibbles_and_f(sim, port):
    modem = sim(["huawei"])[0]
    answer = port(modem.path).cmd("AT^ICCID?")
    digits = answer.split(b"^ICCID: ")[1].split(b"\r\n")[0].decode()
    assert digits.startswith("98") and digits[-2] == "F"
    assert swapped_iccid(modem.iccid) == digits


def test_status_queries_shapes(sim, port):
    simcom, huawei, quectel, wavecom = sim(["simcom", "huawei", "quectel", "wavecom"])
    p = port(simcom.path)
    assert p.cmd("AT+CSQ") == f"\r\n+CSQ: {15 + 1 % 10},99\r\n\r\nOK\r\n".encode()
    assert p.cmd("AT+COPS?") == f'\r\n+COPS: 0,0,"{simcom.operator}",7\r\n\r\nOK\r\n'.encode()
    assert p.cmd("AT+CREG?") == b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"
    assert p.cmd("AT+CEREG=2") == b"\r\nOK\r\n"
    assert p.cmd("AT+CEREG?") == b'\r\n+CEREG: 2,1,"2AF6","0B88E361",7\r\n\r\nOK\r\n'
    assert p.cmd("AT+CSCA?") == b'\r\n+CSCA: "+8613800100500",145\r\n\r\nOK\r\n'
    assert p.cmd("AT+CPMS?") == b'\r\n+CPMS: "SM",0,30,"SM",0,30,"SM",0,30\r\n\r\nOK\r\n'
    assert p.cmd('AT+CPMS="SM","SM","SM"') == b"\r\n+CPMS: 0,30,0,30,0,30\r\n\r\nOK\r\n"
    assert p.cmd("AT+CFUN?") == b"\r\n+CFUN: 1\r\n\r\nOK\r\n"

    h = port(huawei.path)
    h.cmd("AT^CURC=0")  # no ^RSSI/^BOOT noise in the exact comparisons below
    assert h.cmd("AT+CREG=2;+CREG?") == b"\r\n+CREG: 2,1,2AF7,B88E372\r\n\r\nOK\r\n"
    assert h.cmd("AT+CEREG?") == b"\r\nCOMMAND NOT SUPPORT\r\n"
    assert h.cmd("AT+COPS?") == f'\r\n+COPS: 0,0,"{huawei.operator}",2\r\n\r\nOK\r\n'.encode()

    q = port(quectel.path)
    assert q.cmd("AT+CREG=2;+CREG?") == b'\r\n+CREG: 2,1,"2AF8","0B88E383",7\r\n\r\nOK\r\n'

    w = port(wavecom.path)
    w.write(b"AT+CPIN?\r")
    assert w.until(b"+CPIN: READY\r\n") == b"\r\n+CPIN: READY\r\n"
    assert w.quiet_for(0.2) == b""  # old Wavecom: no final OK after +CPIN:
    assert w.cmd("AT+CPMS=?") == b'\r\n+CPMS: (("SM","BM","SR"),("SM"))\r\n\r\nOK\r\n'


def test_cpin_states(sim, port):
    modem = sim(["generic"])[0]
    p = port(modem.path)
    p.cmd("AT+CMEE=1")
    modem.set_pin("4321")
    assert p.cmd("AT+CPIN?") == b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    assert p.cmd("AT+CIMI") == b"\r\n+CME ERROR: 11\r\n"
    assert p.cmd('AT+CPIN="1111"') == b"\r\n+CME ERROR: 16\r\n"
    assert p.cmd('AT+CPIN="4321"') == b"\r\nOK\r\n"
    assert p.cmd("AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
    modem.insert_sim(False)
    assert p.cmd("AT+CPIN?") == b"\r\n+CME ERROR: 10\r\n"
    assert p.cmd("AT+CREG?") == b"\r\n+CREG: 0,0\r\n\r\nOK\r\n"
    modem.insert_sim(True)
    assert p.cmd("AT+CPIN?") == b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    assert 'AT+CPIN="4321"' in modem.commands


def test_set_state_changes_answers_and_sends_registration_urcs(sim, port):
    modem = sim(["generic"])[0]
    p = port(modem.path)
    p.cmd("AT+CREG=1")
    modem.set_state(signal=3, registered=False, operator="TEST NET")
    assert p.until(b"+CREG: 2\r\n") == b"\r\n+CREG: 2\r\n"
    assert p.cmd("AT+CSQ") == b"\r\n+CSQ: 3,99\r\n\r\nOK\r\n"
    assert p.cmd("AT+COPS?") == b"\r\n+COPS: 0\r\n\r\nOK\r\n"
    modem.set_state(registered=True, reg_status=5)
    assert p.until(b"+CREG: 5\r\n") == b"\r\n+CREG: 5\r\n"
    assert p.cmd("AT+COPS?") == b'\r\n+COPS: 0,0,"TEST NET",0\r\n\r\nOK\r\n'
