"""The channel against a scripted modem on a real pty, opened through pyserial.

Replies are byte-exact from shared/testdata/at_transcripts.md (section numbers
in the comments)."""

from __future__ import annotations

import random
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.codec import at
from agent.codec.at import Final
from agent.errors import AtParseError, CommandError, CommandTimeout, PortError
from agent.modem.channel import Channel, Response, Urc
from agent.modem.port import Port, Wakeup

try:
    from .scripted import ScriptedModem, Step
except ImportError:  # tests/modem is not a package: pytest put this directory on sys.path
    from scripted import ScriptedModem, Step

PDU = "07914346466554F601000B914316565811F9000004E8373B0C"  # TPDU length 17 (section 4)
SENT = PDU.encode() + b"\x1a"
ZDONR = b'+ZDONR: "METEOR",272,3,"CS_ONLY","ROAM_OFF"\r\n'
ZPASR = b'+ZPASR: "UMTS"\r\n'
CMT_PDU = "0791535880770101200C9153585082824200006911704133750811"
CDS_PDU = "07914356060013F1065A098136395339F6219011700463802190117004638030"
CMGR_PDU = "07917248014000F506B70AA18092020000317071518590803170715185418000"


class Rig:
    """A started scripted modem, a Port opened on its pty and a Channel recording URCs."""

    def __init__(self, steps) -> None:
        self.modem = ScriptedModem(steps)
        self.port = Port(self.modem.path)
        self.port.open()
        self.urcs: list[Urc] = []
        self.channel = Channel(self.port, on_urc=self.urcs.append, name="t1")
        self.modem.start()

    def pump_until(self, predicate, timeout: float = 5.0) -> None:
        """Pump until ``predicate()`` holds; fail the test at the deadline."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            assert left > 0, f"condition never met; URCs: {self.urcs}"
            self.channel.pump(left)

    def close(self) -> None:
        self.port.close()
        self.modem.close()


@pytest.fixture
def rig():
    rigs: list[Rig] = []

    def make(*steps) -> Rig:
        made = Rig(steps)
        rigs.append(made)
        return made

    yield make
    for made in rigs:
        made.close()


# --- framing (section 1) ----------------------------------------------------------------


@pytest.mark.parametrize("cmd, reply, lines", [
    ("AT+CPIN?", b"AT+CPIN?\r\r\n+CPIN: READY\r\n\r\nOK\r\n", ["+CPIN: READY"]),  # E1752 byte dump
    ("AT", b"AT\r\r\nOK\r\n", []),
    ("ATE0", b"ATE0\r\r\nOK\r\n", []),
    ("AT+CGMI", b"AT+CGMI\r\r\nZTE CORPORATION\r\n\r\nOK\r\n", ["ZTE CORPORATION"]),
    ("AT+CGMM", b"AT+CGMM\r\r\r\n MULTIBAND  900E  1800 \r\n\r\nOK\r\n", ["MULTIBAND  900E  1800"]),
    ("AT+CGMI", b"\r\n WAVECOM MODEM\r\n\r\nOK\r\n", ["WAVECOM MODEM"]),
    ("AT+CGSN", b"\r\n351782030028946\r\n\r\nOK\r\n\r\n\r\n", ["351782030028946"]),
    ("AT+CPMS?", b'AT+CPMS?\r\r\n\r\n+CPMS: "SM",14,50,"SM",14,50,"SM",14,50\r\n\r\nOK\r\n',
     ['+CPMS: "SM",14,50,"SM",14,50,"SM",14,50']),  # Alcatel S320: blank line after the echo
    ("AT+CLAC", b"AT+CLAC\r\r\n&C\r\r\n&D\r\r\n\r\nOK\r\n", ["&C", "&D"]),
    ("AT", b"\x00\x00\r\nOK\r\n", []),  # leading NULs
    ("AT+CSQ", b"\n+CSQ: 9,99\n\nOK\n", ["+CSQ: 9,99"]),  # LF-only endings
])
def test_echo_and_line_end_variants(rig, cmd, reply, lines):
    r = rig((cmd.encode() + b"\r", reply))
    resp = r.channel.command(cmd)
    assert resp == Response(lines, Final("OK"))
    r.modem.check()


def test_reply_split_at_every_byte(rig):
    reply = b"AT+CMGR=3\r\r\n+CMGR: 0,,24\r\n" + CMGR_PDU.encode() + b"\r\n\r\nOK\r\n"
    r = rig(Step(b"AT+CMGR=3\r", reply, dribble=True))
    assert r.channel.command("AT+CMGR=3").lines == ["+CMGR: 0,,24", CMGR_PDU]
    r.modem.check()


def test_missing_ok_after_cpin_is_accepted_when_lenient(rig):
    r = rig((b"AT+CPIN?\r", b"+CPIN: READY\r\n"), (b"AT+CPIN?\r", b"+CPIN: READY\r\n"), (b"AT+CPIN?\r", b""))
    resp = r.channel.command("AT+CPIN?", timeout=0.2, lenient=True)
    assert resp.lines == ["+CPIN: READY"] and resp.final == Final("") and not resp.final.ok
    with pytest.raises(CommandTimeout) as exc:
        r.channel.command("AT+CPIN?", timeout=0.2)
    assert exc.value.command == "AT+CPIN?" and exc.value.line == "t1"
    with pytest.raises(CommandTimeout):  # lenient needs at least one line
        r.channel.command("AT+CPIN?", timeout=0.2, lenient=True)
    r.modem.check()


def test_timeout_takes_about_the_timeout(rig):
    r = rig((b"AT\r", b""))
    start = time.monotonic()
    with pytest.raises(CommandTimeout) as exc:
        r.channel.command("AT", timeout=0.3)
    assert 0.29 <= time.monotonic() - start < 2.0
    assert exc.value.timeout == 0.3


def test_late_answer_is_not_taken_for_the_next_command(rig):
    late = threading.Event()
    r = rig((b"AT+CSQ\r", b""), Step(b"", b"\r\n+CSQ: 9,99\r\n\r\nOK\r\n", gate=late), (b"AT\r", b"\r\nOK\r\n"))
    with pytest.raises(CommandTimeout):
        r.channel.command("AT+CSQ", timeout=0.2)
    late.set()
    assert r.modem.wait_steps(2) and r.modem.wait_pending()
    assert r.channel.command("AT") == Response([], Final("OK"))
    r.modem.check()


# --- error finals (sections 1, 4) ---------------------------------------------------------


@pytest.mark.parametrize("reply, kind, code, text", [
    (b"\r\nCOMMAND NOT SUPPORT\r\n", "COMMAND NOT SUPPORT", None, ""),
    (b"\r\nERROR\r\n", "ERROR", None, ""),
    (b"\r\nTOO MANY PARAMETERS\r\n", "TOO MANY PARAMETERS", None, ""),
    (b"\r\n+CME ERROR: 3\r\n", "CME", 3, ""),
    (b"\r\n+CME ERROR: SIM busy\r\n", "CME", None, "SIM busy"),
    (b"\r\n+CME ERROR: \r\n", "CME", None, ""),
    (b"\r\n+CMS ERROR: 302\r\n", "CMS", 302, ""),
    (b"\r\n+CMS ERROR: Unknown error\r\n", "CMS", None, "Unknown error"),
    (b"\r\nMODEM ERROR: 5\r\n", "MODEM ERROR", 5, ""),
    (b"\r\nNA\r\n", "NA", None, ""),
])
def test_error_finals(rig, reply, kind, code, text):
    r = rig((b"AT^USSDMODE=0\r", reply))
    with pytest.raises(CommandError) as exc:
        r.channel.command("AT^USSDMODE=0")
    assert (exc.value.command, exc.value.kind, exc.value.code, exc.value.text) == ("AT^USSDMODE=0", kind, code, text)
    assert exc.value.line == "t1"


def test_sim_busy_on_first_csca_then_retry_succeeds(rig):
    r = rig((b"AT+CSCA?\r", b"\r\n+CME ERROR: 14\r\n"),
            (b"AT+CSCA?\r", b'\r\n+CSCA: "+79168999100",145\r\n\r\nOK\r\n'))
    with pytest.raises(CommandError) as exc:
        r.channel.command("AT+CSCA?")
    assert (exc.value.kind, exc.value.code) == ("CME", 14)
    assert r.channel.command("AT+CSCA?").lines == ['+CSCA: "+79168999100",145']
    r.modem.check()


def test_cme_error_without_space_is_not_a_final(rig):
    r = rig((b"AT+CSQ\r", b"\r\n+CME ERROR:\r\n\r\nOK\r\n"))
    assert r.channel.command("AT+CSQ").lines == ["+CME ERROR:"]


def test_call_progress_ends_only_call_commands(rig):
    r = rig((b"AT+CSQ\r", b"\r\n+CSQ: 9,99\r\n\r\nNO CARRIER\r\n\r\nOK\r\n"), (b"ATD+27821231234;\r", b"\nNO CARRIER\r\n"))
    assert r.channel.command("AT+CSQ").lines == ["+CSQ: 9,99"]
    assert [u.name for u in r.urcs] == ["NO CARRIER"]
    with pytest.raises(CommandError) as exc:
        r.channel.command("ATD+27821231234;")
    assert exc.value.kind == "NO CARRIER"


# --- sending (section 4, fixtures 3-5) -------------------------------------------------------


@pytest.mark.parametrize("prompt", [
    b"\r\n> ", b"\r\n>", b"> \r\n", b"> ", b"\r\n> \r\n", b"AT+CMGS=17\r\r\n> ",
])
def test_prompt_variants(rig, prompt):
    r = rig((b"AT+CMGS=17\r", prompt), (SENT, b"\r\n+CMGS: 183\r\n\r\nOK\r\n"))
    assert r.channel.send_pdu(17, PDU) == 183
    r.modem.check()


def test_echoed_pdu_after_the_prompt_is_ignored(rig):
    r = rig((b"AT+CMGS=17\r", b"AT+CMGS=17\r\r\n> "),
            (SENT, b"> " + SENT + b"\r\n\r\n+CMGS: 12\r\n\r\nOK\r\n"))
    assert r.channel.send_pdu(17, PDU) == 12
    assert r.urcs == []


def test_huawei_rssi_and_boot_in_the_middle_of_cmgs(rig):
    r = rig((b"AT+CMGS=17\r", b"\r\n^RSSI:10\r\n\r\n> "),
            (SENT, b"\r\n^BOOT:35323129,0,0,0,26\r\n\r\n^RSSI:12\r\r\n\r\n+CMGS: 183\r\n\r\nOK\r\n"))
    assert r.channel.send_pdu(17, PDU) == 183
    assert [u.line for u in r.urcs] == ["^RSSI:10", "^BOOT:35323129,0,0,0,26", "^RSSI:12"]
    r.modem.check()


def test_zte_urcs_before_the_prompt_and_before_cmgs(rig):
    r = rig((b"AT+CMGS=17\r", b"\r\n" + ZDONR + b"\r\n" + ZPASR + b"\r\n> "),
            (SENT, b"\r\n" + ZDONR + b"\r\n" + ZPASR + b"\r\n+CMGS: 5\r\n\r\nOK\r\n"))
    assert r.channel.send_pdu(17, PDU) == 5
    assert [u.name for u in r.urcs] == ["+ZDONR", "+ZPASR", "+ZDONR", "+ZPASR"]
    r.modem.check()


def test_send_dribbled_byte_by_byte(rig):
    r = rig(Step(b"AT+CMGS=17\r", b"\r\n^RSSI:10\r\n\r\n> ", dribble=True),
            Step(SENT, b"\r\n+CMT: ,34\r\n" + CMT_PDU.encode() + b"\r\n\r\n+CMGS: 9\r\n\r\nOK\r\n", dribble=True))
    assert r.channel.send_pdu(17, PDU) == 9
    assert r.urcs == [Urc("^RSSI", "^RSSI:10"), Urc("+CMT", "+CMT: ,34", CMT_PDU)]


@pytest.mark.parametrize("steps, kind, code", [
    ([(b"AT+CMGS=17\r", b"\r\n+CMS ERROR: 330\r\n")], "CMS", 330),
    ([(b"AT+CMGS=17\r", b"\r\n> "), (SENT, b"\r\n+CMS ERROR: 500\r\n")], "CMS", 500),
    ([(b"AT+CMGS=17\r", b"\r\n> "), (SENT, b"\r\nERROR\r\n")], "ERROR", None),
])
def test_send_errors(rig, steps, kind, code):
    r = rig(*steps)
    with pytest.raises(CommandError) as exc:
        r.channel.send_pdu(17, PDU)
    assert (exc.value.command, exc.value.kind, exc.value.code) == ("AT+CMGS", kind, code)
    r.modem.check()


def test_missing_prompt_writes_esc_and_times_out(rig):
    r = rig((b"AT+CMGS=17\r", b"\r\n^RSSI:10\r\n"), (b"\x1b", b"\r\nOK\r\n"), (b"AT\r", b"\r\nOK\r\n"))
    start = time.monotonic()
    with pytest.raises(CommandTimeout) as exc:
        r.channel.send_pdu(17, PDU, prompt_timeout=0.3)
    assert exc.value.command == "AT+CMGS" and time.monotonic() - start < 2.0
    assert r.modem.wait_received(b"AT+CMGS=17\r\x1b")
    assert PDU.encode() not in r.modem.received
    # The OK answering the ESC was swallowed: the next command gets its own.
    assert r.modem.wait_steps(2)
    assert r.channel.command("AT") == Response([], Final("OK"))
    r.modem.check()


def test_missing_result_times_out_but_a_cmgs_without_ok_counts(rig):
    r = rig((b"AT+CMGS=17\r", b"\r\n> "), (SENT, b""), (b"AT+CMGS=17\r", b"\r\n> "), (SENT, b"\r\n+CMGS: 77\r\n"))
    with pytest.raises(CommandTimeout) as exc:
        r.channel.send_pdu(17, PDU, timeout=0.2)
    assert exc.value.timeout == 0.2
    assert r.channel.send_pdu(17, PDU, timeout=0.2) == 77


def test_ok_without_cmgs_is_a_parse_error(rig):
    r = rig((b"AT+CMGS=17\r", b"\r\n> "), (SENT, b"\r\nOK\r\n"))
    with pytest.raises(AtParseError):
        r.channel.send_pdu(17, PDU)


def test_abort_writes_esc_cr_and_swallows_the_cancelled_ok(rig):
    r = rig((b"\x1b\r", b"\r\nOK\r\n\r\n+CMTI: \"SM\",1\r\n"), (b"AT+CSQ\r", b"\r\n+CSQ: 9,99\r\n\r\nOK\r\n"))
    r.channel.abort()
    assert r.channel.command("AT+CSQ").lines == ["+CSQ: 9,99"]
    assert [u.name for u in r.urcs] == ["+CMTI"]
    r.modem.check()


# --- receiving (section 5, fixtures 8-9) ----------------------------------------------------------


@pytest.mark.parametrize("header, parsed", [
    ("+CMGR: 0,23", (0, 23, None)),
    ("+CMGR: ,,92", (None, 92, None)),
    ("+CMGR: 24", (None, 24, None)),
    ('+CMGR: 0,"",50', (0, 50, None)),
    ("+CMGR: 1,,25", (1, 25, None)),
    ("+CMGR: 4,1,,151", (1, 151, None)),
])
def test_cmgr_header_variants(rig, header, parsed):
    r = rig((b"AT+CMGR=3\r", b"\r\n" + header.encode() + b"\r\n" + CMGR_PDU.encode() + b"\r\n\r\nOK\r\n"))
    resp = r.channel.command("AT+CMGR=3")
    assert resp.lines == [header, CMGR_PDU]
    assert at.parse_cmgr_header(resp.lines[0]) == parsed


def test_cmgr_with_inline_pdu(rig):
    r = rig((b"AT+CMGR=1\r", b"\r\n+CMGR: 1,,147 " + CMGR_PDU.encode() + b"\r\n\r\nOK\r\n"))
    resp = r.channel.command("AT+CMGR=1")
    assert at.parse_cmgr_header(resp.lines[0]) == (1, 147, CMGR_PDU)


def test_pantech_cmgl_and_a_cds_urc_in_the_middle(rig):
    reply = (b"\r\n+CMGL: 17,3,35\r\n" + CMGR_PDU.encode() + b"\r\n"
             b"+CDS: 24\r\n" + CDS_PDU.encode() + b"\r\n"
             b"+CMGL: 18,1,,23\r\n" + CMT_PDU.encode() + b"\r\n\r\nOK\r\n")
    r = rig((b"AT+CMGL=4\r", reply))
    resp = r.channel.command("AT+CMGL=4")
    assert resp.lines == ["+CMGL: 17,3,35", CMGR_PDU, "+CMGL: 18,1,,23", CMT_PDU]
    assert [at.parse_cmgl_header(resp.lines[i]) for i in (0, 2)] == [(17, 3, 35), (18, 1, 23)]
    assert r.urcs == [Urc("+CDS", "+CDS: 24", CDS_PDU)]


def test_cmti_after_ok(rig):
    r = rig((b"AT+CSQ\r", b'\r\n+CSQ: 9,99\r\n\r\nOK\r\n\r\n+CMTI: "SM",3\r\n'))
    assert r.channel.command("AT+CSQ").lines == ["+CSQ: 9,99"]
    r.pump_until(lambda: r.urcs)
    assert r.urcs == [Urc("+CMTI", '+CMTI: "SM",3')]
    assert at.parse_cmti(r.urcs[0].line) == ("SM", 3)


def test_cmt_two_line_urc_while_idle(rig):
    r = rig((b"", b"\r\n+CMT: ,34\r\n" + CMT_PDU.encode() + b"\r\n"))
    r.pump_until(lambda: r.urcs)
    assert r.urcs == [Urc("+CMT", "+CMT: ,34", CMT_PDU)]


def test_two_line_urc_without_its_pdu_keeps_the_next_line(rig):
    r = rig((b"", b"\r\n+CDS: 24\r\nRING\r\n"))
    r.pump_until(lambda: len(r.urcs) == 2)
    assert r.urcs == [Urc("+CDS", "+CDS: 24"), Urc("RING", "RING")]


def test_expected_prefix_wins_over_urc(rig):
    r = rig((b"AT+CREG?\r", b'\r\n+CREG: 5\r\n+CREG: 2,1,"5E25","605F"\r\n\r\nOK\r\n'),
            (b"AT+CSQ\r", b"\r\n+CREG: 5\r\n+CSQ: 9,99\r\n\r\nOK\r\n"))
    assert r.channel.command("AT+CREG?").lines == ["+CREG: 5", '+CREG: 2,1,"5E25","605F"']
    assert r.channel.command("AT+CSQ").lines == ["+CSQ: 9,99"]
    assert r.urcs == [Urc("+CREG", "+CREG: 5")]
    r.modem.check()


def test_explicit_expect(rig):
    r = rig((b"AT+CICCID\r", b"\r\n+ICCID: 8944200053671052499F\r\n\r\n+CPIN: READY\r\n\r\nOK\r\n"))
    resp = r.channel.command("AT+CICCID", expect="+ICCID:")
    assert resp.lines == ["+ICCID: 8944200053671052499F"]
    assert [u.name for u in r.urcs] == ["+CPIN"]


# --- resets, calls, USSD (sections 2, 6, fixture 10) -------------------------------------------------


def test_sim7600_banner_mid_session_is_dispatched_as_reset(rig):
    banner = b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n"
    r = rig((b"AT\r", b"\r\nOK\r\n"), (b"", banner), (b"AT+CSQ\r", b"\r\n+QIND: SMS DONE\r\n+CSQ: 9,99\r\n\r\nOK\r\n"))
    r.channel.command("AT")
    r.pump_until(lambda: len(r.urcs) >= 4)
    assert [(u.name, u.reset) for u in r.urcs] == [("RDY", True), ("+CPIN", False), ("SMS DONE", True), ("PB DONE", False)]
    assert r.channel.command("AT+CSQ").lines == ["+CSQ: 9,99"]
    assert (r.urcs[-1].line, r.urcs[-1].reset) == ("+QIND: SMS DONE", True)


def test_sim800_banner(rig):
    r = rig((b"", b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"))
    r.pump_until(lambda: len(r.urcs) >= 5)
    assert [u.line for u in r.urcs if u.reset] == ["RDY", "SMS Ready"]


def test_incoming_call_urcs(rig):
    r = rig((b"", b'RING\r\n+CLIP: "+27821231234",145,,,,0\r\n\r\n+CRING: VOICE\r\n'))
    r.pump_until(lambda: len(r.urcs) >= 3)
    assert [u.name for u in r.urcs] == ["RING", "+CLIP", "+CRING"]
    assert at.parse_clip(r.urcs[1].line) == "+27821231234"


def test_multi_line_cusd_urc(rig):
    r = rig((b'AT+CUSD=1,"*111*502#",15\r', b"\r\nOK\r\n"),
            (b"", b'\r\n+CUSD: 2,"You have the following remaining balances:\n0 free minutes\n20 MORE Weekend minutes ",15\r\n'))
    assert r.channel.command('AT+CUSD=1,"*111*502#",15').lines == []
    r.pump_until(lambda: r.urcs)
    status, payload, dcs = at.parse_cusd(r.urcs[0].line)
    assert (status, dcs) == (2, 15)
    assert payload == "You have the following remaining balances:\n0 free minutes\n20 MORE Weekend minutes "


def test_cusd_with_a_lost_closing_quote_does_not_swallow_the_ok(rig):
    r = rig((b'AT+CUSD=1,"*100#",15\r', b'\r\n+CUSD: 0,"Balance 5\r\nUSD\r\nOK\r\n'))
    assert r.channel.command('AT+CUSD=1,"*100#",15').lines == ['+CUSD: 0,"Balance 5\nUSD']


def test_cusd_answer_before_ok_is_an_information_line(rig):
    r = rig((b'AT+CUSD=1,"*101#",15\r', b'\r\n+CUSD: 0,"Available Balance: R 96.45 .",15\r\n\r\nOK\r\n'))
    assert r.channel.command('AT+CUSD=1,"*101#",15').lines == ['+CUSD: 0,"Available Balance: R 96.45 .",15']
    assert r.urcs == []


# --- pump, garbage, lost device --------------------------------------------------------------------


def test_pump_returns_soon_after_a_urc(rig):
    r = rig((b"", b'\r\n+CMTI: "SM",4\r\n'))
    start = time.monotonic()
    r.pump_until(lambda: r.urcs)
    assert time.monotonic() - start < 1.0


def test_pump_waits_its_timeout_when_idle(rig):
    r = rig()
    start = time.monotonic()
    r.channel.pump(0.2)
    assert 0.19 <= time.monotonic() - start < 1.0


def test_pump_returns_on_wakeup(rig):
    r = rig()
    wakeup = Wakeup()
    try:
        timer = threading.Timer(0.05, wakeup.set)
        timer.start()
        start = time.monotonic()
        r.channel.pump(10.0, wakeup)
        assert time.monotonic() - start < 1.0
        assert wakeup.is_set()
        r.channel.pump(10.0, wakeup)  # still set: returns at once
        assert time.monotonic() - start < 1.0
        wakeup.clear()
        assert not wakeup.is_set()
        timer.join()
    finally:
        wakeup.close()
    wakeup.set()  # after close: harmless


def test_garbage_is_ignored(rig):
    noise = random.Random(7).randbytes(4096)
    r = rig((b"", b"\x00\xff\xfe garbage \x07\r\n\x9f\x80\xc3(\r\n" + noise + b"\r\n"),
            (b"AT+CSQ\r", b"\r\n\x01\x02junk\x7f\r\n+CSQ: 9,99\r\n\r\nOK\r\n"),
            (b"AT+CGMI\r", b"\r\nCaf\xe9 \xff\r\n\r\nOK\r\n"))
    assert r.modem.wait_steps(1) and r.modem.wait_pending()
    r.channel.pump(0)
    assert r.channel.command("AT+CSQ").lines == ["+CSQ: 9,99"]
    assert r.channel.command("AT+CGMI").lines == ["Café ÿ"]  # not UTF-8: read as Latin-1
    r.modem.check()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_break_the_channel(noise):
    made = Rig([(b"", noise + b"\r\n"), (b"AT+CSQ\r", b"\r\n+CSQ: 9,99\r\n\r\nOK\r\n")])
    try:
        assert made.modem.wait_steps(1) and made.modem.wait_pending()
        made.channel.pump(0)
        assert made.channel.command("AT+CSQ", timeout=2.0).lines[-1] == "+CSQ: 9,99"
        assert all(isinstance(u, Urc) for u in made.urcs)
    finally:
        made.close()


def test_a_failing_urc_handler_does_not_break_the_exchange(rig):
    modem = ScriptedModem([(b"AT+CSQ\r", b'\r\n+CMTI: "SM",1\r\n+CSQ: 9,99\r\n\r\nOK\r\n')])
    port = Port(modem.path)
    port.open()
    try:
        def boom(urc):
            raise RuntimeError("handler bug")

        channel = Channel(port, on_urc=boom)
        modem.start()
        assert channel.command("AT+CSQ").lines == ["+CSQ: 9,99"]
    finally:
        port.close()
        modem.close()


def test_device_gone_raises_port_error_from_command(rig):
    r = rig((b"AT\r", b"\r\nOK\r\n"))
    r.channel.command("AT")
    r.modem.hangup()
    with pytest.raises(PortError):
        r.channel.command("AT")


def test_device_gone_raises_port_error_from_pump(rig):
    r = rig()
    r.modem.hangup()
    with pytest.raises(PortError):
        r.channel.pump(1.0)


def test_device_gone_during_a_command(rig):
    r = rig((b"AT+CSQ\r", b"\r\n+CSQ: 9,99\r\n"))
    gone = threading.Timer(0.1, r.modem.hangup)
    gone.start()
    with pytest.raises(PortError):
        r.channel.command("AT+CSQ", timeout=5.0)
    gone.join()


def test_port_open_errors_name_the_path(tmp_path, rig):
    missing = Port(str(tmp_path / "ttyUSB9"))
    with pytest.raises(PortError, match="ttyUSB9"):
        missing.open()
    r = rig()
    second = Port(r.modem.path)  # the first Port holds the exclusive lock
    with pytest.raises(PortError, match=r.modem.path):
        second.open()
    assert not second.is_open and r.port.is_open and r.port.path == r.modem.path
    r.port.close()
    r.port.close()  # idempotent
    with pytest.raises(PortError):
        r.port.read(0)
