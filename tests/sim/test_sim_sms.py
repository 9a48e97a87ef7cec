"""SMS through the simulated modem: AT+CMGS with codec PDUs, reports, SIM storage."""

from __future__ import annotations

import re
import time
from dataclasses import replace

from agent.codec import parts, pdu
from agent.sim.profiles import PROFILES

CMGS = re.compile(rb"\+CMGS: (\d+)\r\n\r\nOK\r\n")


def send(p, encoded, *, prompt=b"> "):
    """Run one AT+CMGS; return the bytes after the PDU up to the final result."""
    p.write(f"AT+CMGS={encoded.tpdu_length}\r".encode())
    p.until(prompt)
    p.write(encoded.hex.encode())
    p.write(b"\x1a")  # separately, like Gammu
    return p.final(timeout=3)


def test_cmgs_records_the_sent_message(sim, port):
    modem = sim(["simcom"])[0]
    p = port(modem.path)
    encoded = pdu.encode_submit("+8613912345678", "hello from the test")
    assert send(p, encoded) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    assert send(p, encoded) == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"
    first = modem.sent[0]
    assert (first.recipient, first.text, first.encoding) == ("+8613912345678", "hello from the test", "gsm7")
    assert first.references == [0] and first.srr is False and first.flash is False and first.complete
    assert first.parts[0].type == "SMS-SUBMIT"
    assert "AT+CMGS=%d" % encoded.tpdu_length in modem.commands


def test_multipart_send_is_reassembled(sim, port):
    modem = sim(["generic"])[0]
    p = port(modem.path)
    text = "Ünïcödé " * 30
    encoded = parts.encode_submits("+447700900123", text, ref=42, srr=True)
    assert len(encoded) > 1
    modem.auto_status_reports = False
    for i, part in enumerate(encoded):
        assert CMGS.search(send(p, part)).group(1) == str(i).encode()
        assert modem.sent[0].complete == (i == len(encoded) - 1)
    (message,) = modem.sent
    assert message.text == text and message.encoding == "ucs2" and message.srr
    assert message.references == list(range(len(encoded)))


def test_send_errors_and_cancel(sim, port):
    modem = sim(["generic"])[0]
    p = port(modem.path)
    p.cmd("AT+CMEE=1")
    encoded = pdu.encode_submit("+8613912345678", "x")
    # Announced length differs from the PDU's: 304, nothing sent.
    p.write(f"AT+CMGS={encoded.tpdu_length + 1}\r".encode())
    p.until(b"> ")
    p.write(encoded.hex.encode() + b"\x1a")
    assert p.final() == b"\r\n+CMS ERROR: 304\r\n"
    # Undecodable hex: 304 too.
    p.write(b"AT+CMGS=20\r")
    p.until(b"> ")
    p.write(b"0011ZZ\x1a")
    assert p.final() == b"\r\n+CMS ERROR: 304\r\n"
    # ESC cancels the prompt.
    p.write(b"AT+CMGS=20\r")
    p.until(b"> ")
    p.write(b"0011\x1b")
    assert p.final() == b"\r\nOK\r\n"
    # Injected network failures, then a success with the first MR.
    modem.fail_next_send(500, count=2)
    assert send(p, encoded) == b"\r\n+CMS ERROR: 500\r\n"
    assert send(p, encoded) == b"\r\n+CMS ERROR: 500\r\n"
    assert send(p, encoded) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    assert len(modem.sent) == 1
    # Not registered: 331.
    modem.set_state(registered=False)
    assert send(p, encoded) == b"\r\n+CMS ERROR: 331\r\n"


