"""The simulated GoIP box, over real UDP on 127.0.0.1, against a hand-written server (a plain socket).

The server here knows the protocol only as the spec writes it
(/work/shared/spec/goip-udp.md): no agent code speaks for it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from agent.sim import ChannelSpec, NetworkSend, SimGoip
from agent.sim.ledger import read

SPEC = ChannelSpec("goip01", "secret", num="+8613800000001", imei="867556030000015", imsi="460001234500001",
                   iccid="8986000020000000018", signal=17)
KEEPALIVE_1 = (b"req:1;id:goip01;pass:secret;num:+8613800000001;signal:17;gsm_status:LOGIN;voip_status:LOGOUT;"
               b"voip_state:IDLE;remain_time:-1;imei:867556030000015;imsi:460001234500001;iccid:8986000020000000018;"
               b"pro:CHINA MOBILE;idle:0;disable_status:0;SMS_LOGIN:N;SMB_LOGIN:;CELLINFO:LAC:7E5,CELL ID:5E5B;"
               b"CGATT:Y;")


class Server:
    """The SMS server's end: one UDP socket; reads with deadlines, keeping what a read skipped."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = self.sock.getsockname()
        self.kept: list[tuple[bytes, tuple[str, int]]] = []

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sock.sendto(data, addr)

    def expect(self, prefix: bytes, source: tuple[str, int] | None = None, timeout: float = 2.0):
        """Return the first (data, addr) that starts with ``prefix`` (from ``source``), kept ones first."""
        for i, (data, addr) in enumerate(self.kept):
            if data.startswith(prefix) and source in (None, addr):
                return self.kept.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {prefix!r} within {timeout}s; kept {self.kept!r}")
            self.sock.settimeout(left)
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            if data.startswith(prefix) and source in (None, addr):
                return data, addr
            self.kept.append((data, addr))

    def ask(self, data: bytes, addr: tuple[str, int], prefix: bytes | None = None, timeout: float = 2.0) -> bytes:
        """Send ``data`` to ``addr``; return the next datagram from ``addr`` that is not a keepalive
        (or that starts with ``prefix``)."""
        self.send(data, addr)
        if prefix is not None:
            return self.expect(prefix, addr, timeout)[0]
        deadline = time.monotonic() + timeout
        while True:
            got, source = self.expect(b"", addr, max(0.0, deadline - time.monotonic()))
            if not got.startswith(b"req:"):
                return got
            self.kept.append((got, source))

    def pending(self) -> list[bytes]:
        """Whatever has arrived and not been read (no waiting: loopback datagrams are there at once)."""
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    self.kept.append(self.sock.recvfrom(65535))
                except BlockingIOError:
                    break
        finally:
            self.sock.setblocking(True)
        out = [data for data, _ in self.kept if not data.startswith(b"req:")]
        self.kept = [(d, a) for d, a in self.kept if d.startswith(b"req:")]
        return out


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def goip(server):
    """goip(channels=1, **kw) -> a started SimGoip talking to ``server``, stopped after the test."""
    boxes: list[SimGoip] = []

    def make(channels=1, **kw) -> SimGoip:
        box = SimGoip(server.addr, channels, **kw)
        boxes.append(box)
        box.start()
        return box

    yield make
    for box in boxes:
        box.stop()


def registered(server: Server, box: SimGoip, status: bytes = b"200") -> tuple[str, int]:
    """Answer the first keepalive of channel 0 with its reg; return the channel's address."""
    data, addr = server.expect(b"req:1;id:" + box.channels[0].id.encode() + b";")
    server.send(b"reg:1;status:" + status + b";", addr)
    assert box.wait_for(lambda b: b.view(0).registered, 2)
    return addr


def opened(server: Server, addr, sid: int = 1, text: bytes = b"hello", password: bytes = b"secret") -> None:
    """Open bulk session ``sid`` for ``text`` and authenticate it."""
    assert server.ask(b"MSG %d %d %s\n" % (sid, len(text), text), addr) == b"PASSWORD %d\n" % sid
    assert server.ask(b"PASSWORD %d %s\n" % (sid, password), addr) == b"SEND %d\n" % sid


# --- keepalive and registration ---------------------------------------------------------------------


def test_keepalive_format_and_counting(server, goip):
    box = goip([SPEC], keepalive=0.05)
    first, addr = server.expect(b"req:1;")
    assert first == KEEPALIVE_1
    assert addr == box.view("goip01").address
    for count in (2, 3):
        data, source = server.expect(b"req:%d;" % count)
        assert data == KEEPALIVE_1.replace(b"req:1;", b"req:%d;" % count) and source == addr
    assert box.view(0).count >= 3 and not box.view(0).registered


