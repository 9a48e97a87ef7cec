"""The SMPP door over a real socket: binds, submit_sm into the queue and out of the
simulated modems, receipts and received messages as deliver_sm from the outbox,
and the errors an ESME must see."""

from __future__ import annotations

import struct
import threading

import pytest

from agent.codec import smpp
from agent.doors.ids import smpp_id, smpp_task

from ..waiting import wait_until
from .clients import SmppClient


@pytest.fixture
def esme(agent):
    clients = []

    def make(kind=smpp.BIND_TRANSCEIVER, **kw) -> SmppClient:
        c = SmppClient(agent.smpp)
        clients.append(c)
        if kind:
            resp = c.bind(kind, **kw)
            assert resp.status == 0, hex(resp.status)
        return c

    yield make
    for c in clients:
        c.close()


def test_bind_answers_with_the_system_id_and_interface_version(agent, esme):
    c = esme(None)
    resp = c.bind()
    assert (resp.command_id, resp.status, resp.fields["system_id"]) == (smpp.BIND_TRANSCEIVER_RESP, 0, "branch")
    assert resp.tlv_int(smpp.SC_INTERFACE_VERSION) == 0x34
    again = c.bind()
    assert again.status == smpp.ESME_RALYBND


@pytest.mark.parametrize("system_id,password", [("branch", "wrong"), ("other", "secret12"), ("", "")])
def test_a_wrong_bind_is_refused_and_closed(agent, esme, system_id, password):
    c = esme(None)
    resp = c.bind(system_id=system_id, password=password)
    assert resp.status == smpp.ESME_RBINDFAIL
    assert c.read(5) is None  # closed


def test_submit_sm_is_queued_before_its_response_and_sent(agent, esme):
    c = esme()
    resp = c.submit("13800138000", "Hello from SMPP", registered_delivery=1)
    assert resp.status == 0
    task = int(resp.fields["message_id"])
    rows = agent.core.messages_by_task(task)  # committed before the response
    assert [(r["recipient"], r["text"], r["status_report"]) for r in rows] == [("13800138000", "Hello from SMPP", 1)]
    wait_until(lambda: any(m.text == "Hello from SMPP" for m in agent.sent()), 10, "the modem sent it")
    [dlr] = c.deliveries(1)
    assert dlr.fields["esm_class"] == 0x04
    fields = smpp.parse_receipt(dlr.fields["short_message"].decode())
    assert (fields["id"], fields["stat"], fields["err"]) == (str(task), "DELIVRD", "000")
    assert dlr.tlv_str(smpp.RECEIPTED_MESSAGE_ID) == str(task)
    assert dlr.tlv_int(smpp.MESSAGE_STATE) == 2
    assert dlr.fields["source_addr"] == "13800138000"
    wait_until(lambda: agent.outbox("smpp") == 0, 5, "the receipt deleted once answered")


def test_ucs2_and_international_numbers(agent, esme):
    c = esme()
    text = "你好，短信测试【测试】"
    resp = c.submit("8613800138000", text.encode("utf-16-be"), data_coding=8, dest_addr_ton=1, dest_addr_npi=1)
    assert resp.status == 0
    [row] = agent.core.messages_by_task(int(resp.fields["message_id"]))
    assert (row["recipient"], row["text"]) == ("+8613800138000", text)
    wait_until(lambda: any(m.text == text for m in agent.sent()), 10, "sent")


def test_message_payload_is_split_by_the_agent(agent, esme):
    c = esme()
    text = "x" * 400
    resp = c.submit("13800138000", b"", tlvs=[(smpp.MESSAGE_PAYLOAD, text.encode())])
    assert resp.status == 0
    wait_until(lambda: any(m.text == text and len(m.parts) == 3 for m in agent.sent()), 10, "3 parts sent")


