"""Receipts of long messages reach every dialect, once, when the network reports at once.

The whole agent runs as a process on simulated modems whose network sends
each part's status report right after its ``+CMGS`` (``report_delay = 0``):
the report of part 1 comes while part 2 is being sent.  Messages of 2 to 10
parts sent through every dialect must each end ``delivered`` with exactly
one receipt: GoIP's ``receipt: "1"`` (pushed and in ``querysms``), SOMP
``/mo``'s ``DELIVRD``, httpInterface ``queryReport``, the HttpBatchSendSM
report push, and Jindi's report rows joined to the message's ``ref_no``.

The same runs on a simulated GoIP box (``[simulator] kind = goip``): the box
splits a long message itself and answers one ``OK <sms_no>`` for it, then
sends one ``DELIVER`` for that ``sms_no``, so a message there has one
reference and one report row whatever its length.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .agent_process import running_agent
from .receiver import Receiver
from .waiting import wait_until

USER, PW, VERY = "admin", "pw", "vc-9"
HI = "/service/httpService/httpInterface.do"
PARTS = (2, 3, 4, 7, 10)


def text_of(parts: int, tag: str, *, ucs2: bool = False) -> str:
    """A text that needs exactly ``parts`` parts (GSM-7: 153 characters each; UCS2: 67)."""
    per, fill = (67, "收") if ucs2 else (153, "r")
    body = f"{tag} " + fill * (per * (parts - 1) + 20)
    return body[: per * (parts - 1) + 20]


class Agent:
    def __init__(self, url: str, db: Path, kind: str) -> None:
        self.url = url
        self.db = db
        self.kind = kind

    def references(self, parts: int) -> int:
        """How many references (and report rows) a message of ``parts`` parts gets."""
        return parts if self.kind == "modems" else 1

    def get(self, path: str, **query: Any) -> bytes:
        with urllib.request.urlopen(f"{self.url}{path}?{urllib.parse.urlencode(query)}", timeout=10) as resp:
            return bytes(resp.read())

    def post_json(self, path: str, obj: Any) -> Any:
        req = urllib.request.Request(f"{self.url}{path}", data=json.dumps(obj).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        con = sqlite3.connect(self.db, timeout=5)
        try:
            return con.execute(query, params).fetchall()
        finally:
            con.close()


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(params=["modems", "goip"])
def agent(request, tmp_path, hooks) -> Iterator[Agent]:
    kind = request.param
    config = ("[agent]\nid = receipts\nstate_dir = state\n[http]\nport = 0\n[queue]\npoll_interval = 0.1\n"
              f"[auth]\nusername = {USER}\npassword = {PW}\nvery_code = {VERY}\n"
              f"[goip]\nresult_url = {hooks.url}/goip\n"
              f"[batchsend]\nreport_url = {hooks.url}/report\n"
              "[push]\nbackoff = 0.1\n"
              "[goip_udp]\nlisten = 127.0.0.1:0\n"
              f"[simulator]\nkind = {kind}\nlines = 2\nsend_delay = 0.02\nreport_delay = 0\n"
              "profiles = simcom, huawei\n")
    with running_agent(tmp_path, config) as url:
        yield Agent(url, tmp_path / "state" / "sms-agent.db", kind)


def test_long_message_receipts_reach_every_dialect_once(agent, hooks):
    auth = {"username": USER, "password": PW}
    goip, somp, batch, hi, jindi = {}, {}, {}, {}, {}
    for n in PARTS:
        reply = agent.post_json("/goip/sendsms/", {"auth": auth, "number": f"1380000{n:04d}",
                                                   "content": text_of(n, f"goip{n}")})
        goip[n] = reply["taskID"]
        reply = agent.get("/mt", un=USER, pw=PW, da=f"1381000{n:04d}", sm=text_of(n, f"somp{n}").encode().hex(),
                          dc=15, rd=1).decode()
        assert reply.startswith("id="), reply
        somp[n] = reply[3:]
        reply = agent.get("/msg/HttpBatchSendSM", account=USER, pswd=PW, mobile=f"1382000{n:04d}",
                          msg=text_of(n, f"batch{n}", ucs2=True), needstatus="true").decode()
        assert reply.split()[0].endswith(",0"), reply  # at most 700 characters: UCS2 for 10 parts
        batch[n] = reply.split()[-1]
        if n <= 4:  # httpInterface takes at most 300 characters: up to 5 UCS2 parts
            doc = ET.fromstring(agent.get(HI, method="sendUtf8Msg", username=USER, password=PW, veryCode=VERY,
                                          mobile=f"1383000{n:04d}", content=text_of(n, f"hi{n}", ucs2=True),
                                          code="utf-8"))
            assert doc.findtext("mt/status") == "0", ET.tostring(doc)
            hi[n] = doc.findtext("mt/msgid")
        doc = ET.fromstring(agent.get("/send", password=PW, recipient=f"1384000{n:04d}", text=text_of(n, f"jindi{n}")))
        assert doc.findtext("error") == "0", ET.tostring(doc)
        jindi[n] = int(doc.findtext("msg_id") or 0)

    total = 4 * len(PARTS) + len(hi)
    wait_until(lambda: agent.sql("SELECT COUNT(*) FROM smsserver_out WHERE delivery = 'delivered'")[0][0] == total,
               30, lambda: f"every message delivered: "
                           f"{agent.sql('SELECT id, recipient, parts, status, delivery FROM smsserver_out')}")
    parts = dict(agent.sql("SELECT recipient, parts FROM smsserver_out"))
    assert sorted(Counter(parts.values()).items()) == [(n, 5 if n in hi else 4) for n in PARTS]

    # GoIP (its pushes carry every task, whichever dialect queued it): the result, then one receipt.
    hooks.wait(lambda hits: sum('"receipt"' in h.body.decode() for h in hits if h.path == "/goip") == total)
    pushed = [h.json() for h in hooks.delivered("/goip")]
    assert len(pushed) == 2 * total
    for task_id in {p["taskID"] for p in pushed}:
        assert [p.get("receipt") for p in pushed if p["taskID"] == task_id] == [None, "1"], task_id
    for n, task in goip.items():
        [row] = agent.post_json("/goip/querysms/", {"auth": auth, "taskID": task})
        assert (row["send"], row["receipt"]) == ("succeeded", "1")

    # SOMP /mo: a DELIVRD report for every message that asked for one (whichever dialect queued it).
    got: list[dict[str, str]] = []

    def more() -> bool:
        body = agent.get("/mo", un=USER, pw=PW).decode()
        got.extend(dict(urllib.parse.parse_qsl(line, keep_blank_values=True)) for line in body.split("\r\n") if line)
        return len([r for r in got if r["op"] == "dr"]) >= total

    wait_until(more, 15, lambda: f"SOMP reports: {got}")
    drs = [r for r in got if r["op"] == "dr"]
    assert len(drs) == total and {r["su"] for r in drs} == {"DELIVRD"}
    assert sorted(r["id"] for r in drs if r["sa"].startswith("1381")) == sorted(somp.values())

    # httpInterface queryReport: DELIVRD for its messages, once.
    reports: list[dict[str, str]] = []

    def more_hi() -> bool:
        doc = ET.fromstring(agent.get(HI, method="queryReport", username=USER, password=PW, veryCode=VERY))
        reports.extend({c.tag: c.text or "" for c in item} for item in doc.iter("rpt"))
        return len(reports) >= total

    wait_until(more_hi, 15, lambda: f"queryReport: {reports}")
    assert len(reports) == total and {r["status"] for r in reports} == {"DELIVRD"}
    assert {r["msgid"] for r in reports if r["mobile"].startswith("1383")} == set(hi.values())

    # HttpBatchSendSM: one DELIVRD push per message (of every dialect's that asked for a report).
    hooks.wait(lambda hits: sum(h.path == "/report" for h in hits) >= total)
    pushes = [dict(h.query) for h in hooks.delivered("/report")]
    assert len(pushes) == total and {p["status"] for p in pushes} == {"DELIVRD"}
    assert len({(p["msgid"], p["mobile"]) for p in pushes}) == total
    assert set(batch.values()) <= {p["msgid"] for p in pushes}

    # Jindi: every report row is joined to its message's ref_no.
    for n, msg_id in jindi.items():
        (ref_no,) = agent.sql("SELECT ref_no FROM smsserver_out WHERE id = ?", (msg_id,))[0]
        assert len(ref_no.split(",")) == agent.references(n)
        rows = agent.sql("SELECT original_ref_no, text FROM smsserver_in WHERE type = 'S' AND message_id = ?",
                         (msg_id,))
        assert rows == [(ref_no, "delivered")] * agent.references(n)
    assert agent.sql("SELECT COUNT(*) FROM smsserver_in WHERE type = 'S' AND message_id IS NULL") == [(0,)]


@pytest.mark.parametrize("send_mode", ["direct", "store"])
def test_reports_that_overtake_the_modems_answer_still_find_their_parts(tmp_path, send_mode):
    """Each part's +CDS comes before the +CMGS (or +CMSS) answer of that very part."""
    from agent.app import App
    from agent.config import parse
    from agent.sim.bank import SimBank
    from agent.model import NewMessage

    sims = SimBank(2, profile="quectel", state_dir=str(tmp_path / "sims"), send_delay=0.01)
    sims.start()
    try:
        for modem in sims:
            modem.report_before_answer()
        lines = "".join(f"[line:{m.name}]\ndevice = {m.path}\nsend_mode = {send_mode}\n" for m in sims)
        app = App(parse(f"[agent]\nid = r\nstate_dir = state\n[http]\nport = 0\n[queue]\npoll_interval = 0.05\n{lines}",
                        base_dir=tmp_path))
        app.start()
        try:
            assert app.wait_ready(20)
            ids = [app.core.submit([NewMessage(f"1390000{n:04d}", text_of(n, f"fast{n}"))], source="t").ids[0]
                   for n in range(2, 11)]
            wait_until(lambda: [app.store.message(i)["delivery"] for i in ids] == ["delivered"] * 9, 20,
                       lambda: [(app.store.message(i)["status"], app.store.message(i)["delivery"]) for i in ids])
            receipts = [item.payload["message_id"] for item in app.store.journal.read("t", ("receipt",))]
            assert sorted(receipts) == ids  # one each
            assert [app.store.message(i)["parts"] for i in ids] == list(range(2, 11))
        finally:
            app.stop()
        assert sum(len(m.references) for modem in sims for m in modem.sent) == sum(range(2, 11))
    finally:
        sims.stop()