def test_each_channel_is_its_own_client(server, goip):
    box = goip(3)
    seen = {}
    for _ in range(3):
        data, addr = server.expect(b"req:1;")
        seen[data.split(b";")[1]] = addr
    assert seen == {b"id:" + c.id.encode(): box.view(c.id).address for c in box.channels}
    assert len(set(seen.values())) == 3
    assert box.view("goip02").password == "pw02"


def test_reg_with_the_same_count_registers(server, goip):
    box = goip([SPEC])
    _, addr = server.expect(b"req:1;")
    server.send(b"reg:7;status:200;", addr)  # another count: no
    server.send(b"reg:1;status:0", addr)  # P14/P16's 0, no trailing ';' (XF): yes
    assert box.wait_for(lambda b: b.view(0).registered, 2)
    assert box.view(0).regs == ((7, "200"), (1, "0"))
    box.keepalive_now(0)
    assert server.expect(b"req:2;")[0].endswith(b";SMS_LOGIN:Y;SMB_LOGIN:;CELLINFO:LAC:7E5,CELL ID:5E5B;CGATT:Y;")
    box.keepalive_now(0)  # req:2 went unanswered
    assert b";SMS_LOGIN:N;" in server.expect(b"req:3;")[0]
    assert not box.view(0).registered


def test_status_ok_decides_when_asked(server, goip):
    box = goip([SPEC], status_ok={"200"})
    _, addr = server.expect(b"req:1;")
    server.send(b"reg:1;status:404;", addr)
    assert box.wait_for(lambda b: b.view(0).regs, 2)
    assert not box.view(0).registered
    box.keepalive_now(0)
    server.send(b"reg:2;status:200;", server.expect(b"req:2;")[1])
    assert box.wait_for(lambda b: b.view(0).registered, 2)


# --- bulk SMS sessions -------------------------------------------------------------------------------


def test_full_session_byte_exact(server, goip, tmp_path):
    box = goip([SPEC], send_delay=0.02, ledger=str(tmp_path / "ledger.jsonl"))
    addr = registered(server, box)
    assert server.ask(b"MSG 11 5 hello\n", addr) == b"PASSWORD 11\n"
    assert server.ask(b"PASSWORD 11 wrong\n", addr) == b"ERROR 11 PASSWORD\n"
    assert server.ask(b"PASSWORD 11 secret\n", addr) == b"SEND 11\n"
    assert server.ask(b"SEND 11 1 +8613912345678\n", addr) == b"WAIT 11 1\n"
    assert server.expect(b"OK 11", addr)[0] == b"OK 11 1 1\n"
    assert server.ask(b"SEND 11 2 10086\n", addr) == b"WAIT 11 2\n"
    assert server.expect(b"OK 11", addr)[0] == b"OK 11 2 2\n"
    assert server.ask(b"DONE 11\n", addr) == b"DONE 11\n"
    assert server.ask(b"SEND 11 3 10086\n", addr) == b"ERROR 11 SENDID\n"
    assert box.ledger == [NetworkSend("goip01", "+8613912345678", "hello", 1),
                          NetworkSend("goip01", "10086", "hello", 2)]
    entries = read(str(tmp_path / "ledger.jsonl"))
    assert [(e["modem"], e["recipient"], e["text"], e["sms_no"], e["via"]) for e in entries] == [
        ("goip01", "+8613912345678", "hello", 1, "GOIP"), ("goip01", "10086", "hello", 2, "GOIP")]


def test_msg_length_is_utf8_bytes_and_at_most_3000(server, goip):
    box = goip([SPEC])
    addr = registered(server, box)
    text = "你好 a;b:c\nline two".encode()
    assert server.ask(b"MSG 1 %d %s\n" % (len(text), text), addr) == b"PASSWORD 1\n"
    assert server.ask(b"MSG 2 6 \xe4\xbd\xa0\xe5\xa5\xbd", addr) == b"PASSWORD 2\n"  # no terminator
    assert server.ask(b"MSG 3 2 \xe4\xbd\xa0\xe5\xa5\xbd\n", addr) == b"ERROR 3 length_mismatch\n"  # characters
    big = b"x" * 3001
    assert server.ask(b"MSG 4 3001 " + big + b"\n", addr) == b"ERROR 4 too_long\n"
    assert server.ask(b"MSG 5 3000 " + big[:3000] + b"\n", addr) == b"PASSWORD 5\n"
    assert server.ask(b"PASSWORD 1 secret\n", addr) == b"SEND 1\n"
    server.ask(b"SEND 1 1 10086\n", addr)
    server.expect(b"OK 1 1 ", addr)
    assert box.ledger[0].text == "你好 a;b:c\nline two"


