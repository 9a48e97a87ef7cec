"""Orders that race on a door's window: responses for requests the agent never made,
twice, or after the item was refused and sent again; clients that vanish in the
middle of a PDU or with a full window outstanding; an unbind with deliveries
outstanding.  Nothing may crash, nothing may be lost, and nothing acknowledged may
come again."""

from __future__ import annotations

import socket
import struct

import pytest

from agent.codec import cmpp, smpp
from agent.doors import feed as feed_module

from ..waiting import wait_until
from .clients import CmppClient, SmppClient

WINDOW = 10


def _mos(agent, count: int, prefix: str = "mo") -> list[str]:
    """``count`` received messages waiting in both doors' outboxes; their texts."""
    texts = [f"{prefix} {i:02d}" for i in range(count)]
    for text in texts:
        agent.stack.sim[0].deliver("+8613900000000", text)
    wait_until(lambda: agent.outbox("smpp") >= count and agent.outbox("cmpp") >= count, 15,
               lambda: f"{count} MOs in the outboxes, have {agent.outbox('smpp')}/{agent.outbox('cmpp')}")
    return texts


def _text(pdu: smpp.Pdu) -> str:
    return smpp.decode_text(pdu.fields["data_coding"], pdu.fields["short_message"])[0]


def _receiver(agent, **kw) -> SmppClient:
    c = SmppClient(agent.smpp)
    assert c.bind(smpp.BIND_RECEIVER, **kw).status == 0
    return c


def _resp(c: SmppClient, pdu: smpp.Pdu, status: int = 0) -> None:
    c.send(smpp.DELIVER_SM_RESP, sequence=pdu.sequence, status=status, fields={"message_id": ""})


def _alive(agent, c: SmppClient) -> None:
    assert c.call(smpp.ENQUIRE_LINK).status == 0
    assert all(d.alive for d in agent.stack.app.doors)


# --- (e) responses the agent did not expect ---------------------------------------------------


def test_responses_for_sequences_never_sent_and_answered_twice(agent):
    rx = _receiver(agent)
    [text] = _mos(agent, 1)
    [mo] = rx.deliveries(1, answer=False)
    assert _text(mo) == text
    for seq in (mo.sequence + 1000, 0, 0x7FFFFFFF):  # never sent
        assert seq != mo.sequence
        rx.send_raw(smpp.encode(smpp.DELIVER_SM_RESP, seq, fields={"message_id": ""}))
        rx.send_raw(smpp.encode(smpp.DELIVER_SM_RESP, seq, status=smpp.ESME_RX_T_APPN, fields={"message_id": ""}))
        rx.send_raw(smpp.generic_nack(seq, smpp.ESME_RSYSERR))
    _alive(agent, rx)
    assert agent.outbox("smpp") == 1  # still waiting for its own answer
    _resp(rx, mo)
    wait_until(lambda: agent.outbox("smpp") == 0, 5, "deleted on its answer")
    _resp(rx, mo)  # twice
    _resp(rx, mo, smpp.ESME_RX_T_APPN)  # and a refusal of what was acknowledged
    _alive(agent, rx)
    [later] = _mos(agent, 1, "later")
    [again] = rx.deliveries(1)
    assert _text(again) == later and again.sequence != mo.sequence
    wait_until(lambda: agent.outbox("smpp") == 0, 5, "the next one deleted")
    assert agent.doors["smpp"].feed.delivered == 2
    _alive(agent, rx)
    rx.close()


def test_a_late_ok_after_a_refusal_does_not_delete_the_retried_item(agent, monkeypatch):
    monkeypatch.setattr(feed_module, "RETRY_SECONDS", 0.3)
    rx = _receiver(agent)
    [text] = _mos(agent, 1)
    [first] = rx.deliveries(1, status=smpp.ESME_RX_T_APPN)
    _resp(rx, first)  # a late "ok" for the PDU already refused
    _alive(agent, rx)
    assert agent.outbox("smpp") == 1
    [second] = rx.deliveries(1)  # sent again after the backoff, and acknowledged
    assert _text(second) == text and second.sequence != first.sequence
    wait_until(lambda: agent.outbox("smpp") == 0, 5, "deleted once acknowledged")
    rows = agent.stack.sql("SELECT COUNT(*) FROM outbox WHERE destination = 'smpp'")
    assert rows == [(0,)]
    rx.close()


def test_late_answers_of_an_earlier_round_do_not_count_for_the_next(agent, monkeypatch):
    """A long MO is three deliver_sm; the client refuses the first, the agent sends all three
    again; the client's late "ok"s for the first round's other two must not delete the item
    while the second round is unanswered."""
    monkeypatch.setattr(feed_module, "RETRY_SECONDS", 0.3)
    rx = _receiver(agent, system_type="UDH")
    agent.stack.sim[0].deliver("+8613900000000", "P" * 400)
    round1 = rx.deliveries(3, answer=False)
    _resp(rx, round1[0], smpp.ESME_RX_T_APPN)
    round2 = rx.deliveries(3, answer=False)
    assert {p.sequence for p in round2}.isdisjoint(p.sequence for p in round1)
    _resp(rx, round1[1])
    _resp(rx, round1[2])
    _resp(rx, round2[0])
    _alive(agent, rx)
    assert agent.outbox("smpp") == 1  # round 2's parts 2 and 3 are unanswered
    _resp(rx, round2[2], smpp.ESME_RX_T_APPN)  # refused: the whole message again
    round3 = rx.deliveries(3)
    joined = b"".join(smpp.split_udh(p.fields["short_message"])[1] for p in round3)
    assert joined.decode() == "P" * 400
    _resp(rx, round2[1])  # the last straggler of round 2
    wait_until(lambda: agent.outbox("smpp") == 0, 5, "deleted once round 3 was acknowledged")
    _alive(agent, rx)
    rx.close()