def test_send_delay_is_respected(sim, port):
    modem = sim(["generic"], send_delay=0.3)[0]
    p = port(modem.path)
    encoded = pdu.encode_submit("+8613912345678", "slow")
    p.write(f"AT+CMGS={encoded.tpdu_length}\r".encode())
    p.until(b"> ")
    p.write(encoded.hex.encode() + b"\x1a")
    started = time.monotonic()
    p.final(timeout=3)
    assert 0.28 <= time.monotonic() - started < 1.0
    # Commands typed during a send wait for it, then get answered in order.
    p.write(f"AT+CMGS={encoded.tpdu_length}\r".encode())
    p.until(b"> ")
    p.write(encoded.hex.encode() + b"\x1aAT+CSQ\r")
    assert CMGS.search(p.final(timeout=3))
    assert b"+CSQ:" in p.final()


def test_status_report_after_srr_send(sim, port):
    modem = sim(["simcom"])[0]
    p = port(modem.path)
    p.cmd("AT+CNMI=2,1,0,1,0")
    encoded = pdu.encode_submit("+8613912345678", "report me", srr=True)
    mr = int(CMGS.search(send(p, encoded)).group(1))
    header = p.until(re.compile(rb"\+CDS: (\d+)\r\n([0-9A-F]+)\r\n"))
    length, hexpdu = re.search(rb"\+CDS: (\d+)\r\n([0-9A-F]+)", header).groups()
    report = pdu.decode(hexpdu.decode())
    assert report.type == "SMS-STATUS-REPORT" and report.reference == mr and report.status == 0
    assert report.recipient == "+8613912345678" and report.tpdu_length == int(length)
    # ds=2: stored, announced with +CDSI, read back with AT+CMGR.
    p.cmd("AT+CNMI=2,1,0,2,0")
    modem.status_report(mr, status=0x46)
    index = int(re.search(rb'\+CDSI: "SM",(\d+)', p.until(re.compile(rb'\+CDSI: "SM",\d+\r\n'))).group(1))
    answer = p.cmd(f"AT+CMGR={index}")
    stored = re.search(rb"\+CMGR: 0,,\d+\r\n([0-9A-F]+)\r\n", answer).group(1).decode()
    assert pdu.decode(stored).status == 0x46
    # No SRR, or auto reports off: nothing comes.
    modem.auto_status_reports = False
    send(p, encoded)
    assert b"+CD" not in p.quiet_for(0.2)


def test_deliver_cmti_cmgr_cmgl_cmgd(sim, port):
    modem = sim(["simcom"])[0]
    p = port(modem.path)
    assert modem.deliver("+8613700000001", "余额不足，请充值") == [1]
    assert p.until(b'+CMTI: "SM",1\r\n') == b'\r\n+CMTI: "SM",1\r\n'
    long_text = "part " * 60  # 300 septets: two parts
    indexes = modem.deliver("+8613700000002", long_text)
    assert indexes == [2, 3]
    p.until(b'+CMTI: "SM",3\r\n')
    answer = p.cmd("AT+CMGR=1")
    m = re.fullmatch(rb"\r\n\+CMGR: 0,,(\d+)\r\n([0-9A-F]+)\r\n\r\nOK\r\n", answer)
    deliver = pdu.decode(m.group(2).decode())
    assert deliver.sender == "+8613700000001" and deliver.text == "余额不足，请充值"
    assert deliver.tpdu_length == int(m.group(1))
    assert modem.storage[1].stat == 1  # read now
    listing = p.cmd("AT+CMGL=4")
    rows = re.findall(rb"\+CMGL: (\d+),(\d),,(\d+)\r\n([0-9A-F]+)\r\n", listing)
    assert [(int(i), int(s)) for i, s, _, _ in rows] == [(1, 1), (2, 0), (3, 0)]
    texts = [pdu.decode(h.decode()) for _, _, _, h in rows[1:]]
    assert "".join(t.text for t in texts) == long_text and texts[0].concat.total == 2
    assert p.cmd("AT+CMGL=0") == b"\r\nOK\r\n"  # all read by the listing
    assert p.cmd("AT+CMGD=1") == b"\r\nOK\r\n"
    assert p.cmd("AT+CMGR=1") == b"\r\nOK\r\n"
    assert sorted(modem.storage) == [2, 3]
    assert p.cmd("AT+CMGD=1,4") == b"\r\nOK\r\n"
    assert modem.storage == {}
    p.cmd("AT+CMEE=1")
    assert p.cmd("AT+CMGR=99") == b"\r\n+CMS ERROR: 321\r\n"