def test_wrong_password_on_keepalive_and_session(server, goip):
    box = goip([SPEC])
    addr = registered(server, box)
    box.wrong_password(0, "typo")
    box.keepalive_now(0)
    assert b";id:goip01;pass:typo;" in server.expect(b"req:2;")[0]
    assert server.ask(b"MSG 1 2 hi\n", addr) == b"PASSWORD 1\n"
    assert server.ask(b"PASSWORD 1 secret\n", addr) == b"ERROR 1 PASSWORD\n"
    assert server.ask(b"SEND 1 1 10086\n", addr) == b"ERROR 1 PASSWORD\n"
    box.wrong_password(0, None)
    assert server.ask(b"PASSWORD 1 secret\n", addr) == b"SEND 1\n"
    assert box.ledger == []


def test_at_most_five_sessions(server, goip):
    box = goip([SPEC])
    addr = registered(server, box)
    for sid in range(1, 6):
        assert server.ask(b"MSG %d 2 hi\n" % sid, addr) == b"PASSWORD %d\n" % sid
    assert server.ask(b"MSG 6 2 hi\n", addr) == b"ERROR 6 too_many_sends_in_server\n"
    assert server.ask(b"MSG 3 2 hi\n", addr) == b"PASSWORD 3\n"  # a resent MSG is no new session
    assert server.ask(b"DONE 2\n", addr) == b"DONE 2\n"
    assert server.ask(b"MSG 6 2 hi\n", addr) == b"PASSWORD 6\n"
    assert box.view(0).sessions == (1, 3, 4, 5, 6)


def test_session_limit_per_box(server, goip):
    box = goip(2, sessions_per="box", max_sessions=2)
    one = server.expect(b"req:1;id:goip01;")[1]
    two = server.expect(b"req:1;id:goip02;")[1]
    assert server.ask(b"MSG 1 2 hi\n", one) == b"PASSWORD 1\n"
    assert server.ask(b"MSG 2 2 hi\n", two) == b"PASSWORD 2\n"
    assert server.ask(b"MSG 3 2 hi\n", one) == b"ERROR 3 too_many_sends_in_server\n"
    assert box.view(1).sessions == (2,)


def test_repeated_send_with_a_known_telid_never_sends_twice(server, goip):
    box = goip([SPEC], send_delay=0.3)
    addr = registered(server, box)
    opened(server, addr, 4)
    assert server.ask(b"SEND 4 1 10086\n", addr) == b"WAIT 4 1\n"
    assert server.ask(b"SEND 4 1 10086\n", addr) == b"WAIT 4 1\n"  # still sending: its stored WAIT
    assert server.expect(b"OK 4 1", addr)[0] == b"OK 4 1 1\n"
    assert server.ask(b"SEND 4 1 10086\n", addr) == b"OK 4 1 1\n"
    box.set_send_delay(0.0)
    box.fail_next(0, 38)
    assert server.ask(b"SEND 4 2 10010\n", addr) == b"WAIT 4 2\n"
    assert server.expect(b"ERROR 4 2", addr)[0] == b"ERROR 4 2 errorstatus:38\n"
    assert server.ask(b"SEND 4 2 10010\n", addr) == b"ERROR 4 2 errorstatus:38\n"
    assert box.ledger == [NetworkSend("goip01", "10086", "hello", 1)]


def test_only_the_last_ten_telids_are_remembered(server, goip):
    box = goip([SPEC])
    addr = registered(server, box)
    opened(server, addr, 9)
    for telid in range(1, 12):
        assert server.ask(b"SEND 9 %d 100%d\n" % (telid, telid), addr) == b"WAIT 9 %d\n" % telid
        server.expect(b"OK 9 %d " % telid, addr)
    assert server.ask(b"SEND 9 2 1002\n", addr) == b"OK 9 2 2\n"
    assert server.ask(b"SEND 9 1 1001\n", addr) == b"WAIT 9 1\n"  # forgotten: the box sends it again
    assert server.expect(b"OK 9 1 ", addr)[0] == b"OK 9 1 12\n"
    assert [s.number for s in box.ledger].count("1001") == 2


