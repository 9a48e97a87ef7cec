"""The CMPP door over a real socket: the seed's own client, CMPP 2.0 and 3.0 sessions,
submits into the queue and out of the simulated modems, status reports and received
messages as CMPP_DELIVER from the outbox, and the errors an SP must see."""

from __future__ import annotations

import struct
import threading
from datetime import datetime

import pytest

from agent.codec import cmpp, cmpp_client
from agent.doors.ids import cmpp_task

from ..waiting import wait_until
from . import seed_cmpp_client
from .clients import CmppClient

SEED_TEXT = "你好,短信测试【测试】"


def test_the_seed_client_sends_unchanged(agent):
    host, port = agent.cmpp
    out = seed_cmpp_client.run(host, port)
    assert out["bind"] == 0
    result, msg_id_hex = out["submit"]
    assert result == 0
    assert out["terminate"] == (12, cmpp.TERMINATE_RESP, 3)
    msg_id = int(msg_id_hex, 16)
    task, part = cmpp_task(msg_id)
    month, day, hour, minute, second, _, _ = cmpp.unpack_msg_id(msg_id)
    now = datetime.now()
    assert (month, day) == (now.month, now.day) and 0 <= hour < 24 and minute < 60 and second < 60
    [row] = agent.core.messages_by_task(task)
    assert (row["recipient"], row["text"], row["originator"]) == ("13612341234", SEED_TEXT, "1234")
    wait_until(lambda: any(m.text == SEED_TEXT for m in agent.sent()), 10, "the modem sent it")


@pytest.mark.parametrize("secret,source,status", [("wrong", "test01", 3), ("123456", "nobody", 2)])
def test_a_wrong_login_is_refused_then_closed(agent, secret, source, status):
    host, port = agent.cmpp
    out = seed_cmpp_client.run(host, port, username=source, password=secret)
    assert out == {"bind": status}


@pytest.mark.parametrize("version", [cmpp.V2, cmpp.V3])
def test_status_reports_carry_the_submits_msg_id(agent, version):
    c = CmppClient(agent.cmpp, version)
    status, ismg, agreed = c.connect()
    assert (status, agreed) == (0, version)
    assert len(ismg) == 16
    msg_id, result = c.submit(["13800138010", "13800138011"], "两个号码".encode("utf-16-be"), msg_fmt=8,
                              registered_delivery=1, src_id="10086")
    assert result == 0
    task, _ = cmpp_task(msg_id)
    rows = agent.core.messages_by_task(task)
    assert sorted(r["recipient"] for r in rows) == ["13800138010", "13800138011"]
    reports = c.delivers(2)
    assert all(r["registered_delivery"] == 1 for r in reports)
    assert sorted(r["report"]["dest_terminal_id"] for r in reports) == ["13800138010", "13800138011"]
    assert {r["report"]["msg_id"] for r in reports} == {msg_id}
    assert {r["report"]["stat"] for r in reports} == {"DELIVRD"}
    wait_until(lambda: agent.outbox("cmpp") == 0, 5, "deleted once answered")
    c.close()


def test_authenticator_ismg_is_the_md5_of_status_source_and_secret(agent):
    import hashlib
    import time
    c = CmppClient(agent.cmpp)
    stamp = int(time.strftime("%m%d%H%M%S"))
    c.sock.sendall(cmpp_client.encode_connect(1, "test01", "123456", stamp, cmpp.V2))
    frame = c.response(1)
    status, ismg, version = cmpp_client.decode_connect_resp(frame, cmpp.V2)
    source = cmpp.authenticator_source("test01", "123456", stamp)
    assert (status, version) == (0, cmpp.V2)
    assert ismg == hashlib.md5(b"\x00" + source + b"123456").digest()
    c.close()


def test_received_messages_and_long_ones_in_parts(agent):
    c = CmppClient(agent.cmpp)
    assert c.connect()[0] == 0
    agent.stack.sim[0].deliver("+8613900000000", "回复 OK")
    [mo] = c.delivers(1)
    assert mo["registered_delivery"] == 0 and mo["src_terminal_id"] == "+8613900000000"
    assert cmpp.decode_content(mo["msg_fmt"], mo["content"])[0] == "回复 OK"
    long_text = "长" * 150
    agent.stack.sim[0].deliver("+8613900000000", long_text)
    parts = c.delivers(3)
    joined = b""
    for p in parts:
        assert p["tp_udhi"] == 1
        udh, body = cmpp.split_udhi(p["content"])
        joined += body
    assert joined.decode("utf-16-be") == long_text
    c.close()