def test_deliver_variants(sim, port):
    full = replace(PROFILES["huawei"], capacity=1, periodic_urcs=())
    huawei, simcom = sim([full, "simcom"])
    h = port(huawei.path)
    # Huawei numbers slots from 0; a full SIM makes the network hold the next one.
    assert huawei.deliver("+100", "first") == [0]
    assert huawei.deliver("+101", "second") == []
    h.until(b'+CMTI: "SM",0\r\n')
    h.cmd("AT+CMGD=0")
    assert h.until(b'+CMTI: "SM",0\r\n')
    assert pdu.decode(huawei.storage[0].pdu).text == "second"
    # CNMI mt=2: routed as +CMT, not stored.
    s = port(simcom.path)
    s.cmd("AT+CNMI=2,2,0,0,0")
    assert simcom.deliver("+102", "direct", flash=True) == []
    m = re.search(rb"\+CMT: ,(\d+)\r\n([0-9A-F]+)\r\n", s.until(re.compile(rb"\+CMT: ,\d+\r\n[0-9A-F]+\r\n")))
    direct = pdu.decode(m.group(2).decode())
    assert direct.text == "direct" and direct.message_class == 0 and simcom.storage == {}
    # Raw PDUs, even undecodable ones, are stored as given.
    s.cmd("AT+CNMI=2,1,0,0,0")
    assert simcom.deliver_pdu("07911326040000F0040B911346610089F6000020806291731408FF") == [1]
    assert simcom.storage[1].pdu.startswith("07911326")


def test_vendor_noise_around_the_prompt(sim, port):
    zte = replace(PROFILES["zte"], cmgr_header=",,{length}")
    slow_prompt = replace(PROFILES["generic"], prompt="\r\n>")
    z, h, g = sim([zte, "huawei", slow_prompt])
    encoded = pdu.encode_submit("+8613912345678", "noise")
    pz = port(z.path)
    pz.write(f"AT+CMGS={encoded.tpdu_length}\r".encode())
    before = pz.until(b"> ")
    assert before == b'\r\n+ZDONR: "METEOR",272,3,"CS_ONLY","ROAM_OFF"\r\n\r\n+ZPASR: "UMTS"\r\n\r\n> '
    pz.write(encoded.hex.encode() + b"\x1a")
    assert pz.final() == (b'\r\n+ZDONR: "METEOR",272,3,"CS_ONLY","ROAM_OFF"\r\n\r\n+ZPASR: "UMTS"\r\n'
                          b"\r\n+CMGS: 0\r\n\r\nOK\r\n")
    ph = port(h.path)
    ph.write(f"AT+CMGS={encoded.tpdu_length}\r".encode())
    ph.until(b"\r\n> ")
    ph.write(encoded.hex.encode() + b"\x1a")
    assert re.fullmatch(rb"\r\n\^RSSI:\d+\r\n\r\n\+CMGS: 0\r\n\r\nOK\r\n", ph.final())
    pg = port(g.path)
    assert send(pg, encoded, prompt=b"\r\n>") == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"


def test_pdu_is_echoed_after_the_prompt_when_echo_is_on(sim, port):
    modem = sim(["generic"])[0]
    p = port(modem.path, echo=True)
    encoded = pdu.encode_submit("+8613912345678", "echo")
    p.write(f"AT+CMGS={encoded.tpdu_length}\r".encode())
    assert p.until(b"> ") == f"AT+CMGS={encoded.tpdu_length}\r\r\n> ".encode()
    p.write(encoded.hex.encode() + b"\x1a")
    assert p.final() == encoded.hex.encode() + b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
