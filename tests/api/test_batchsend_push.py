"""The HttpBatchSendSM pushes end to end: the whole agent in this process (one
simulated line), its real pusher, and a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import sqlite3
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from typing import Callable, Iterator

import pytest

from agent.app import App
from agent.config import parse
from agent.model import NewMessage

from ..receiver import Receiver
from ..waiting import wait_until


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def start_agent(tmp_path) -> Iterator[Callable[[str], App]]:
    apps: list[App] = []

    def start(batchsend: str) -> App:
        text = ("[agent]\nid = push-test\nstate_dir = state\n[http]\nport = 0\n"
                "[auth]\nusername = admin\npassword = pw\n"
                f"[batchsend]\n{batchsend}\n"
                "[push]\nbackoff = 0.05\nbackoff_max = 0.1\n"
                "[simulator]\nlines = 1\nsend_delay = 0\n")
        app = App(parse(text, base_dir=tmp_path / f"a{len(apps)}"))
        apps.append(app)
        app.start()
        assert app.wait_ready(20)
        return app

    yield start
    for app in apps:
        app.stop()


def url(app: App) -> str:
    assert app.http is not None
    return app.http.url


def batch(app: App, **params: str) -> list[str]:
    query = urllib.parse.urlencode({"account": "admin", "pswd": "pw", **params})
    with urllib.request.urlopen(f"{url(app)}/msg/HttpBatchSendSM?{query}", timeout=10) as resp:
        lines = resp.read().decode().split("\n")
    assert lines[0].endswith(",0"), lines
    return lines


def sim(app: App, action: str, obj: dict) -> None:
    req = urllib.request.Request(f"{url(app)}/sim/lines/sim1/{action}", data=json.dumps(obj).encode(), method="POST")
    urllib.request.urlopen(req, timeout=10).read()


def rows(app: App, where: str, params: tuple = ()) -> list[dict]:
    con = sqlite3.connect(app.config.agent.database, timeout=5)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(f"SELECT * FROM smsserver_out WHERE {where} ORDER BY id", params)]
    finally:
        con.close()


def minute_now(value: str) -> None:
    """``value`` is YYMMDDhhmm within a couple of minutes of now."""
    assert abs(datetime.strptime(value, "%y%m%d%H%M") - datetime.now()) < timedelta(minutes=2), value


def report(query: list[tuple[str, str]], *, msgid: int, mobile: str, status: str,
           receiver: str = "rcv", pswd: str = "ppw") -> None:
    """Exactly the seed's report parameters, in its order."""
    assert [k for k, _ in query] == ["receiver", "pswd", "msgid", "reportTime", "mobile", "status"], query
    values = dict(query)
    minute_now(values.pop("reportTime"))
    assert values == {"receiver": receiver, "pswd": pswd, "msgid": str(msgid), "mobile": mobile, "status": status}


def test_reports_failures_and_mo_are_pushed_with_the_seed_parameters(start_agent, receiver):
    app = start_agent(f"report_url = {receiver.url}/report\nmo_url = {receiver.url}/mo?x=1\n"
                      "receiver = rcv\npush_password = ppw")
    reports = lambda: [h.query for h in receiver.delivered("/report")]  # noqa: E731

    # needstatus=false: no reply msgid, no report asked of the network, and no push even of its
    # failure (whose result is in the outbox before anything below).
    sim(app, "fail", {"cms": 21})
    assert len(batch(app, mobile="13800000009", msg="quiet", needstatus="false")) == 1
    [quiet] = wait_until(lambda: rows(app, "recipient = '13800000009' AND status = 'F'"), what="quiet failed")
    assert (quiet["status_report"], quiet["error_code"]) == (0, 21)

    # The receiver refuses twice first: both reports arrive all the same, the refused ones again.
    receiver.failures = 2
    msgid = int(batch(app, mobile="13800000001,13800000002", msg="hello", needstatus="true")[1])
    wait_until(lambda: len(reports()) == 2, what="two reports")
    by_mobile = {dict(q)["mobile"]: q for q in reports()}
    for mobile in ("13800000001", "13800000002"):
        report(by_mobile[mobile], msgid=msgid, mobile=mobile, status="DELIVRD")
    refused = [h.query for h in receiver.hits if h.status == 500]
    assert len(refused) == 2 and all(q in reports() for q in refused)

    # A message of another dialect, and one without a task, are reported too.
    with urllib.request.urlopen(f"{url(app)}/send?password=pw&recipient=13800000004&text=jindi", timeout=10) as r:
        assert b"<error>0</error>" in r.read()
    [jindi] = rows(app, "recipient = '13800000004'")
    assert app.router is not None
    [plain_id] = app.store.enqueue([NewMessage("13800000005", "plain")], source="test").ids
    app.router.wake()
    wait_until(lambda: len(reports()) == 4, what="jindi and plain reports")
    report(reports()[2], msgid=jindi["task_id"], mobile="13800000004", status="DELIVRD")
    report(reports()[3], msgid=plain_id, mobile="13800000005", status="DELIVRD")

    # A send refused by the network (+CMS ERROR: 21, permanent) is a failure report.
    sim(app, "fail", {"cms": 21})
    failed = int(batch(app, mobile="13800000006", msg="fails", needstatus="true")[1])
    wait_until(lambda: len(reports()) == 5, what="failure report")
    report(reports()[4], msgid=failed, mobile="13800000006", status="CMS:21")

    # A status report saying "validity period expired" (TP-Status 0x46).
    sim(app, "state", {"auto_reports": False})
    expired = int(batch(app, mobile="13800000007", msg="late", needstatus="true")[1])
    [row] = wait_until(lambda: rows(app, "task_id = ? AND status = 'S'", (expired,)), what="sent")
    sim(app, "report", {"reference": int(row["ref_no"]), "status": 0x46})
    wait_until(lambda: len(reports()) == 6, what="expired report")
    report(reports()[5], msgid=expired, mobile="13800000007", status="EXPIRED")

    # A received SMS: its own URL keeps its query; destcode is the line's own number.
    sim(app, "sms", {"from": "+8613700000001", "text": "余额 12.50 & 100%"})
    wait_until(lambda: receiver.delivered("/mo"), what="MO push")
    [mo] = [h.query for h in receiver.delivered("/mo")]
    assert [k for k, _ in mo] == ["x", "receiver", "pswd", "moTime", "destcode", "mobile", "msg"]
    values = dict(mo)
    minute_now(values.pop("moTime"))
    assert app.core is not None
    number = app.core.lines_view()[0].number
    assert number and values == {"x": "1", "receiver": "rcv", "pswd": "ppw", "destcode": number,
                                 "mobile": "+8613700000001", "msg": "余额 12.50 & 100%"}
    # Nothing about the quiet message, nothing left to push.
    assert all(dict(q)["mobile"] != "13800000009" for q in reports())
    assert len(reports()) == 6
    wait_until(lambda: app.store.outbox.stats().get("batch-report", {}).get("pending", 0) == 0, what="outbox empty")


def test_receiver_and_pswd_default_to_the_credentials_and_mo_is_off_without_mo_url(start_agent, receiver):
    app = start_agent(f"report_url = {receiver.url}/r?")
    assert app.pusher is not None and set(app.pusher.stats()) == {"batch-report"}
    msgid = int(batch(app, mobile="13800000001", msg="hi", needstatus="true")[1])
    [hit] = receiver.wait(bool)
    path, query = hit.path, hit.query
    assert path == "/r"
    report(query, msgid=msgid, mobile="13800000001", status="DELIVRD", receiver="admin", pswd="pw")
