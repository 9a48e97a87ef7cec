"""Delivery receipts from a GoIP box: its DELIVER names the ``sms_no`` of the ``OK`` that
answered the SEND; the agent makes it the message's receipt, told once, in every dialect."""

from __future__ import annotations

import threading

from agent.model import NewMessage

from ..waiting import wait_until


def test_deliver_is_the_receipt_in_goip_json_and_jindi_rows(make_rig):
    rig = make_rig(2, box={"report_delay": 0.0})
    reply = rig.post_json("/goip/sendsms/", {"number": "13800138001,13800138002", "content": "收据 receipt;a:b"})
    task = reply["taskID"]
    wait_until(lambda: [r.get("receipt") for r in rig.post_json("/goip/querysms/", {"taskID": task})] == ["1", "1"],
               10, lambda: f"receipts: {rig.post_json('/goip/querysms/', {'taskID': task})}")
    rows = rig.sql("SELECT id, ref_no, line, delivery FROM smsserver_out ORDER BY id")
    assert [r[3] for r in rows] == ["delivered", "delivered"]
    for msg_id, ref_no, line, _ in rows:
        reports = rig.sql("SELECT original_ref_no, text, line, report_status FROM smsserver_in"
                          " WHERE type = 'S' AND message_id = ?", (msg_id,))
        assert reports == [(ref_no, "delivered", line, 0)]
    assert rig.sql("SELECT COUNT(*) FROM smsserver_in WHERE type = 'S' AND message_id IS NULL") == [(0,)]
    # One receipt each in the journal every pull dialect reads.
    receipts = [item.payload["message_id"] for item in rig.core.read_journal("t", ("receipt",))]
    assert sorted(receipts) == [r[0] for r in rows]


def test_a_failed_deliver_fails_the_delivery(rig):
    [msg_id] = rig.core.submit([NewMessage("13800138003", "not delivered", gateway="ch1")], source="test").ids
    [row] = rig.wait_rows([msg_id], lambda r: r["status"] == "S")
    rig.box.deliver("goip01", int(row["ref_no"]), state=0x41, number="13800138003")
    [row] = rig.wait_rows([msg_id], lambda r: r["delivery"] == "failed")
    assert rig.sql("SELECT report_status FROM smsserver_in WHERE type = 'S' AND message_id = ?",
                   (msg_id,)) == [(0x41,)]


def test_a_deliver_that_overtakes_a_lost_ok_still_finds_its_message(make_rig):
    # The box pushes OK and then DELIVER at once; the OK is lost, the DELIVER (resent every 0.1 s)
    # comes before the agent asks for the outcome again (every second here).
    rig = make_rig(1, box={"report_delay": 0.0, "send_delay": 0.3, "retransmit": 0.1},
                   goip_udp={"reply_timeout": "1"})
    box = rig.box
    channel = box.channel("goip01")
    handle = channel.handle
    ok_lost = threading.Event()

    def lose_the_ok(data: bytes, addr: tuple[str, int]) -> None:  # on the box's thread, its lock held
        if data.startswith(b"SEND ") and not ok_lost.is_set():
            handle(data, addr)  # WAIT goes out; from now on nothing leaves until the send is done
            box.loss(0.0, 1.0)
            ok_lost.set()
            return
        handle(data, addr)

    channel.handle = lose_the_ok
    [msg_id] = rig.core.submit([NewMessage("13800138004", "report first", gateway="ch1")], source="test").ids
    wait_until(lambda: box.ledger, 5, "sent by the box")
    box.loss(0.0, 0.0)  # the OK was lost; the DELIVER's next resend gets through
    channel.handle = handle
    [row] = rig.wait_rows([msg_id], lambda r: r["status"] == "S" and r["delivery"] == "delivered", timeout=10)
    assert row["ref_no"] == str(box.ledger[0].sms_no)
    assert rig.sql("SELECT COUNT(*) FROM smsserver_in WHERE type = 'S' AND message_id IS NULL") == [(0,)]
