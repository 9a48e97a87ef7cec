"""Datagrams the listener must not believe: wrong passwords, unknown ids, strays, garbage.
None changes a line's state, stores a row or moves where the agent sends; a handler that
fails is logged and the listener goes on."""

from __future__ import annotations

import dataclasses
import logging
import socket

from agent.model import NewMessage

from ..waiting import wait_until


class Hostile:
    """A UDP socket on 127.0.0.1 that talks to the agent's listener."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(3)
        self.server = ("127.0.0.1", port)

    def ask(self, data: bytes) -> bytes:
        """Send ``data``; return the answer (a refusal is still an answer)."""
        self.sock.sendto(data, self.server)
        return self.sock.recvfrom(65535)[0]

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def close(self) -> None:
        self.sock.close()


def _keepalive(count: int, ident: str, password: str, **fields: str) -> bytes:
    values = {"num": "+8613000000000", "signal": "5", "gsm_status": "LOGOUT", "imei": "860000000000000",
              "imsi": "460000000000000", "iccid": "89860000000000000000", "pro": "EVIL", **fields}
    return (f"req:{count};id:{ident};pass:{password};" + "".join(f"{k}:{v};" for k, v in values.items())).encode()


def _visible(state) -> dict:
    return {k: v for k, v in dataclasses.asdict(state).items() if k != "updated_at"}


def test_wrong_password_datagrams_never_change_state(rig):
    before = {n: _visible(rig.state(n)) for n in rig.names}
    stats = dict(rig.app.goip.stats)
    evil = Hostile(rig.port)
    try:
        # A keepalive in goip01's name with a wrong password: "not registered, another SIM, from here".
        assert evil.ask(_keepalive(7, "goip01", "guess")) == b"reg:7;status:404;"
        assert evil.ask(_keepalive(8, "goip01", "")) == b"reg:8;status:404;"
        assert evil.ask(_keepalive(9, "nobody", "pw01")) == b"reg:9;status:404;"
        events = [b"RECEIVE:11;id:goip01;password:guess;srcnum:10086;msg:pay here: http://x",
                  b"DELIVER:12;id:goip01;password:guess;sms_no:1;state:0;num:13800138000",
                  b"RECORD:13;id:goip01;password:guess;dir:1;num:13800138000",
                  b"RECEIVE:14;id:goip99;password:pw01;srcnum:10086;msg:unknown id",
                  b"STATE:15;id:goip02;pass:pw01;gsm_remain_state:INCOMING:1"]
        for event in events:
            verb, recvid = event.split(b";")[0].split(b":")
            answer = evil.ask(event)
            assert answer.startswith(verb + b" " + recvid + b" ") and b"OK" not in answer, answer
        # Replies for sessions and commands that are not ours: ignored, no answer.
        for stray in (b"OK 12345 1 99\n", b"PASSWORD 999\n", b"SEND 999\n", b"USSD 5 Balance 0",
                      b"svr_reboot_module 77 ok", b"ERROR 42 GSM_LOGOUT\n", b"DONE 1\n"):
            evil.send(stray)
        assert evil.ask(_keepalive(10, "goip01", "guess")) == b"reg:10;status:404;"  # in order: all were read
    finally:
        evil.close()
    after = {n: _visible(rig.state(n)) for n in rig.names}
    assert after == before
    stats_now = rig.app.goip.stats
    assert stats_now["refused"] - stats["refused"] == 9 and stats_now["stray"] - stats["stray"] == 7
    assert stats_now["errors"] == 0
    assert rig.sql("SELECT COUNT(*) FROM smsserver_in") == [(0,)]
    assert rig.sql("SELECT COUNT(*) FROM smsserver_calls") == [(0,)]
    # Commands still go to the box's own address: a message to ch1 is sent by the box.
    [msg_id] = rig.core.submit([NewMessage("13800138000", "still the real box", gateway="ch1")],
                               source="test").ids
    rig.wait_rows([msg_id], lambda r: r["status"] == "S")
    assert [s.channel for s in rig.box.ledger] == ["goip01"]


def test_garbage_is_dropped_and_counted(rig):
    evil = Hostile(rig.port)
    stats = dict(rig.app.goip.stats)
    try:
        for junk in (b"", b"\x00\xff\xfe", b"req", b"req:1;pass", b"RECEIVE:1;msg:no id", b"\xc3(:1;id:x;",
                     b"x" * 5000, b"req:1;id:a;id:b;", b"OK"):
            evil.send(junk)
        assert evil.ask(_keepalive(1, "goip01", "guess")) == b"reg:1;status:404;"
    finally:
        evil.close()
    now = rig.app.goip.stats
    assert now["oversize"] - stats["oversize"] == 1
    assert now["malformed"] - stats["malformed"] >= 7
    assert now["errors"] == 0 and rig.app.goip.alive
    rig.wait_ready()


def test_a_datagram_whose_handling_fails_is_logged_and_the_listener_goes_on(rig, monkeypatch, caplog):
    line = rig.line("ch1")
    real = line.event

    def broken(packet, address):
        raise RuntimeError("a bug")

    caplog.set_level(logging.ERROR, logger="agent.goip")
    monkeypatch.setattr(line, "event", broken)
    rig.box.receive("goip01", "10086", "once the bug is gone")
    wait_until(lambda: any("could not be handled" in r.getMessage() and r.exc_info for r in caplog.records), 5,
               "the failure logged with its traceback")
    assert rig.app.goip.stats["errors"] >= 1
    assert rig.app.goip.alive
    monkeypatch.setattr(line, "event", real)  # the box resends the unacknowledged RECEIVE
    wait_until(lambda: rig.sql("SELECT text FROM smsserver_in") == [("once the bug is gone",)], 5)
    assert rig.app.health() == []


def test_numbers_too_big_for_the_database_are_unknown_not_failures(make_rig):
    """A box (here a scripted one) that answers OK with an sms_no, and sends a DELIVER, beyond
    any counter: the message is sent with an unknown reference, the DELIVER acked and dropped."""
    rig = make_rig(1, start=False)
    rig.start_app()
    box = Hostile(rig.port)
    try:
        assert box.ask(_keepalive(1, "goip01", "pw01", gsm_status="LOGIN")) == b"reg:1;status:200;"
        rig.wait_ready()
        [msg_id] = rig.core.submit([NewMessage("13800138000", "huge sms_no")], source="test").ids
        sid = box.sock.recv(65535).split()[1]
        assert box.ask(b"PASSWORD " + sid + b"\n") == b"PASSWORD " + sid + b" pw01\n"
        assert box.ask(b"SEND " + sid + b"\n") == b"SEND " + sid + b" 1 13800138000\n"
        assert box.ask(b"OK " + sid + b" 1 99999999999999999999\n") == b"DONE " + sid + b"\n"
        box.send(b"DONE " + sid + b"\n")  # the echo: no more DONE
        [row] = rig.wait_rows([msg_id], lambda r: r["status"] == "S")
        assert row["ref_no"] == "-1"
        answer = box.ask(b"DELIVER:5;id:goip01;password:pw01;sms_no:99999999999999999999;state:0;num:1")
        while answer.startswith(b"DONE "):  # one sent again before the echo came
            answer = box.sock.recv(65535)
        assert answer == b"DELIVER 5 OK\n"
    finally:
        box.close()
    assert rig.app.goip.stats["errors"] == 0
    assert rig.sql("SELECT COUNT(*) FROM smsserver_in") == [(0,)]