@pytest.mark.parametrize("how", ["udh8", "udh16", "sar"])
def test_the_clients_own_parts_go_out_as_one_message(agent, esme, how):
    c = esme()
    chunks = ["A" * 153, "B" * 153, "C" * 20]
    ids = []
    for seq, chunk in enumerate(chunks, start=1):
        if how == "sar":
            resp = c.submit("13800138001", chunk, registered_delivery=1,
                            tlvs=[(smpp.SAR_MSG_REF_NUM, smpp.tlv_u16(77)), (smpp.SAR_TOTAL_SEGMENTS, smpp.tlv_u8(3)),
                                  (smpp.SAR_SEGMENT_SEQNUM, smpp.tlv_u8(seq))])
        else:
            udh = smpp.udh_bytes(smpp.Udh(77, 3, seq, 8 if how == "udh8" else 16))
            resp = c.submit("13800138001", udh + chunk.encode(), esm_class=0x40, registered_delivery=1)
        assert resp.status == 0
        ids.append(resp.fields["message_id"])
    task = smpp_task(ids[0])[0]
    assert ids == [smpp_id(task, 1), smpp_id(task, 2), smpp_id(task, 3)]
    assert ids[1] == str(9_000_000_000_000_000 + task * 1000 + 2)  # digits only, never a task id
    wait_until(lambda: any(m.text == "".join(chunks) for m in agent.sent()), 10, "the whole text sent once")
    dlrs = c.deliveries(3)
    assert sorted(d.tlv_str(smpp.RECEIPTED_MESSAGE_ID) for d in dlrs) == ids
    assert len([m for m in agent.sent() if m.recipient.endswith("13800138001")]) == 1


def test_a_resent_part_is_answered_with_its_id_and_queued_once(agent, esme):
    c = esme()
    udh1, udh2 = (smpp.udh_bytes(smpp.Udh(9, 2, i, 8)) for i in (1, 2))
    first = c.submit("13800138002", udh1 + b"Hello ", esm_class=0x40)
    again = c.submit("13800138002", udh1 + b"Hello ", esm_class=0x40)
    second = c.submit("13800138002", udh2 + b"world", esm_class=0x40)
    assert first.fields["message_id"] == again.fields["message_id"]
    assert smpp_task(second.fields["message_id"]) == (smpp_task(first.fields["message_id"])[0], 2)
    wait_until(lambda: any(m.text == "Hello world" for m in agent.sent()), 10, "sent")
    assert [m.text for m in agent.sent()] == ["Hello world"]


@pytest.mark.parametrize("fields,status", [
    ({"destination_addr": ""}, smpp.ESME_RINVDSTADR),
    ({"destination_addr": "call me"}, smpp.ESME_RINVDSTADR),
    ({"data_coding": 0x05}, smpp.ESME_RINVDCS),
    ({"data_coding": 8, "short_message": b"\xd8\x00"}, smpp.ESME_RINVDCS),
    ({"priority_flag": 7}, smpp.ESME_RINVPRTFLG),
    ({"schedule_delivery_time": "not a time"}, smpp.ESME_RINVSCHED),
    ({"validity_period": "000000000000000R"[:15] + "X"}, smpp.ESME_RINVEXPIRY),
    ({"validity_period": "200101000000000+"}, smpp.ESME_RINVEXPIRY),
    ({"short_message": b""}, smpp.ESME_RINVMSGLEN),
])
def test_bad_submissions_get_their_status_and_queue_nothing(agent, esme, fields, status):
    c = esme()
    body = fields.pop("short_message", b"hello")
    fields.setdefault("destination_addr", "13800138000")
    resp = c.call(smpp.SUBMIT_SM, fields={"source_addr": "1", "short_message": body, **fields})
    assert (resp.command_id, resp.status) == (smpp.SUBMIT_SM_RESP, status)
    assert agent.core.queue_depths().get("U", 0) + agent.core.queue_depths().get("S", 0) == 0
    assert c.call(smpp.ENQUIRE_LINK).status == 0  # the session goes on