def test_session_dropped_after_idle_time(server, goip):
    box = goip([SPEC], session_idle=0.1)
    addr = registered(server, box)
    opened(server, addr, 5)
    assert box.wait_for(lambda b: not b.view(0).sessions, 2)
    assert server.ask(b"SEND 5 1 10086\n", addr) == b"ERROR 5 SENDID\n"


def test_replies_go_to_the_source_of_the_command(server, goip):
    box = goip([SPEC], send_delay=0.05)
    addr = registered(server, box)
    other = Server()
    try:
        opened(other, addr, 2)
        assert other.ask(b"SEND 2 1 10086\n", addr) == b"WAIT 2 1\n"
        assert other.expect(b"OK 2 1", addr)[0] == b"OK 2 1 1\n"
        assert other.ask(b"get_gsm_num 3 secret", addr) == b"get_gsm_num 3 +8613800000001"
    finally:
        other.close()
    assert server.pending() == []


def test_silent_channel_sends_but_leaves_the_server_in_doubt(server, goip):
    box = goip([SPEC])
    addr = registered(server, box)
    opened(server, addr, 3)
    box.silent(0)
    server.send(b"SEND 3 1 10086\n", addr)
    assert box.wait_for(lambda b: b.ledger, 2)
    assert server.pending() == []
    box.silent(0, False)
    assert server.ask(b"SEND 3 1 10086\n", addr) == b"OK 3 1 1\n"
    assert len(box.ledger) == 1


# --- events from the box ----------------------------------------------------------------------------


def test_receive_resent_until_acked_then_never_again(server, goip):
    box = goip([SPEC], retransmit=0.05, retries=3)
    addr = registered(server, box)
    [first] = box.receive(0, "+8613711112222", "hi")
    packet = b"RECEIVE:%d;id:goip01;password:secret;srcnum:+8613711112222;msg:hi" % first
    assert server.expect(b"RECEIVE:", addr)[0] == packet
    assert server.expect(b"RECEIVE:", addr)[0] == packet  # resent: no ack yet
    server.send(b"RECEIVE %d OK\n" % first, addr)
    assert box.wait_for(lambda b: b.view(0).events[0].acked, 2)
    sends = box.view(0).events[0].sends
    [second] = box.receive(0, "10086", "nobody acks this")  # resent 3 times, then given up
    for _ in range(4):
        assert server.expect(b"RECEIVE:%d;" % second, addr)
    assert box.wait_for(lambda b: b.view(0).events[1].gave_up, 2)
    assert not box.view(0).events[1].acked and box.view(0).events[1].sends == 4
    assert box.view(0).events[0].sends == sends  # nothing more after the ack...
    late = [d for d in server.pending() if d == packet]  # ...than what was on its way when the ack came
    assert 2 + len(late) == sends
    assert [d for d in server.pending() if d.startswith(b"RECEIVE:")] == []


def test_receive_keeps_separators_and_chinese_and_splits_long_texts(server, goip):
    box = goip([SPEC], recvid_start=99)
    addr = registered(server, box)
    box.receive(0, "+8613711112222", "a;b:c msg:你好;")
    assert server.expect(b"RECEIVE:", addr)[0] == (
        "RECEIVE:100;id:goip01;password:secret;srcnum:+8613711112222;msg:a;b:c msg:你好;".encode())
    assert box.receive(0, "10086", "x" * 153 + "y" * 47) == [101, 102]
    assert server.expect(b"RECEIVE:101;", addr)[0].endswith(b";msg:" + b"x" * 153)
    assert server.expect(b"RECEIVE:102;", addr)[0].endswith(b";msg:" + b"y" * 47)
    assert box.receive(0, "10086", "中" * 70) == [103]  # 70 UCS-2 characters fit one SMS
    box.receive(0, "10086", "中" * 67 + "文" * 4)
    assert server.expect(b"RECEIVE:104;", addr)[0].endswith(("msg:" + "中" * 67).encode())
    assert server.expect(b"RECEIVE:105;", addr)[0].endswith(("msg:" + "文" * 4).encode())


