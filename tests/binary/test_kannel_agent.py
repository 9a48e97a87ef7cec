"""Kannel pointed at the agent's SMPP door (smsc = smpp): its sendsms goes through
the agent's queue to the simulated modems, and the agent's delivery receipts reach
Kannel's dlr-url; received SMS reach Kannel's sms-service.  Kannel is installed by
the test command (scripts/test), like mosquitto."""

from __future__ import annotations

import pytest

from agent.doors.ids import smpp_task

from ..doors.conftest import make_agent  # noqa: F401  (the fixture)
from ..receiver import Receiver
from ..waiting import wait_until
from .kannel import Kannel


@pytest.fixture
def web():
    receiver = Receiver()
    yield receiver
    receiver.close()


def _query(hit) -> dict[str, str]:
    return dict(hit.query)


def _dlrs(hits, kind: str) -> list[dict[str, str]]:
    return [_query(h) for h in hits if h.path.startswith("/dlr") and _query(h).get("type") == kind]


@pytest.mark.parametrize("mode,msg_id_type", [("transceiver", 0x00), ("transceiver", None), ("split", None)])
def test_kannel_sendsms_reaches_the_modems_and_its_dlr_url_gets_the_receipt(make_agent, tmp_path, web, mode,
                                                                           msg_id_type):
    agent = make_agent()
    host, port = agent.smpp
    with Kannel(tmp_path / "kannel", host=host, port=port, system_id="branch", password="secret12", mode=mode,
                msg_id_type=msg_id_type) as kannel:
        kannel.wait_smsc_online(15)
        status, body = kannel.sendsms("8613800138000", "Hello through Kannel",
                                      dlr_url=f"{web.url}/dlr?type=%d&id=%F&to=%p", dlr_mask=3)
        assert status == 202, body
        wait_until(lambda: any(m.text == "Hello through Kannel" for m in agent.sent()), 15, "the modem sent it")
        [row] = [r for r in agent.core.messages_by_task(1)] or [None]
        assert row is not None and row["recipient"] == "8613800138000"
        hits = web.wait(lambda h: _dlrs(h, "1"), 20)
        [dlr] = _dlrs(hits, "1")
        assert dlr["to"] == "8613800138000"
        assert smpp_task(dlr["id"]) == (1, 0)
        wait_until(lambda: agent.outbox("smpp") == 0, 10, "the receipt acknowledged by Kannel")


def test_kannel_long_and_unicode_texts(make_agent, tmp_path, web):
    agent = make_agent()
    host, port = agent.smpp
    long_text = "Kannel splits this one itself. " * 8  # 248 characters: two UDH parts
    chinese = "你好，来自 Kannel 的短信"
    with Kannel(tmp_path / "kannel", host=host, port=port, system_id="branch", password="secret12",
                msg_id_type=0x00) as kannel:
        kannel.wait_smsc_online(15)
        assert kannel.sendsms("8613800138001", long_text, dlr_url=f"{web.url}/dlr?type=%d&id=%F", dlr_mask=3)[0] == 202
        assert kannel.sendsms("+8613800138002", chinese, coding=2, charset="UTF-8",
                              dlr_url=f"{web.url}/dlr?type=%d&id=%F", dlr_mask=3)[0] == 202
        wait_until(lambda: {long_text, chinese} <= {m.text for m in agent.sent()}, 20, "both sent whole")
        assert sum(m.text == long_text for m in agent.sent()) == 1
        [chinese_row] = [r for t in (1, 2) for r in agent.core.messages_by_task(t) if r["text"] == chinese]
        assert chinese_row["recipient"] == "+8613800138002"
        web.wait(lambda h: len(_dlrs(h, "1")) >= 2, 20)


def test_received_sms_reach_kannels_sms_service(make_agent, tmp_path, web):
    agent = make_agent()
    host, port = agent.smpp
    with Kannel(tmp_path / "kannel", host=host, port=port, system_id="branch", password="secret12",
                mo_url=f"{web.url}/mo") as kannel:
        kannel.wait_smsc_online(15)
        agent.stack.sim[0].deliver("+8613900000000", "An answer through Kannel")
        hits = web.wait(lambda h: any(x.path.startswith("/mo") for x in h), 20)
        [mo] = [_query(h) for h in hits if h.path.startswith("/mo")]
        assert mo["text"] == "An answer through Kannel"
        assert mo["from"].endswith("8613900000000")
        wait_until(lambda: agent.outbox("smpp") == 0, 10, "acknowledged by Kannel")