def test_too_many_parts_and_a_receiver_that_submits(agent, esme):
    c = esme()
    resp = c.submit("13800138000", b"", tlvs=[(smpp.MESSAGE_PAYLOAD, b"y" * 160 * 12)])
    assert resp.status == smpp.ESME_RINVMSGLEN
    rx = esme(smpp.BIND_RECEIVER)
    assert rx.submit("13800138000", "hi").status == smpp.ESME_RINVBNDSTS


def test_before_bind_and_unknown_commands(agent, esme):
    c = esme(None)
    assert c.submit("13800138000", "hi").status == smpp.ESME_RINVBNDSTS
    c.send_raw(struct.pack(">IIII", 16, 0x00000099, 0, 41))
    resp = c.response(41)
    assert (resp.command_id, resp.status) == (smpp.GENERIC_NACK, smpp.ESME_RINVCMDID)
    assert c.call(smpp.ENQUIRE_LINK).status == 0


def test_a_length_lie_gets_generic_nack_and_a_close(agent, esme):
    c = esme()
    c.send_raw(struct.pack(">IIII", 9, smpp.SUBMIT_SM, 0, 5))
    pdu = c.read(5)
    assert pdu is not None and (pdu.command_id, pdu.status) == (smpp.GENERIC_NACK, smpp.ESME_RINVCMDLEN)
    assert c.read(5) is None


def test_received_messages_reach_a_receiver(agent, esme):
    rx = esme(smpp.BIND_RECEIVER)
    agent.stack.sim[0].deliver("+8613900000000", "Reply 你好")
    [mo] = rx.deliveries(1)
    assert mo.fields["esm_class"] & 0x04 == 0
    assert (mo.fields["source_addr"], mo.fields["source_addr_ton"]) == ("8613900000000", 1)
    assert smpp.decode_text(mo.fields["data_coding"], mo.fields["short_message"])[0] == "Reply 你好"
    long_text = "L" * 400
    agent.stack.sim[0].deliver("+8613900000000", long_text)
    [mo] = rx.deliveries(1)
    assert mo.fields["short_message"] == b""
    assert smpp.decode_text(mo.fields["data_coding"], mo.tlvs[smpp.MESSAGE_PAYLOAD])[0] == long_text


def test_long_mo_in_udh_parts_when_the_bind_asks(agent, esme):
    rx = esme(smpp.BIND_RECEIVER, system_type="UDH")
    long_text = "M" * 400
    agent.stack.sim[0].deliver("+8613900000000", long_text)
    parts = rx.deliveries(3)
    joined = b""
    for p in parts:
        assert p.fields["esm_class"] & 0x40
        udh, body = smpp.split_udh(p.fields["short_message"])
        joined += body
    assert joined.decode() == long_text


def test_receipts_wait_for_a_receiver_and_are_deleted_only_on_status_0(agent, esme, monkeypatch):
    from agent.doors import feed
    monkeypatch.setattr(feed, "RETRY_SECONDS", 0.5)  # the backoff after a refusal (5 s in the agent)
    tx = esme(smpp.BIND_TRANSMITTER)
    task = tx.submit("13800138005", "wait for me", registered_delivery=1).fields["message_id"]
    wait_until(lambda: agent.outbox("smpp") >= 1, 10, "the receipt in the outbox")
    rx = esme(smpp.BIND_RECEIVER)
    [refused] = rx.deliveries(1, status=smpp.ESME_RX_T_APPN)
    assert refused.tlv_str(smpp.RECEIPTED_MESSAGE_ID) == task
    assert agent.outbox("smpp") == 1  # kept
    [dlr] = rx.deliveries(1, timeout=15)  # again after the backoff
    assert dlr.tlv_str(smpp.RECEIPTED_MESSAGE_ID) == task
    wait_until(lambda: agent.outbox("smpp") == 0, 5, "deleted on status 0")