# --- (f) clients that vanish ---------------------------------------------------------------------


def test_a_submit_cut_in_the_middle_queues_nothing(agent):
    tx = SmppClient(agent.smpp)
    assert tx.bind().status == 0
    pdu = smpp.encode(smpp.SUBMIT_SM, 7, fields={"source_addr": "1", "destination_addr": "13800138000",
                                                 "short_message": b"never whole"})
    tx.send_raw(pdu[:len(pdu) // 2])
    tx.close()
    c = SmppClient(agent.smpp)
    assert c.bind().status == 0
    _alive(agent, c)
    wait_until(lambda: agent.doors["smpp"].listener.sessions == 1, 5, "the cut session closed")
    assert agent.stack.sql("SELECT COUNT(*) FROM smsserver_out") == [(0,)]
    assert c.submit("13800138000", "whole").status == 0
    assert agent.stack.sql("SELECT text FROM smsserver_out") == [("whole",)]
    c.close()


@pytest.mark.parametrize("how", ["clean", "half_pdu", "reset"])
def test_a_receiver_gone_with_a_full_window_loses_nothing(agent, how):
    texts = _mos(agent, WINDOW + 2)
    rx = _receiver(agent)
    outstanding = rx.deliveries(WINDOW, answer=False)
    assert sorted(_text(p) for p in outstanding) == texts[:WINDOW]
    if how == "half_pdu":
        resp = smpp.encode(smpp.DELIVER_SM_RESP, outstanding[0].sequence, fields={"message_id": ""})
        rx.send_raw(resp[:6])
    elif how == "reset":
        rx.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    rx.close()
    again = _receiver(agent)
    got = again.deliveries(WINDOW + 2)
    assert sorted(_text(p) for p in got) == texts  # every one, once
    wait_until(lambda: agent.outbox("smpp") == 0, 5, "all deleted")
    assert agent.doors["smpp"].feed.delivered == WINDOW + 2
    _alive(agent, again)
    again.close()


def test_the_window_is_respected(agent):
    texts = _mos(agent, WINDOW + 2)
    rx = _receiver(agent)
    first = rx.deliveries(WINDOW, answer=False)
    rx.sock.settimeout(0.5)
    try:
        extra = rx.read(0.5)
    except TimeoutError:
        extra = None
    assert extra is None  # no 11th before an answer
    _resp(rx, first[0])
    [eleventh] = rx.deliveries(1, answer=False)
    assert _text(eleventh) == texts[WINDOW]
    rx.close()


def test_a_cmpp_client_gone_with_a_full_window_loses_nothing(agent):
    texts = _mos(agent, WINDOW + 2)
    c = CmppClient(agent.cmpp)
    assert c.connect()[0] == 0
    frames = []
    while len(frames) < WINDOW:
        frame = c.read(10)
        assert frame is not None
        if struct.unpack("!4xI", frame[:8])[0] == cmpp.DELIVER:
            frames.append(frame)
    c.sock.sendall(struct.pack("!III", 21, cmpp.DELIVER_RESP, 1)[:7])  # half a response, then gone
    c.close()
    again = CmppClient(agent.cmpp)
    assert again.connect()[0] == 0
    got = again.delivers(WINDOW + 2)
    assert sorted(cmpp.decode_content(d["msg_fmt"], d["content"])[0] for d in got) == texts
    wait_until(lambda: agent.outbox("cmpp") == 0, 5, "all deleted")
    again.close()


# --- (g) an unbind with deliveries outstanding -------------------------------------------------------


def test_an_unbind_with_deliveries_outstanding(agent):
    texts = _mos(agent, WINDOW + 2)
    rx = _receiver(agent)
    outstanding = rx.deliveries(WINDOW, answer=False)
    answered = outstanding[:4]
    for pdu in answered:
        _resp(rx, pdu)
    seq = rx.send(smpp.UNBIND)
    resp = rx.response(seq)
    assert (resp.command_id, resp.status) == (smpp.UNBIND_RESP, 0)
    assert rx.read(5) is None  # closed after the unbind_resp
    rx.close()
    wait_until(lambda: agent.outbox("smpp") == WINDOW + 2 - len(answered), 5, "the answered ones deleted")
    again = _receiver(agent)
    got = again.deliveries(WINDOW + 2 - len(answered))
    assert sorted(_text(p) for p in got) == sorted(set(texts) - {_text(p) for p in answered})
    wait_until(lambda: agent.outbox("smpp") == 0, 5, "all deleted")
    _alive(agent, again)
    again.close()
