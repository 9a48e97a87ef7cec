"""The whole agent as a process: HTTP dialects, simulator controls and webhooks, end to end."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

from .agent_process import running_agent
from .receiver import Receiver
from .waiting import wait_until


def _post(url: str, obj: object) -> object:
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _get(url: str, **query: str) -> bytes:
    with urllib.request.urlopen(url + "?" + urllib.parse.urlencode(query), timeout=10) as resp:
        return resp.read()


def test_agent_process_speaks_both_dialects_and_pushes(tmp_path):
    hooks = Receiver()
    config = (
        "[agent]\nid = e2e\nstate_dir = state\n[http]\nport = 0\n"
        "[auth]\nusername = admin\npassword = pw\n"
        f"[goip]\nresult_url = {hooks.url}/goip/result\nmo_url = {hooks.url}/goip/sms\n"
        f"[jindi]\npush_url = {hooks.url}/jindi?gw=%gatewayId%&text=%text%&from=%originator%\n"
        "[push]\nbackoff = 0.1\n"
        "[simulator]\nlines = 2\nsend_delay = 0\nprofiles = simcom, huawei\n"
    )
    auth = {"username": "admin", "password": "pw"}
    try:
        with running_agent(tmp_path, config) as url:
            _speak_both_dialects(url, auth, hooks)
    finally:
        hooks.close()
    assert Path(tmp_path / "state" / "sms-agent.db").exists()


def _speak_both_dialects(url: str, auth: dict[str, str], hooks: Receiver) -> None:
    lines_reply = _post(f"{url}/goip/querylines", {"auth": auth})
    assert [(ln["goip_line"], ln["online"]) for ln in lines_reply] == [("sim1", "1"), ("sim2", "1")]

    # GoIP send -> the result and the receipt are pushed to result_url.
    accepted = _post(f"{url}/goip/sendsms/", {"auth": auth, "number": "13800138000", "content": "hi",
                                              "goip_line": "sim2"})
    assert accepted["result"] == "ACCEPT"
    task = accepted["taskID"]
    hooks.wait(lambda hits: sum(h.path == "/goip/result" for h in hits) >= 2)
    results = [h.json() for h in hooks.delivered("/goip/result")]
    assert results[0] == {"taskID": f"{task}.13800138000", "goip_line": "sim2", "send": "succeeded"}
    assert results[1]["receipt"] == "1"
    sent = json.loads(_get(f"{url}/sim/lines/sim2/sent"))
    assert [(s["recipient"], s["text"]) for s in sent] == [("13800138000", "hi")]

    # Jindi send of a row, queried by its id; the same row seen through SQL-backed GoIP querysms.
    doc = ET.fromstring(_get(f"{url}/send", password="pw", recipient="13900139000", text="金笛"))
    msg_id = doc.findtext("msg_id")
    wait_until(lambda: ET.fromstring(_get(f"{url}/sendstatus", msgid=msg_id)).text == "S", what="Jindi row sent")

    # The simulated network delivers an SMS: stored, pushed to both dialects' receivers, readable once.
    req = urllib.request.Request(f"{url}/sim/lines/sim1/sms", method="POST",
                                 data=json.dumps({"from": "+8613700000001", "text": "余额 12.50"}).encode())
    urllib.request.urlopen(req, timeout=10).read()
    pushed = hooks.wait(lambda hits: any(h.path == "/goip/sms" for h in hits)
                        and any(h.path == "/jindi" for h in hits))
    mo = next(h.json() for h in pushed if h.path == "/goip/sms")
    assert (mo["goip_line"], mo["from_number"], mo["content"]) == ("sim1", "+8613700000001", "余额 12.50")
    jindi_push = next(h for h in pushed if h.path == "/jindi")
    q = urllib.parse.parse_qs(jindi_push.target.partition("?")[2])
    assert (q["gw"], q["text"], q["from"]) == (["modem1"], ["余额 12.50"], ["+8613700000001"])
    first = ET.fromstring(_get(f"{url}/read", password="pw"))
    assert [m.findtext("text") for m in first.iter("message")] == ["余额 12.50"]
    assert list(ET.fromstring(_get(f"{url}/read", password="pw")).iter("message")) == []