def test_a_receipt_unanswered_when_the_session_drops_comes_again(agent, esme):
    tx = esme()
    task = tx.submit("13800138006", "again", registered_delivery=1).fields["message_id"]
    [first] = tx.deliveries(1, answer=False)
    tx.close()
    rx = esme(smpp.BIND_RECEIVER)
    [dlr] = rx.deliveries(1)
    assert dlr.tlv_str(smpp.RECEIPTED_MESSAGE_ID) == first.tlv_str(smpp.RECEIPTED_MESSAGE_ID) == task


def test_no_receipt_when_none_was_asked_for(agent, esme):
    c = esme()
    c.submit("13800138007", "quiet")
    wait_until(lambda: any(m.text == "quiet" for m in agent.sent()), 10, "sent")
    agent.stack.sim[0].deliver("+8613900000001", "marker")
    [mo] = c.deliveries(1)  # the MO that came after the report, and nothing before it
    assert mo.fields["esm_class"] == 0


def test_enquire_link_from_the_agent_and_inactivity(make_agent):
    agent = make_agent(smpp="enquire_link = 0.3\ninactivity_timeout = 1.5")
    c = SmppClient(agent.smpp)
    assert c.bind().status == 0
    pdu = c.read(5)
    assert pdu is not None and pdu.command_id == smpp.ENQUIRE_LINK
    c.send(smpp.ENQUIRE_LINK_RESP, sequence=pdu.sequence)
    while True:  # silence from the client now: closed after inactivity_timeout
        pdu = c.read(10)
        if pdu is None:
            break
        assert pdu.command_id == smpp.ENQUIRE_LINK


def test_a_connection_that_does_not_bind_is_closed(make_agent):
    agent = make_agent(smpp="bind_timeout = 0.5")
    c = SmppClient(agent.smpp)
    assert c.read(5) is None


def test_stop_unbinds_bound_sessions(make_agent):
    agent = make_agent()
    c = SmppClient(agent.smpp)
    assert c.bind().status == 0
    stopper = threading.Thread(target=agent.stack.stop)
    stopper.start()
    pdu = c.read(10)
    assert pdu is not None and pdu.command_id == smpp.UNBIND
    c.send(smpp.UNBIND_RESP, sequence=pdu.sequence)
    stopper.join(15)
    assert not stopper.is_alive()


def test_max_sessions(make_agent):
    agent = make_agent(smpp="max_sessions = 2")
    first, second = SmppClient(agent.smpp), SmppClient(agent.smpp)
    assert first.bind().status == 0 and second.bind().status == 0
    extra = SmppClient(agent.smpp)
    assert extra.read(5) is None  # closed at once
    assert first.call(smpp.ENQUIRE_LINK).status == 0
    for c in (first, second, extra):
        c.close()


def test_other_dialects_events_are_skipped_however_many(agent, esme):
    from agent.model import NewMessage
    ids = agent.stack.send(*(NewMessage(f"1390000{n:04d}", "from another dialect") for n in range(250)), task=True)
    wait_until(lambda: agent.core.queue_depths().get("S", 0) >= len(ids), 30, "the other dialect's messages sent")
    c = esme()
    task = c.submit("13800138099", "mine", registered_delivery=1).fields["message_id"]
    [dlr] = c.deliveries(1, timeout=20)
    assert dlr.tlv_str(smpp.RECEIPTED_MESSAGE_ID) == task
    wait_until(lambda: agent.outbox("smpp") == 0, 10, "the others' events deleted, not delivered")


