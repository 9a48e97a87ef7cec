"""One message's life, and one received SMS, seen from every dialect of a whole agent process.

The agent runs as ``sms-agent run`` on two simulated lines with every
dialect configured and the HttpBatchSendSM pushes pointed at a local
receiver.  A message sent through SOMP ``/mt`` (GBK hex, a report wanted, an
external id) is followed through GoIP ``querysms``, its report read from SOMP
``/mo`` and httpInterface ``queryReport`` and received as the HttpBatchSendSM
status push.  An SMS the simulated network delivers is read from SOMP
``/mo``, httpInterface ``queryMo`` and Jindi ``/read``, and pushed to the
HttpBatchSendSM MO URL; every pull returns it once.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .agent_process import running_agent
from .receiver import Receiver
from .waiting import wait_until

USER, PW, VERY = "admin", "pw", "vc-123"
HI = "/service/httpService/httpInterface.do"


class Agent:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **query: Any) -> bytes:
        with urllib.request.urlopen(f"{self.url}{path}?{urllib.parse.urlencode(query)}", timeout=10) as resp:
            assert resp.status == 200
            return bytes(resp.read())

    def post_json(self, path: str, obj: Any) -> Any:
        req = urllib.request.Request(f"{self.url}{path}", data=json.dumps(obj).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def agent(tmp_path, hooks) -> Iterator[Agent]:
    config = ("[agent]\nid = life\nstate_dir = state\ntimezone = Asia/Shanghai\n[http]\nport = 0\n"
              f"[auth]\nusername = {USER}\npassword = {PW}\nvery_code = {VERY}\n"
              f"[batchsend]\nreport_url = {hooks.url}/report\nmo_url = {hooks.url}/mo?box=7\nreceiver = branch\n"
              "[push]\nbackoff = 0.1\n"
              "[simulator]\nlines = 2\nsend_delay = 0\nprofiles = simcom, huawei\n")
    with running_agent(tmp_path, config) as url:
        yield Agent(url)


def gather(read: Callable[[], list[Any]], done: Callable[[list[Any]], bool], what: str) -> list[Any]:
    """Call ``read`` until what it returned so far satisfies ``done``; return it all."""
    got: list[Any] = []

    def more() -> bool:
        got.extend(read())
        return done(got)

    wait_until(more, timeout=15, what=what)
    return got


def somp_mo(agent: Agent) -> list[dict[str, str]]:
    body = agent.get("/mo", un=USER, pw=PW).decode()
    return [dict(urllib.parse.parse_qsl(line, keep_blank_values=True)) for line in body.split("\r\n") if line]


def hi_query(agent: Agent, method: str, tag: str) -> list[dict[str, str]]:
    doc = ET.fromstring(agent.get(HI, method=method, username=USER, password=PW, veryCode=VERY))
    if doc.findtext("mt/status") == "104":
        return []
    return [{child.tag: child.text or "" for child in item} for item in doc.iter(tag)]


def test_a_message_sent_by_somp_is_followed_by_every_dialect(agent, hooks):
    text = "您好，包裹已到"
    reply = agent.get("/mt", un=USER, pw=PW, da="13800138000", sm=text.encode("gbk").hex(), dc=15, rd=1, ex=4711)
    assert reply.startswith(b"id="), reply
    task = reply.decode()[3:]

    # GoIP querysms follows the same task until the modem accepted it.
    def goip() -> list[dict[str, str]]:
        return agent.post_json("/goip/querysms", {"auth": {"username": USER, "password": PW}, "taskID": task})

    wait_until(lambda: [r["send"] for r in goip()] == ["succeeded"], timeout=15, what="GoIP querysms succeeded")
    [row] = goip()
    assert row["taskID"] == f"{task}.13800138000"
    sent = json.loads(agent.get(f"/sim/lines/{row['goip_line']}/sent"))
    assert [(s["recipient"], s["text"]) for s in sent] == [("13800138000", text)]

    # The status report through SOMP /mo, with the client's external id echoed.
    [dr] = gather(lambda: somp_mo(agent), lambda got: any(r["op"] == "dr" for r in got), "SOMP /mo report")
    assert (dr["sa"], dr["id"], dr["ex"], dr["su"], dr["rp"]) == ("13800138000", task, "4711", "DELIVRD", "0")
    assert somp_mo(agent) == []  # returned once

    # ... through httpInterface queryReport, once ...
    [rpt] = gather(lambda: hi_query(agent, "queryReport", "rpt"), bool, "queryReport")
    assert (rpt["mobile"], rpt["msgid"], rpt["status"]) == ("13800138000", task, "DELIVRD")
    assert hi_query(agent, "queryReport", "rpt") == []

    # ... and as the HttpBatchSendSM status push.
    hooks.wait(lambda hits: any(h.path == "/report" for h in hits))
    [push] = [urllib.parse.parse_qs(h.target.partition("?")[2]) for h in hooks.delivered("/report")]
    assert {k: v[0] for k, v in push.items() if k != "reportTime"} == {
        "receiver": "branch", "pswd": PW, "msgid": task, "mobile": "13800138000", "status": "DELIVRD"}
    assert re.fullmatch(r"\d{10}", push["reportTime"][0])


def test_a_received_sms_reaches_every_pull_dialect_once_and_the_mo_push(agent, hooks):
    text = "收到, thanks & ok"
    req = urllib.request.Request(f"{agent.url}/sim/lines/sim2/sms", method="POST",
                                 data=json.dumps({"from": "+8613700000001", "text": text}).encode())
    urllib.request.urlopen(req, timeout=10).read()

    [mo] = gather(lambda: somp_mo(agent), bool, "SOMP /mo MO")
    assert (mo["op"], mo["dc"], mo["sa"], mo["mu"]) == ("mo", "8", "+8613700000001", "sim2")
    assert bytes.fromhex(mo["sm"]).decode("utf-16-be") == text
    assert somp_mo(agent) == []

    [item] = gather(lambda: hi_query(agent, "queryMo", "mo"), bool, "queryMo")
    assert (item["mobile"], item["content"]) == ("+8613700000001", text)
    assert hi_query(agent, "queryMo", "mo") == []

    jindi = ET.fromstring(agent.get("/read", password=PW))
    assert [m.findtext("text") for m in jindi.iter("message")] == [text]

    hooks.wait(lambda hits: any(h.path == "/mo" for h in hits))
    [push] = [urllib.parse.parse_qs(h.target.partition("?")[2]) for h in hooks.delivered("/mo")]
    assert (push["box"], push["receiver"], push["mobile"], push["msg"]) == (["7"], ["branch"], ["+8613700000001"],
                                                                            [text])
    assert re.fullmatch(r"\d{10}", push["moTime"][0])
