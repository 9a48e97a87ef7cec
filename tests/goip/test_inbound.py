"""What a GoIP box pushes: received SMS (RECEIVE) and calls (RECORD...), each stored once
however often the box resends it and however the network duplicates it."""

from __future__ import annotations

import threading

from agent.codec.parts import split

from ..waiting import wait_until

LONG_GSM = "Meeting moved: room 4; bring the keys: A;B;C. " * 8  # 3 parts of GSM-7
LONG_CHINESE = "会议改到四楼；请带钥匙：甲;乙:丙。" * 9  # 3 parts of UCS2, ';' and ':' of both widths
SHORT = "ok:yes;no"


def _settled(box, channel: str) -> bool:
    """Every event of ``channel`` acknowledged, or given up by the box."""
    return all(e.acked or e.gave_up for e in box.view(channel).events)


def test_mos_long_chinese_and_with_separators_are_stored_once_despite_loss_and_duplication(make_rig):
    rig = make_rig(2, box={"retransmit": 0.1, "retries": 8, "seed": 5})
    box = rig.box
    box.loss(0.2, 0.2)  # events and their acks are lost: the box sends again
    box.dup(0.2, 0.2)  # and some arrive twice
    texts = [LONG_GSM, LONG_CHINESE, SHORT]
    for i, text in enumerate(texts):
        box.receive("goip02", f"+86139000000{i}", text)
    # A datagram's trailing blanks are framing to every GoIP reader (agent.codec.goip_udp): a part
    # that ends in a space arrives without it.
    parts = [(f"+86139000000{i}", part.rstrip(" ")) for i, text in enumerate(texts)
             for part in split(text, max_parts=255)]
    assert len(parts) == 7
    wait_until(lambda: _settled(box, "goip02"), 15, "every RECEIVE acked")
    box.loss(0.0, 0.0)
    box.dup(0.0, 0.0)
    resent = sum(e.sends - 1 for e in box.view("goip02").events)
    assert resent > 0 and box.faults["duplicated_out"] > 0  # the agent saw repeats

    rows = rig.sql("SELECT originator, text, gateway_id, line FROM smsserver_in WHERE type = 'I' ORDER BY id")
    # The box does not reassemble: every part is a message of its own, stored once (in the order they came).
    assert sorted((r[0], r[1]) for r in rows) == sorted(parts)
    assert {(r[2], r[3]) for r in rows} == {("ch2", "ch2")}
    assert any(r[1] == LONG_CHINESE[:67] for r in rows) and ("+861390000002", SHORT) in [r[:2] for r in rows]
    # The pull dialects see each once as well.
    assert sorted(m["text"] for m in rig.core.read_inbox("jindi-test")) == sorted(p for _, p in parts)


def test_a_call_is_recorded_once(make_rig):
    rig = make_rig(2, box={"retransmit": 0.1, "retries": 8, "seed": 3})
    box = rig.box
    box.dup(0.3, 0.3)
    box.loss(0.2, 0.2)
    box.call("goip01", "13800138000")
    wait_until(lambda: _settled(box, "goip01"), 15, "every call event acked")
    verbs = [e.verb for e in box.view("goip01").events]
    assert verbs == ["STATE", "RECORD", "HANGUP", "STATE", "REMAIN"]
    assert rig.sql("SELECT gateway_id, caller_id FROM smsserver_calls") == [("ch1", "13800138000")]


def test_an_event_the_store_cannot_take_is_not_acked_and_is_stored_when_resent(make_rig, monkeypatch):
    rig = make_rig(2, box={"retransmit": 0.1})
    box = rig.box
    sink = rig.app.events
    calls, sms = sink.on_call, sink.on_sms
    failed = {"call": threading.Event(), "sms": threading.Event()}

    def once(kind, real):
        def fail_first(item):
            if not failed[kind].is_set():
                failed[kind].set()
                raise OSError("disk full")
            real(item)
        return fail_first

    monkeypatch.setattr(sink, "on_call", once("call", calls))
    monkeypatch.setattr(sink, "on_sms", once("sms", sms))
    box.call("goip01", "13800138001")
    box.receive("goip01", "13800138002", "stored the second time")
    wait_until(lambda: _settled(box, "goip01"), 10, "acked")
    assert failed["call"].is_set() and failed["sms"].is_set()
    events = {e.verb: e for e in box.view("goip01").events}
    assert events["RECORD"].sends >= 2 and events["RECEIVE"].sends >= 2  # not acked the first time
    assert events["RECORD"].acked and events["RECEIVE"].acked
    assert rig.sql("SELECT caller_id FROM smsserver_calls") == [("13800138001",)]
    assert rig.sql("SELECT text FROM smsserver_in WHERE type = 'I'") == [("stored the second time",)]