def test_deliver_after_ok_and_on_command(server, goip):
    box = goip([SPEC], report_delay=0.01, recvid_start=500)
    addr = registered(server, box)
    opened(server, addr, 1)
    server.ask(b"SEND 1 1 +8613912345678\n", addr)
    server.expect(b"OK 1 1 1", addr)
    assert server.expect(b"DELIVER:", addr)[0] == (
        b"DELIVER:501;id:goip01;password:secret;sms_no:1;state:0;num:+8613912345678")
    server.send(b"DELIVER 501 OK\n", addr)
    assert box.wait_for(lambda b: b.view(0).events[0].acked, 2)
    assert box.deliver(0, 1, state=70, number="10086") == 502
    assert server.expect(b"DELIVER:502;", addr)[0].endswith(b";sms_no:1;state:70;num:10086")


def test_call_events_and_their_acks(server, goip):
    box = goip([SPEC], recvid_start=0)
    addr = registered(server, box)
    assert box.call(0, "13800138000") == [1, 2, 3, 4, 5]
    got = [server.expect(b"%s:%d;" % (verb, n), addr)[0] for n, verb in
           enumerate([b"STATE", b"RECORD", b"HANGUP", b"STATE", b"REMAIN"], 1)]
    head = b";id:goip01;password:secret;"
    assert got == [b"STATE:1" + head + b"gsm_remain_state:INCOMING:13800138000",
                   b"RECORD:2" + head + b"dir:1;num:13800138000",
                   b"HANGUP:3" + head + b"num:13800138000,cause:Normal call clearing",
                   b"STATE:4" + head + b"gsm_remain_state:IDLE",
                   b"REMAIN:5" + head + b"gsm_remain_time:-1"]
    server.send(b"REMAIN 3 OK", addr)  # the wrong verb (LS's bug) acks nothing
    server.send(b"HANGUP 3 OK", addr)
    server.send(b"STATE 1 busy", addr)  # STATE's error form has no ERROR keyword
    assert box.wait_for(lambda b: b.view(0).events[2].acked and b.view(0).events[0].answer == "busy", 2)
    assert box.view(0).unknown == (b"REMAIN 3 OK",)


# --- faults -----------------------------------------------------------------------------------------


def test_duplicated_datagrams_still_send_once(server, goip):
    box = goip([SPEC], send_delay=0.05, seed=3)
    addr = registered(server, box)
    opened(server, addr, 1)
    box.dup(rate_in=1.0, rate_out=1.0)
    server.send(b"SEND 1 1 10086\n", addr)
    for _ in range(4):  # a WAIT for each copy of the SEND, each WAIT twice; one OK, twice
        assert server.expect(b"WAIT 1 1\n", addr)
    assert server.expect(b"OK 1 1 1\n", addr) and server.expect(b"OK 1 1 1\n", addr)
    assert box.ledger == [NetworkSend("goip01", "10086", "hello", 1)]
    assert box.faults == {"dropped_in": 0, "dropped_out": 0, "duplicated_in": 1, "duplicated_out": 3}


def test_loss_is_seeded_and_counted(server, goip):
    outcomes = []
    for _ in range(2):
        box = goip([SPEC], seed=42)
        addr = server.expect(b"req:1;")[1]
        box.loss(rate_in=0.3, rate_out=0.3)
        for i in range(40):
            server.send(b"get_imei %d secret" % i, addr)
        assert box.wait_for(lambda b: b.faults["dropped_in"] + b.view(0).received == 40, 2)
        faults = box.faults
        for _ in range(40 - faults["dropped_in"] - faults["dropped_out"]):
            server.expect(b"get_imei ", addr)
        assert server.pending() == []
        outcomes.append(faults)
        box.stop()
    assert outcomes[0] == outcomes[1] and outcomes[0]["dropped_in"] and outcomes[0]["dropped_out"]


def test_total_loss_in_means_no_answer(server, goip):
    box = goip([SPEC])
    addr = registered(server, box)
    box.loss(rate_in=1.0)
    server.send(b"MSG 1 2 hi\n", addr)
    assert box.wait_for(lambda b: b.faults["dropped_in"] == 1, 2)
    assert server.pending() == [] and box.view(0).sessions == ()


def test_logout_refuses_sends_and_login_restores(server, goip):
    box = goip([SPEC])
    addr = registered(server, box)
    opened(server, addr, 1)
    box.logout(0)
    assert b";gsm_status:LOGOUT;" in server.expect(b"req:2;")[0]
    assert server.ask(b"SEND 1 1 10086\n", addr) == b"ERROR 1 GSM_LOGOUT\n"
    box.login(0)
    assert b";gsm_status:LOGIN;" in server.expect(b"req:3;")[0]
    assert server.ask(b"SEND 1 1 10086\n", addr) == b"WAIT 1 1\n"
    assert server.expect(b"OK 1 1 1\n", addr)