def test_the_clients_own_long_message(agent):
    c = CmppClient(agent.cmpp)
    assert c.connect()[0] == 0
    text = "分" * 67 + "段" * 67 + "尾"
    chunks = [text[:67], text[67:134], text[134:]]
    ids = []
    for i, chunk in enumerate(chunks, start=1):
        content = bytes([5, 0, 3, 42, 3, i]) + chunk.encode("utf-16-be")
        msg_id, result = c.submit(["13800138020"], content, msg_fmt=8, tp_udhi=1, pk_total=3, pk_number=i,
                                  registered_delivery=1)
        assert result == 0
        ids.append(msg_id)
    assert len(set(ids)) == 3 and {cmpp_task(i)[0] for i in ids} == {cmpp_task(ids[0])[0]}
    wait_until(lambda: any(m.text == text for m in agent.sent()), 10, "one message sent")
    reports = c.delivers(3)
    assert sorted(r["report"]["msg_id"] for r in reports) == sorted(ids)
    c.close()


def test_bad_submits_get_their_result(agent):
    c = CmppClient(agent.cmpp)
    assert c.connect()[0] == 0
    assert c.submit(["not-a-number"], b"hi", msg_fmt=0)[1] == cmpp.submit_bad_dest(cmpp.V2)
    assert c.submit(["13800138000"], b"\xd8\x00", msg_fmt=8)[1] == cmpp.SUBMIT_BAD_STRUCTURE
    assert c.submit(["13800138000"], b"hi", msg_fmt=99)[1] == cmpp.SUBMIT_BAD_STRUCTURE
    assert c.submit(["13800138000"], b"hi", msg_fmt=0, valid_time="garbage")[1] == cmpp.SUBMIT_BAD_STRUCTURE
    # a Msg_Length that lies
    frame = bytearray(cmpp_client.encode_submit(50, version=cmpp.V2, dest_terminal_ids=["13800138000"],
                                                content=b"hello", msg_fmt=0))
    frame[12 + 8 + 1 + 1 + 1 + 1 + 10 + 1 + 21 + 1 + 1 + 1 + 6 + 2 + 6 + 17 + 17 + 21 + 1 + 21] = 3
    c.sock.sendall(bytes(frame))
    assert cmpp_client.decode_submit_resp(c.response(50), cmpp.V2)[1] == cmpp.SUBMIT_BAD_LENGTH
    assert agent.core.queue_depths().get("U", 0) + agent.core.queue_depths().get("S", 0) == 0
    # the session goes on
    assert c.submit(["13800138000"], b"fine", msg_fmt=0)[1] == 0
    c.close()


def test_a_command_before_connect_closes(agent):
    c = CmppClient(agent.cmpp)
    c.sock.sendall(cmpp_client.encode_submit(1, version=cmpp.V2, dest_terminal_ids=["13800138000"], content=b"x",
                                             msg_fmt=0))
    assert c.read(5) is None


def test_active_test_both_ways_and_terminate_at_stop(make_agent):
    agent = make_agent(cmpp="enquire_link = 0.3")
    c = CmppClient(agent.cmpp)
    assert c.connect()[0] == 0
    c.sock.sendall(cmpp.encode_active_test(7))
    assert struct.unpack("!4xII", c.response(7)[:12]) == (cmpp.ACTIVE_TEST_RESP, 7)
    frame = c.read(5)
    assert frame is not None and struct.unpack("!4xI", frame[:8])[0] == cmpp.ACTIVE_TEST
    stopper = threading.Thread(target=agent.stack.stop)
    stopper.start()
    while True:
        frame = c.read(10)
        assert frame is not None
        command, seq = struct.unpack("!4xII", frame[:12])
        if command == cmpp.TERMINATE:
            c.sock.sendall(cmpp.encode_terminate_resp(seq))
            break
        if command == cmpp.ACTIVE_TEST:
            c.sock.sendall(cmpp.encode_active_test_resp(seq))
    stopper.join(15)
    assert not stopper.is_alive()


def test_pycmpp_version_0x21_is_cmpp_2(agent):
    c = CmppClient(agent.cmpp)
    stamp = 102030405
    c.sock.sendall(cmpp_client.encode_connect(1, "test01", "123456", stamp, cmpp.V2)[:-5]
                   + bytes([0x21]) + stamp.to_bytes(4, "big"))
    status, _, version = cmpp_client.decode_connect_resp(c.response(1), cmpp.V2)
    assert (status, version) == (0, cmpp.V2)
    c.close()


@pytest.mark.parametrize("content", [b"", b"\x05", b"\x05\x00\x03\x01", b"\xff" + b"x" * 10])
def test_tp_udhi_without_a_whole_header_is_refused_and_the_door_goes_on(agent, content):
    """A CMPP_SUBMIT with TP_udhi 1 whose content holds no whole UDH used to raise in the
    listener's thread: the door was gone for every client."""
    c = CmppClient(agent.cmpp)
    assert c.connect()[0] == 0
    _, result = c.submit(["13800138000"], content or b"", msg_fmt=0, tp_udhi=1)
    assert result != 0
    assert agent.doors["cmpp"].alive
    assert c.submit(["13800138000"], b"fine", msg_fmt=0)[1] == 0
    other = CmppClient(agent.cmpp)
    assert other.connect()[0] == 0
    other.close()
    c.close()
