"""The binary doors across a restart of the agent on the same database file: receipts
that waited for a client, a client-split message whose parts straddle the restart,
message ids that stay followable, and a second agent that may not start beside the
first."""

from __future__ import annotations

import json
import urllib.request

import pytest

from agent.app import StartError
from agent.codec import cmpp, smpp
from agent.doors import feed as feed_module
from agent.doors.ids import cmpp_task, smpp_id, smpp_task

from ..waiting import wait_until
from .clients import CmppClient, SmppClient


def _bound(address, kind=smpp.BIND_TRANSCEIVER) -> SmppClient:
    c = SmppClient(address)
    assert c.bind(kind).status == 0
    return c


def _restart(agent, make_agent):
    """Stop ``agent`` (its clients are closed already) and start a new App on its database file."""
    agent.stack.stop()
    return make_agent()


def _receipt_waits(agent, door: str) -> bool:
    """The modem's delivery report reached the outbox of ``door`` (beside, perhaps, the send's result)."""
    return ("receipt",) in agent.stack.sql("SELECT kind FROM outbox WHERE destination = ?", (door,))


def _querysms(agent, task: int) -> list[dict]:
    port = agent.stack.app.http.port
    body = json.dumps({"taskID": str(task)}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/goip/querysms/", body,
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as reply:
        return json.loads(reply.read())


def test_an_smpp_receipt_waits_across_a_restart(make_agent):
    agent = make_agent()
    tx = _bound(agent.smpp, smpp.BIND_TRANSMITTER)
    task = tx.submit("13800138100", "receipt after restart", registered_delivery=1).fields["message_id"]
    wait_until(lambda: _receipt_waits(agent, "smpp"), 10, "the receipt waiting in the outbox")
    tx.close()
    agent = _restart(agent, make_agent)
    assert _receipt_waits(agent, "smpp")
    rx = _bound(agent.smpp, smpp.BIND_RECEIVER)
    [dlr] = rx.deliveries(1)
    assert dlr.fields["esm_class"] == 0x04
    assert dlr.tlv_str(smpp.RECEIPTED_MESSAGE_ID) == task
    assert smpp.parse_receipt(dlr.fields["short_message"].decode())["stat"] == "DELIVRD"
    wait_until(lambda: agent.outbox("smpp") == 0, 5, "the receipt deleted once answered")
    rx.close()


def test_a_cmpp_report_waits_across_a_restart(make_agent):
    agent = make_agent()
    c = CmppClient(agent.cmpp, cmpp.V3)
    assert c.connect()[0] == 0
    msg_id, result = c.submit(["13800138101"], b"report after restart", msg_fmt=0, registered_delivery=1)
    assert result == 0
    # The client stays connected: the report goes to it.  Close it first, then make the report.
    c.close()
    wait_until(lambda: _receipt_waits(agent, "cmpp"), 10, "the report waiting in the outbox")
    agent = _restart(agent, make_agent)
    assert _receipt_waits(agent, "cmpp")
    c = CmppClient(agent.cmpp, cmpp.V3)
    assert c.connect()[0] == 0
    [report] = c.delivers(1)
    assert report["registered_delivery"] == 1
    assert (report["report"]["msg_id"], report["report"]["stat"]) == (msg_id, "DELIVRD")
    wait_until(lambda: agent.outbox("cmpp") == 0, 5, "the report deleted once answered")
    c.close()


def test_a_receipt_refused_before_a_restart_is_delivered_after_it(make_agent, monkeypatch):
    """The item's retry time is in the database; the new agent's feed must look again when it is due."""
    monkeypatch.setattr(feed_module, "RETRY_SECONDS", 1.0)
    agent = make_agent()
    tx = _bound(agent.smpp)
    task = tx.submit("13800138102", "refused then restart", registered_delivery=1).fields["message_id"]
    [refused] = tx.deliveries(1, status=smpp.ESME_RX_T_APPN)
    wait_until(lambda: agent.stack.sql("SELECT attempts FROM outbox WHERE destination = 'smpp'") == [(1,)], 5,
               "the refusal recorded")
    tx.close()
    agent = _restart(agent, make_agent)
    rx = _bound(agent.smpp, smpp.BIND_RECEIVER)
    [dlr] = rx.deliveries(1, timeout=10)
    assert dlr.tlv_str(smpp.RECEIPTED_MESSAGE_ID) == refused.tlv_str(smpp.RECEIPTED_MESSAGE_ID) == task
    wait_until(lambda: agent.outbox("smpp") == 0, 5, "deleted once answered")
    rx.close()


def test_parts_before_and_after_a_restart_make_one_message(make_agent):
    agent = make_agent()
    c = _bound(agent.smpp)
    chunks = ["first part ", "second part ", "third part"]
    ids = []
    for seq, chunk in enumerate(chunks[:2], start=1):
        udh = smpp.udh_bytes(smpp.Udh(201, 3, seq, 8))
        resp = c.submit("13800138103", udh + chunk.encode(), esm_class=0x40)
        assert resp.status == 0
        ids.append(resp.fields["message_id"])
    c.close()
    task = smpp_task(ids[0])[0]
    assert agent.core.messages_by_task(task) == []  # nothing queued before the last part
    agent = _restart(agent, make_agent)
    c = _bound(agent.smpp)
    again = c.submit("13800138103", smpp.udh_bytes(smpp.Udh(201, 3, 2, 8)) + chunks[1].encode(), esm_class=0x40)
    assert again.fields["message_id"] == ids[1]  # retransmitted across the restart: the same id
    udh = smpp.udh_bytes(smpp.Udh(201, 3, 3, 8))
    last = c.submit("13800138103", udh + chunks[2].encode(), esm_class=0x40)
    assert last.status == 0
    ids.append(last.fields["message_id"])
    assert ids == [smpp_id(task, 1), smpp_id(task, 2), smpp_id(task, 3)]
    whole = "".join(chunks)
    [row] = agent.core.messages_by_task(task)
    assert (row["recipient"], row["text"]) == ("13800138103", whole)
    assert agent.core.door_task(task).parts == (1, 2, 3)
    wait_until(lambda: any(m.text == whole for m in agent.sent()), 10, "the whole text sent")
    assert [m.text for m in agent.sent() if m.recipient.endswith("13800138103")] == [whole]
    c.close()


def test_ids_stay_followable_across_a_restart(make_agent):
    agent = make_agent()
    c = _bound(agent.smpp)
    message_id = c.submit("13800138104", "follow me", registered_delivery=1).fields["message_id"]
    task = int(message_id)
    [row] = agent.core.messages_by_task(task)
    assert row["text"] == "follow me"
    [status] = _querysms(agent, task)
    assert status["taskID"] == f"{task}.13800138104"
    [dlr] = c.deliveries(1)
    assert dlr.tlv_str(smpp.RECEIPTED_MESSAGE_ID) == message_id
    before = c.call(smpp.QUERY_SM, fields={"message_id": message_id, "source_addr": "1234"})
    assert (before.status, before.fields["message_id"], before.fields["message_state"]) == (0, message_id, 2)
    c.close()
    agent = _restart(agent, make_agent)
    c = _bound(agent.smpp)
    after = c.call(smpp.QUERY_SM, fields={"message_id": message_id, "source_addr": "1234"})
    assert after.command_id == smpp.QUERY_SM_RESP
    assert (after.status, after.fields["message_id"], after.fields["message_state"]) == (0, message_id, 2)
    assert after.fields["final_date"] == before.fields["final_date"]
    assert [s["taskID"] for s in _querysms(agent, task)] == [f"{task}.13800138104"]
    unknown = c.call(smpp.QUERY_SM, fields={"message_id": str(task + 1000), "source_addr": "1234"})
    assert unknown.status == smpp.ESME_RQUERYFAIL
    # A CMPP Msg_Id leads to its task after the restart too, and the ids keep counting up.
    k = CmppClient(agent.cmpp)
    assert k.connect()[0] == 0
    msg_id, result = k.submit(["13800138105"], b"after", msg_fmt=0)
    assert result == 0 and cmpp_task(msg_id)[0] > task
    assert agent.core.messages_by_task(cmpp_task(msg_id)[0])[0]["text"] == "after"
    c.close()
    k.close()


def test_a_second_agent_on_the_same_database_does_not_start(make_agent):
    first = make_agent()
    with pytest.raises(StartError) as refused:
        make_agent()
    assert "doors.db" in str(refused.value) or "lock" in str(refused.value).lower()
    c = _bound(first.smpp)
    resp = c.submit("13800138106", "still here")
    assert resp.status == 0
    k = CmppClient(first.cmpp)
    assert k.connect()[0] == 0
    assert k.submit(["13800138107"], b"still here too", msg_fmt=0)[1] == 0
    wait_until(lambda: {"still here", "still here too"} <= {m.text for m in first.sent()}, 10, "both sent")
    c.close()
    k.close()