# --- commands and USSD -------------------------------------------------------------------------------


def test_ussd_answers_and_its_cache(server, goip):
    box = goip([SPEC], ussd={"*101#": "Data 1.5 GB"})
    addr = registered(server, box)
    assert server.ask(b"USSD 10 secret *100#", addr) == b"USSD 10 Balance 12.34@@"
    assert server.ask(b"USSD 10 secret *100#", addr) == b"USSD 10 Balance 12.34@@"  # a resend
    assert server.ask(b"USSD 9 secret *101#", addr) == b"USSD 9 Balance 12.34@@"  # an older id: the cache
    assert box.view(0).ussd_network == ("*100#",)
    assert server.ask(b"USSD 11 secret *101#", addr) == b"USSD 11 Data 1.5 GB"
    assert server.ask(b"USSD 12 secret *100#\n", addr) == b"USSD 12 USSD send failed!"  # '\n' is in the code
    assert server.ask(b"USSD 13 wrong *100#", addr) == b"USSDERROR 13 password error"
    assert server.ask(b"USSDEXIT 14 secret", addr) == b"USSDEXIT 14"
    assert box.view(0).ussd_network == ("*100#", "*101#", "*100#\n")


def test_reboot_module_logs_out_and_registers_again(server, goip):
    box = goip([SPEC], reboot_time=0.5)
    addr = registered(server, box)
    opened(server, addr, 1)
    assert server.ask(b"svr_reboot_module 7 secret", addr) == b"svr_reboot_module 7 ok"
    data, _ = server.expect(b"req:2;")
    assert b";gsm_status:LOGOUT;" in data and b";SMS_LOGIN:Y;" in data  # the server still knows it
    assert server.ask(b"SEND 1 1 10086\n", addr) == b"ERROR 1 GSM_LOGOUT\n"
    data, _ = server.expect(b"req:3;", timeout=2)
    assert b";gsm_status:LOGIN;" in data
    server.send(b"reg:3;status:200;", addr)
    assert box.wait_for(lambda b: b.view(0).registered and b.view(0).online, 2)
    box.reboot(0)
    assert b";gsm_status:LOGOUT;" in server.expect(b"req:4;")[0]
    assert b";gsm_status:LOGIN;" in server.expect(b"req:5;")[0]


def test_queries_gsm_and_unknown_commands(server, goip):
    box = goip([SPEC])
    addr = registered(server, box)
    assert server.ask(b"get_gsm_num 1 secret", addr) == b"get_gsm_num 1 +8613800000001"
    assert server.ask(b"get_imei 2 secret", addr) == b"get_imei 2 867556030000015"
    assert server.ask(b"get_gsm_num 3 nope", addr) == b"ERROR 3 password error"
    assert server.ask(b"GSM 4 secret", addr) == (b"GSM:4;get_gsm_num:+8613800000001;get_exp_time:-1;get_remain_time:-1;"
                                                 b"get_gsm_state:IDLE;imei:867556030000015;out_call_interval:0;"
                                                 b"module_down:0")
    assert server.ask(b"GSM 5 nope", addr) == b"GSMERROR 5 password error"
    server.send(b"set_base_cell 6 1 secret", addr)
    assert box.wait_for(lambda b: b.view(0).unknown == (b"set_base_cell 6 1 secret",), 2)


# --- cost and the command line ------------------------------------------------------------------------


def test_idle_box_of_32_channels_uses_no_cpu(server, goip):
    box = goip(32)
    for _ in range(32):
        server.expect(b"req:1;")
    threading.Event().wait(0.1)  # let start-up settle
    before = box.cpu_time()
    threading.Event().wait(1.0)  # the idle window being measured
    assert box.cpu_time() - before < 0.02


def test_cli_runs_a_goip_box_until_sigterm(server):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from agent.sim.cli import main; sys.exit(main(sys.argv[1:]))",
         "--goip", f"127.0.0.1:{server.addr[1]}", "--channels", "2", "--password", "s3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    try:
        lines = [proc.stdout.readline().decode().split() for _ in range(2)]
        assert [line[:2] for line in lines] == [["goip01", "s3"], ["goip02", "s3"]]
        for line in lines:
            host, port = line[2].rsplit(":", 1)
            data, addr = server.expect(b"req:1;id:" + line[0].encode() + b";")
            assert addr == (host, int(port)) and b";pass:s3;" in data
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
