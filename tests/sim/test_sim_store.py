"""Store-and-send through the simulated modem (27.005 AT+CMGW / AT+CMSS), and its ledger."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import datetime

from agent.codec import parts, pdu
from agent.sim import ledger
from agent.sim.profiles import PROFILES

from ..waiting import wait_until

CMGW = re.compile(rb"\r\n\+CMGW: (\d+)\r\n\r\nOK\r\n")
CMSS = re.compile(rb"\+CMSS: (\d+)\r\n\r\nOK\r\n")


def write(p, encoded, stat: int | None = None) -> bytes:
    """Run one AT+CMGW; return the bytes after the PDU up to the final result."""
    p.write(f"AT+CMGW={encoded.tpdu_length}{'' if stat is None else f',{stat}'}\r".encode())
    p.until(b"> ")
    p.write(encoded.hex.encode() + b"\x1a")
    return p.final()


def stored_at(p, encoded, stat: int | None = None) -> int:
    answer = write(p, encoded, stat)
    m = CMGW.fullmatch(answer)
    assert m, answer
    return int(m.group(1))


def send(p, encoded) -> bytes:
    p.write(f"AT+CMGS={encoded.tpdu_length}\r".encode())
    p.until(b"> ")
    p.write(encoded.hex.encode() + b"\x1a")
    return p.final(timeout=3)


def test_write_then_send_from_storage(sim, port):
    modem = sim(["simcom"])[0]
    p = port(modem.path)
    p.cmd("AT+CNMI=2,1,0,1,0")
    encoded = pdu.encode_submit("+8613912345678", "stored first", srr=True)
    index = stored_at(p, encoded)
    assert index == 1 and modem.storage[1].stat == 2 and modem.storage[1].pdu == encoded.hex
    assert modem.sent == []  # written, not sent
    assert p.cmd("AT+CMGR=1") == f"\r\n+CMGR: 2,,{encoded.tpdu_length}\r\n{encoded.hex}\r\n\r\nOK\r\n".encode()
    assert p.cmd("AT+CMGL=2") == f"\r\n+CMGL: 1,2,,{encoded.tpdu_length}\r\n{encoded.hex}\r\n\r\nOK\r\n".encode()
    assert p.cmd("AT+CMGL=3") == b"\r\nOK\r\n"
    # The TP-MR counter is the one AT+CMGS uses.
    assert send(p, pdu.encode_submit("+8613900000000", "direct")) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    assert p.cmd("AT+CMSS=1", timeout=3) == b"\r\n+CMSS: 1\r\n\r\nOK\r\n"
    assert modem.storage[1].stat == 3  # STO SENT, kept until deleted
    assert p.cmd("AT+CMGR=1").startswith(f"\r\n+CMGR: 3,,{encoded.tpdu_length}\r\n".encode())
    assert re.match(rb"\r\n\+CMGL: 1,3,,\d+\r\n", p.cmd("AT+CMGL=3"))
    assert p.cmd("AT+CMGL=2") == b"\r\nOK\r\n"
    sent = modem.sent[-1]
    assert (sent.recipient, sent.text, sent.references, sent.srr) == ("+8613912345678", "stored first", [1], True)
    # Its status report comes as for AT+CMGS, with the TP-MR of the AT+CMSS.
    report = p.until(re.compile(rb"\+CDS: \d+\r\n([0-9A-F]+)\r\n"))
    assert pdu.decode(re.search(rb"\+CDS: \d+\r\n([0-9A-F]+)", report).group(1).decode()).reference == 1
    # A message already sent can be sent again (real modems allow it): a new TP-MR.
    assert CMSS.search(p.cmd("AT+CMSS=1", timeout=3)).group(1) == b"2"
    # The destination given to AT+CMSS replaces the stored one.
    assert CMSS.search(p.cmd('AT+CMSS=1,"+8613800000009",145', timeout=3))
    assert modem.sent[-1].recipient == "+8613800000009"
    assert "AT+CMSS=1" in modem.commands


def test_cmss_takes_the_send_delay_and_commands_wait(sim, port):
    modem = sim(["generic"], send_delay=0.3)[0]
    p = port(modem.path)
    index = stored_at(p, pdu.encode_submit("+8613912345678", "slow"))
    p.write(f"AT+CMSS={index}\rAT+CMGR={index}\r".encode())
    assert p.quiet_for(0.15) == b""  # nothing before the network answered
    assert CMSS.search(p.final(timeout=2))
    assert p.final().startswith(b"\r\n+CMGR: 3,,")


def test_store_and_send_errors(sim, port):
    small = replace(PROFILES["generic"], capacity=2)
    modem = sim([small])[0]
    p = port(modem.path)
    p.cmd("AT+CMEE=1")
    encoded = pdu.encode_submit("+8613912345678", "x")
    # Length that does not match the PDU, or a DELIVER written as unsent: 304, nothing stored.
    p.write(f"AT+CMGW={encoded.tpdu_length + 1}\r".encode())
    p.until(b"> ")
    p.write(encoded.hex.encode() + b"\x1a")
    assert p.final() == b"\r\n+CMS ERROR: 304\r\n"
    deliver = pdu.encode_deliver("+100", "in", scts=datetime.now().astimezone())
    assert write(p, deliver) == b"\r\n+CMS ERROR: 304\r\n"
    assert p.cmd('AT+CMGW="+8613912345678"') == b"\r\n+CMS ERROR: 304\r\n"  # text-mode syntax
    assert p.cmd("AT+CMGW") == b"\r\n+CMS ERROR: 304\r\n"
    assert p.cmd(f"AT+CMGW={encoded.tpdu_length},7") == b"\r\n+CMS ERROR: 304\r\n"
    # ESC at the prompt cancels: nothing stored.
    p.write(f"AT+CMGW={encoded.tpdu_length}\r".encode())
    p.until(b"> ")
    p.write(encoded.hex.encode() + b"\x1b")
    assert p.final() == b"\r\nOK\r\n"
    assert modem.storage == {}
    # Empty slot or out of range: 321.
    assert p.cmd("AT+CMSS=1") == b"\r\n+CMS ERROR: 321\r\n"
    assert p.cmd("AT+CMSS=99") == b"\r\n+CMS ERROR: 321\r\n"
    # A received message cannot be sent: 302.
    assert modem.deliver("+8613700000001", "hello") == [1]
    p.until(b'+CMTI: "SM",1\r\n')
    assert p.cmd("AT+CMSS=1") == b"\r\n+CMS ERROR: 302\r\n"
    # The other slot takes one message; then the storage is full: 322.
    assert stored_at(p, encoded, 3) == 2 and modem.storage[2].stat == 3  # <stat> given
    assert write(p, encoded) == b"\r\n+CMS ERROR: 322\r\n"
    assert p.cmd("AT+CMGD=1") == b"\r\nOK\r\n"
    assert stored_at(p, encoded) == 1
    # Failures injected for sends and a lost network hit AT+CMSS too; the message stays unsent.
    modem.fail_next_send(38)
    assert p.cmd("AT+CMSS=1", timeout=3) == b"\r\n+CMS ERROR: 38\r\n"
    modem.set_state(registered=False)
    assert p.cmd("AT+CMSS=1", timeout=3) == b"\r\n+CMS ERROR: 331\r\n"
    assert modem.storage[1].stat == 2 and modem.sent == []
    modem.set_state(registered=True)
    assert CMSS.search(p.cmd("AT+CMSS=1", timeout=3)).group(1) == b"0"


def test_cmgd_flags_on_stored_messages(sim, port):
    modem = sim(["generic"])[0]
    p = port(modem.path)
    encoded = pdu.encode_submit("+8613912345678", "flags")
    modem.deliver("+100", "unread")  # 1: stat 0
    modem.deliver("+101", "read")  # 2: read below
    p.cmd("AT+CMGR=2")
    unsent = stored_at(p, encoded)  # 3: stat 2
    sent = stored_at(p, encoded)  # 4: stat 3 after the send
    assert CMSS.search(p.cmd(f"AT+CMSS={sent}", timeout=3))
    assert {i: s.stat for i, s in modem.storage.items()} == {1: 0, 2: 1, 3: 2, 4: 3}
    p.cmd("AT+CMGD=0,2")  # read and sent
    assert {i: s.stat for i, s in modem.storage.items()} == {1: 0, 3: 2}
    p.cmd("AT+CMGD=0,3")  # read, sent and unsent
    assert {i: s.stat for i, s in modem.storage.items()} == {1: 0}
    assert unsent == 3
    stored_at(p, encoded)
    p.cmd("AT+CMGD=0,1")  # read only: the unsent stays
    assert sorted(s.stat for s in modem.storage.values()) == [0, 2]


def test_status_survives_the_host_closing_the_port_and_a_modem_reboot(sim, port):
    modem = sim(["quectel"], send_delay=0.3)[0]
    p = port(modem.path)
    first = stored_at(p, pdu.encode_submit("+8613912345678", "in flight"))
    second = stored_at(p, pdu.encode_submit("+8613912345678", "never sent"))
    # The host dies in the middle of AT+CMSS: the network still takes it, the slot says so.
    p.write(f"AT+CMSS={first}\r".encode())
    p.close()
    assert modem.wait_for(lambda m: m.storage[first].stat == 3, 3)
    p = port(modem.path, echo=True)  # echo is still off: the modem kept its settings
    assert p.cmd(f"AT+CMGR={first}").startswith(b"\r\n+CMGR: 3,,")
    assert p.cmd(f"AT+CMGR={second}").startswith(b"\r\n+CMGR: 2,,")
    # A reboot (the SIM keeps its storage) changes nothing.
    p.write(b"AT+CFUN=1,1\r")
    p.until(b"+QIND: SMS DONE\r\n", timeout=3)
    p.cmd("ATE0")
    assert re.findall(rb"\+CMGL: (\d+),(\d)", p.cmd("AT+CMGL=4")) == [(b"%d" % first, b"3"), (b"%d" % second, b"2")]


def test_power_lost_during_cmss_leaves_the_message_unsent(sim, port):
    modem = sim(["generic"], send_delay=0.5)[0]
    p = port(modem.path)
    index = stored_at(p, pdu.encode_submit("+8613912345678", "cut off"))
    p.write(f"AT+CMSS={index}\r".encode())
    wait_until(lambda: f"AT+CMSS={index}" in modem.commands, 2, "the AT+CMSS")
    modem.reset()  # power goes before the network answered
    assert modem.wait_for(lambda m: m.ready, 3)
    p.until(b"RDY\r\n", timeout=3)
    p.cmd("ATE0")
    assert p.cmd(f"AT+CMGR={index}").startswith(b"\r\n+CMGR: 2,,") and modem.sent == []


def test_vendor_headers_of_stored_messages(sim, port):
    zte, huawei = sim(["zte", "huawei"])
    encoded = pdu.encode_submit("+8613912345678", "vendors")
    pz = port(zte.path)
    index = stored_at(pz, encoded)
    # ZTE's +CMGR has no stat (a real capture): only the listing tells.
    assert pz.cmd(f"AT+CMGR={index}").startswith(f"\r\n+CMGR: ,,{encoded.tpdu_length}\r\n".encode())
    assert f"+CMGL: {index},2,,{encoded.tpdu_length}".encode() in pz.cmd("AT+CMGL=2")
    ph = port(huawei.path)
    ph.cmd("AT^CURC=0")
    assert stored_at(ph, encoded) == 0  # Huawei numbers from 0
    answer = ph.cmd("AT+CMSS=0", timeout=3)
    assert re.fullmatch(rb"\r\n\^RSSI:\d+\r\n\r\n\+CMSS: 0\r\n\r\nOK\r\n", answer)
    assert huawei.storage[0].stat == 3


# --- the ledger -----------------------------------------------------------------------


def test_ledger_has_one_line_per_accepted_part(sim, port, tmp_path):
    path = tmp_path / "ledger.jsonl"
    bank = sim(["generic", "generic"], ledger=str(path))
    a, b = port(bank[0].path), port(bank[1].path)
    b.cmd("AT+CMEE=1")
    assert send(a, pdu.encode_submit("+8613900000001", "direct one")) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    bank[1].fail_next_send(38)
    assert send(b, pdu.encode_submit("+8613900000002", "refused")) == b"\r\n+CMS ERROR: 38\r\n"  # not in it
    long = parts.encode_submits("+8613900000003", "long " * 40, ref=7)
    for part in long:
        index = stored_at(b, part)
        assert CMSS.search(b.cmd(f"AT+CMSS={index}", timeout=3))
    entries = ledger.read(str(path))
    assert [(e["modem"], e["via"], e["recipient"], e["mr"]) for e in entries] == [
        ("sim1", "CMGS", "+8613900000001", 0), ("sim2", "CMSS", "+8613900000003", 0),
        ("sim2", "CMSS", "+8613900000003", 1)]
    first = entries[0]
    assert first["text"] == "direct one" and first["concat"] is None and first["index"] is None
    assert pdu.decode(first["pdu"]).text == "direct one" and first["time"]
    assert [e["concat"] for e in entries[1:]] == [[7, 2, 1], [7, 2, 2]]
    assert [e["index"] for e in entries[1:]] == [1, 2]
    assert "".join(e["text"] for e in entries[1:]) == "long " * 40
    assert all(line.endswith("}") for line in path.read_text().splitlines())


def test_simulate_command_writes_the_ledger(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_text('{"kept": true}\n')  # appended to, never truncated
    proc = subprocess.Popen([sys.executable, "-m", "agent", "simulate", "--lines", "1", "--send-delay", "0",
                             "--ledger", str(path), "--state-dir", str(tmp_path / "d")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        name, profile, device = proc.stdout.readline().split()  # type: ignore[union-attr]
        assert name == "sim1"
        from .conftest import Port

        p = Port(device)
        try:
            p.cmd("ATE0")
            assert send(p, pdu.encode_submit("+8613900000001", "from the cli")) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
        finally:
            p.close()
        lines = path.read_text().splitlines()
        assert json.loads(lines[0]) == {"kept": True}
        assert json.loads(lines[1])["text"] == "from the cli"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, proc.stderr.read()  # type: ignore[union-attr]
    bad = subprocess.run([sys.executable, "-m", "agent", "simulate", "--lines", "1",
                          "--ledger", str(tmp_path / "no" / "such" / "dir" / "l.jsonl"),
                          "--state-dir", str(tmp_path / "e")], capture_output=True, text=True, timeout=20)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "cannot start the simulated bank" in bad.stderr