def test_metrics_count_the_doors_submits_and_sessions(agent, esme):
    import urllib.request
    c = esme()
    assert c.submit("13800138000", "counted").status == 0
    assert c.submit("", "refused").status == smpp.ESME_RINVDSTADR
    with urllib.request.urlopen(agent.stack.app.http.url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    assert 'sms_agent_door_submits_total{door="smpp",status="0"} 1.0' in text
    assert 'sms_agent_door_submits_total{door="smpp",status="0xB"} 1.0' in text
    assert 'sms_agent_door_sessions{door="smpp"} 1.0' in text
    assert 'sms_agent_door_accept_duration_seconds_count{door="smpp"} 2.0' in text


def test_data_sm_with_message_payload(agent, esme):
    c = esme()
    text = "data_sm payload, 中文"
    resp = c.call(smpp.DATA_SM, fields={"source_addr": "1234", "destination_addr": "13800138050", "data_coding": 8,
                                        "registered_delivery": 1},
                  tlvs=[(smpp.MESSAGE_PAYLOAD, text.encode("utf-16-be"))])
    assert (resp.command_id, resp.status) == (smpp.DATA_SM_RESP, 0)
    [row] = agent.core.messages_by_task(int(resp.fields["message_id"]))
    assert (row["recipient"], row["text"], row["status_report"]) == ("13800138050", text, 1)


def test_repeated_wrong_binds_from_one_address_are_answered_late(agent, caplog):
    import logging
    import time as _time
    caplog.set_level(logging.WARNING, logger="agent.doors")
    took = []
    for _ in range(4):
        c = SmppClient(agent.smpp)
        started = _time.monotonic()
        assert c.bind(password="guess").status == smpp.ESME_RBINDFAIL
        took.append(_time.monotonic() - started)
        c.close()
    assert max(took[:2]) < 0.5 and min(took[2:]) >= 0.9, took
    assert len([r for r in caplog.records if "login refused" in r.getMessage()]) == 1  # logged once
    good = SmppClient(agent.smpp)
    started = _time.monotonic()
    assert good.bind().status == 0 and _time.monotonic() - started < 0.5  # the right password is never held up
    good.close()


@pytest.mark.parametrize("command_id", [smpp.OUTBIND, smpp.ALERT_NOTIFICATION])
def test_an_unreadable_pdu_of_a_command_without_a_response_gets_generic_nack(agent, esme, command_id):
    """outbind and alert_notification have no _resp: their refusal is a generic_nack, and the
    door goes on (it used to raise EncodeError in the listener's thread: the door was gone)."""
    c = esme()
    c.send_raw(struct.pack(">IIII", 19, command_id, 0, 61) + b"\x00\x00\x00")  # 3 octets: no TLV header
    resp = c.response(61)
    assert resp.command_id == smpp.GENERIC_NACK and resp.status != 0
    assert c.call(smpp.ENQUIRE_LINK).status == 0
    assert agent.doors["smpp"].alive
    other = esme()
    assert other.submit("13800138000", "still served").status == 0


@pytest.mark.parametrize("message_id", ["98\u00b2940", "\u00b9", "1.\u00b3", "9" * 40, "1." + "9" * 30, "-1",
                                        " ", "1.2.3"])
def test_query_sm_of_an_id_that_is_not_ours_fails_and_the_door_goes_on(agent, esme, message_id):
    """Digits other than ASCII ones (the Latin-1 superscripts) passed str.isdigit and
    then int() raised in the listener's thread; ids too big for SQLite would overflow."""
    c = esme()
    resp = c.call(smpp.QUERY_SM, fields={"message_id": message_id, "source_addr": "1"})
    assert (resp.command_id, resp.status) == (smpp.QUERY_SM_RESP, smpp.ESME_RQUERYFAIL)
    assert agent.doors["smpp"].alive
    assert c.call(smpp.ENQUIRE_LINK).status == 0


def test_a_failing_session_is_closed_and_the_door_goes_on(agent, esme, monkeypatch, caplog):
    from agent.doors.smpp import SmppSession

    def broken(self, pdu, now):
        raise RuntimeError("a bug found by this input")

    monkeypatch.setattr(SmppSession, "_query", broken)
    victim = esme()
    victim.send(smpp.QUERY_SM, fields={"message_id": "1", "source_addr": "1"})
    assert victim.read(5) is None  # that session is closed
    assert any("a bug found by this input" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    other = esme()
    assert other.submit("13800138000", "still served").status == 0
    assert agent.doors["smpp"].alive and agent.doors["smpp"].listener.session_failures == 1


def test_data_coding_0_is_gsm_by_default_and_latin1_when_configured(make_agent):
    gsm = make_agent(db="gsm.db")
    c = SmppClient(gsm.smpp)
    assert c.bind().status == 0
    resp = c.submit("13800138060", b"user\x00example \x02 5")  # GSM: '@' is 0x00, '$' is 0x02
    assert agent_text(gsm, resp) == "user@example $ 5"
    assert c.submit("13800138060", "Caf\xe9".encode("latin-1")).status == smpp.ESME_RINVDCS
    c.close()
    latin = make_agent(smpp="default_alphabet = latin1", db="latin.db")
    c = SmppClient(latin.smpp)
    assert c.bind().status == 0
    resp = c.submit("13800138061", "Café user@example $5".encode("latin-1"))
    assert agent_text(latin, resp) == "Café user@example $5"
    latin.stack.sim[0].deliver("+8613900000000", "Grüße @ $")
    [mo] = c.deliveries(1)
    assert (mo.fields["data_coding"], mo.fields["short_message"]) == (0, "Grüße @ $".encode("latin-1"))
    c.close()


def agent_text(agent, resp) -> str:
    assert resp.status == 0, hex(resp.status)
    [row] = agent.core.messages_by_task(int(resp.fields["message_id"]))
    return row["text"]


def test_with_no_receiver_bound_only_the_doors_own_events_stay_in_its_outbox(make_agent, monkeypatch):
    from agent.doors import door
    from agent.model import NewMessage
    monkeypatch.setattr(door, "SWEEP_SECONDS", 0.2)
    agent = make_agent()
    tx = SmppClient(agent.smpp)
    assert tx.bind(smpp.BIND_TRANSMITTER).status == 0
    mine = tx.submit("13800138070", "mine", registered_delivery=1).fields["message_id"]
    ids = agent.stack.send(*(NewMessage(f"1390001{n:04d}", "another dialect's") for n in range(30)), task=True)
    wait_until(lambda: agent.core.queue_depths().get("S", 0) >= len(ids) + 1, 20, "all sent")
    wait_until(lambda: agent.outbox("smpp") == 1, 10, lambda: f"{agent.outbox('smpp')} items left, not 1")
    rx = SmppClient(agent.smpp)
    assert rx.bind(smpp.BIND_RECEIVER).status == 0
    [dlr] = rx.deliveries(1)
    assert dlr.tlv_str(smpp.RECEIPTED_MESSAGE_ID) == mine
    wait_until(lambda: agent.outbox("smpp") == 0, 5, "delivered and deleted")
    tx.close()
    rx.close()


def test_an_event_that_cannot_be_made_a_pdu_is_given_up_not_retried_forever(agent, esme, monkeypatch):
    from agent.doors.smpp import SmppSession
    real = SmppSession._deliver_pdus

    def poisoned(self, note):
        if getattr(note, "text", "") == "poison":
            raise ValueError("cannot be encoded")
        return real(self, note)

    monkeypatch.setattr(SmppSession, "_deliver_pdus", poisoned)
    rx = esme(smpp.BIND_RECEIVER)
    agent.stack.sim[0].deliver("+8613900000000", "poison")
    agent.stack.sim[0].deliver("+8613900000000", "fine")
    [mo] = rx.deliveries(1)
    assert mo.fields["short_message"] == b"fine"
    assert agent.core.outbox_stats()["smpp"]["dropped"] == 1
    assert rx.call(smpp.ENQUIRE_LINK).status == 0  # the same session goes on


def test_odd_originators_still_make_valid_pdus(agent, esme):
    rx = esme(smpp.BIND_RECEIVER)
    agent.stack.sim[0].deliver("12345678901234567890", "twenty digits")
    [mo] = rx.deliveries(1)
    assert mo.fields["source_addr"] == "12345678901234567890"
