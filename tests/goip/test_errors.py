"""Every way a GoIP box can refuse or fail a send, through the agent: temporary and permanent
``errorstatus``, ``GSM_LOGOUT``, too many sessions, and a box that goes silent after a SEND."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from agent.model import NewMessage

from ..waiting import wait_until


@pytest.mark.parametrize("status", [1, 38, 500])
def test_a_temporary_errorstatus_is_retried_and_sent_later(make_rig, status):
    rig = make_rig(2)
    rig.box.fail_next("goip01", status)
    msg = NewMessage("13800138001", f"retried after errorstatus {status}", gateway="ch1")
    [msg_id] = rig.core.submit([msg], source="test").ids
    [row] = rig.wait_rows([msg_id], lambda r: r["status"] == "S")
    assert (row["line"], row["errors"], row["in_doubt"], row["error_code"]) == ("ch1", 1, 0, None)
    assert rig.sent() == Counter({(msg.recipient, msg.text): 1})


@pytest.mark.parametrize("status, cause", [(21, "BAD_NUMBER"), (96, "BAD_NUMBER"), (304, "BAD_FORMAT")])
def test_a_permanent_errorstatus_fails_the_message_with_its_code(make_rig, status, cause):
    rig = make_rig(2)
    rig.box.fail_next("goip02", status)
    [msg_id] = rig.core.submit([NewMessage("13800138002", "refused by the network", gateway="ch2")],
                               source="test").ids
    [row] = rig.wait_rows([msg_id], lambda r: r["status"] in ("S", "F"))
    assert (row["status"], row["line"], row["error_code"], row["failure_cause"]) == ("F", "ch2", status, cause)
    assert (row["errors"], row["in_doubt"]) == (0, 0)
    assert not rig.box.ledger
    # The line is not harmed: the next message goes out.
    [ok] = rig.core.submit([NewMessage("13800138003", "next one", gateway="ch2")], source="test").ids
    rig.wait_rows([ok], lambda r: r["status"] == "S")


def test_gsm_logout_answer_to_send_is_not_a_send_and_the_line_waits(make_rig):
    # Keepalives every second: the box's LOGOUT keepalive is lost, so the agent learns it from SEND.
    rig = make_rig(2, box={"keepalive": 1.0}, goip_udp={"offline_after": "3"})
    box = rig.box
    box.loss(0.0, 1.0)
    box.logout("goip01")
    box.loss(0.0, 0.0)
    msg = NewMessage("13800138004", "after the network is back", gateway="ch1")
    [msg_id] = rig.core.submit([msg], source="test").ids
    wait_until(lambda: rig.row(msg_id)["errors"] == 1, 5, lambda: f"refused once: {rig.row(msg_id)}")
    row = rig.row(msg_id)
    assert row["status"] in ("U", "Q") and not row["in_doubt"]
    wait_until(lambda: not rig.state("ch1").registered, 3, "ch1 not registered")
    assert not box.ledger
    box.login("goip01")
    [row] = rig.wait_rows([msg_id], lambda r: r["status"] == "S")
    assert (row["line"], row["errors"], row["in_doubt"]) == ("ch1", 1, 0)
    assert rig.sent() == Counter({(msg.recipient, msg.text): 1})


def test_too_many_sessions_is_retried_until_a_session_is_free(make_rig):
    # A refused message waits retry_backoff before its next try, as in production (there 30 s).
    rig = make_rig(4, box={"max_sessions": 1, "sessions_per": "box", "send_delay": 0.05},
                   queue={"max_retries": "100", "retry_backoff": "0.05", "retry_backoff_max": "0.1"})
    msgs = [NewMessage(f"1380013{i:04d}", f"one session at a time {i}") for i in range(12)]
    ids = rig.core.submit(msgs, source="test").ids
    rows = rig.wait_rows(ids, lambda r: r["status"] == "S", timeout=30)
    assert rig.sent() == Counter({(m.recipient, m.text): 1 for m in msgs})
    assert sum(r["errors"] for r in rows) > 0  # the box said too_many_sends_in_server to some
    assert not any(r["in_doubt"] for r in rows)


def test_a_box_silent_after_send_leaves_the_message_in_doubt_and_flagged(make_rig, caplog):
    rig = make_rig(2, box={"send_delay": 0.3}, goip_udp={"wait_timeout": "1"}, queue={"max_retries": "10"})
    box = rig.box
    channel = box.channel("goip01")
    handle = channel.handle

    def silent_after_send(data: bytes, addr: tuple[str, int]) -> None:  # on the box's thread, its lock held
        handle(data, addr)  # the WAIT goes out, then nothing more: no OK, no answer to a repeated SEND
        if data.startswith(b"SEND "):
            channel.silent = True

    channel.handle = silent_after_send
    msg = NewMessage("13800138005", "the box never says", gateway="ch1")
    caplog.set_level(logging.WARNING, logger="agent.goip")
    [msg_id] = rig.core.submit([msg], source="test").ids
    wait_until(lambda: rig.row(msg_id)["in_doubt"], 10, lambda: f"in doubt: {rig.row(msg_id)}")
    assert rig.sent() == Counter({(msg.recipient, msg.text): 1})  # the box did send it
    assert any("in doubt" in r.getMessage() and f"message {msg_id}" in r.getMessage() for r in caplog.records)

    channel.handle = handle
    box.silent("goip01", False)
    [row] = rig.wait_rows([msg_id], lambda r: r["status"] == "S")
    # Sent again (losing it would be worse), and flagged so that an operator knows it may be doubled.
    assert (row["in_doubt"], row["line"]) == (1, "ch1")
    assert rig.sent() == Counter({(msg.recipient, msg.text): 2})


def test_a_text_no_packet_can_carry_fails_and_the_line_goes_on(rig):
    # An application's SQL can queue what no HTTP dialect takes: a NUL, a lone surrogate.
    bad = [NewMessage("13800138006", "nul \x00 inside", gateway="ch1"),
           NewMessage("13800138007", "x" * 1001 + "好" * 700, gateway="ch1")]  # 3,101 UTF-8 bytes
    ids = rig.core.submit(bad, source="test").ids
    rows = rig.wait_rows(ids, lambda r: r["status"] in ("S", "F"))
    assert [r["status"] for r in rows] == ["F", "F"] and not rig.box.ledger
    [ok] = rig.core.submit([NewMessage("13800138008", "the line still sends", gateway="ch1")], source="test").ids
    rig.wait_rows([ok], lambda r: r["status"] == "S")
