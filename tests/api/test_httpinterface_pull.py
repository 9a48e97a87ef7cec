"""httpInterface.do queryReport and queryMo through a real socket: status reports and
received SMS come from the simulated bank (spec/httpinterface.md, seed 004)."""

from __future__ import annotations

import json
import re
import sqlite3
import time

from ..queue_harness import Clock, msg
from ..waiting import wait_until
from .test_httpinterface import AUTH, CONFIG, DECL, PATH, call, reply_doc, rows, send

DECL_QUERY = '<?xml version="1.0" encoding="utf-8" ?>\n'
NONE_WAITING = f"{DECL_QUERY}<sms><mt><status>104</status></mt></sms>\n"
LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
REPORT_LINE = re.compile(r"<rpt><mobile>[^<]*</mobile><msgid>\d+</msgid><status>[^<]+</status>"
                         r"<time>[^<]+</time><extno>\d*</extno></rpt>")


def journal_count(api, kind: str) -> int:
    return api.stack.sql("SELECT COUNT(*) FROM journal WHERE kind = ?", (kind,))[0][0]


def wait_journal(api, kind: str, count: int) -> None:
    wait_until(lambda: journal_count(api, kind) >= count, what=f"{count} {kind} item(s) in the journal")


def reports(api, *, post: bool = False) -> list[dict[str, str]]:
    reply = call(api, "queryReport", post=post)
    if reply.text == NONE_WAITING:
        return []
    doc = reply_doc(reply)
    lines = reply.text.split("\n")
    assert lines[:2] == [DECL.strip(), "<sms>"] and lines[-2:] == ["</sms>", ""], reply.text
    assert all(REPORT_LINE.fullmatch(line) for line in lines[2:-2]), reply.text
    return [{child.tag: child.text or "" for child in rpt} for rpt in doc.findall("rpt")]


def mos(api, *, post: bool = False) -> list[dict[str, str]]:
    reply = call(api, "queryMo", post=post)
    if reply.text == NONE_WAITING:
        return []
    doc = reply_doc(reply, decl=DECL_QUERY)
    assert reply.text.startswith(DECL_QUERY + "<sms>\n<mo><mobile>") and reply.text.endswith("</mo>\n</sms>\n")
    items = doc.findall("mo")
    assert reply.text.count("</mo>\n<mo>") == len(items) - 1
    for item in items:
        assert [c.tag for c in item] == ["mobile", "recvcode", "content", "time"]
    return [{child.tag: child.text or "" for child in mo} for mo in items]


def insert_journal(api, kind: str, payloads: list[dict]) -> None:
    now = time.time()
    con = sqlite3.connect(api.stack.db, timeout=5)
    try:
        with con:
            con.executemany("INSERT INTO journal (kind, payload, created) VALUES (?, ?, ?)",
                            [(kind, json.dumps(p, ensure_ascii=False), now) for p in payloads])
    finally:
        con.close()


# --- queryReport --------------------------------------------------------------------------

def test_query_report_gives_each_delivery_report_once_then_104(make_api):
    api = make_api(config_text=CONFIG)
    msgid = send(api, mobile="13800000001,15951977097", content="report me", extcode="12")
    wait_journal(api, "receipt", 2)
    got = reports(api)
    assert sorted(got, key=lambda r: r["mobile"]) == [
        {"mobile": "13800000001", "msgid": str(msgid), "status": "DELIVRD", "time": got[0]["time"], "extno": "12"},
        {"mobile": "15951977097", "msgid": str(msgid), "status": "DELIVRD", "time": got[1]["time"], "extno": "12"}]
    assert all(LOCAL_TIME.fullmatch(r["time"]) for r in got)
    assert call(api, "queryReport").text == NONE_WAITING
    assert reports(api, post=True) == []
    # Another message later: only it is returned, by POST too.
    other = send(api, mobile="13800000003", content="again")
    wait_journal(api, "receipt", 3)
    assert [(r["mobile"], r["msgid"], r["status"], r["extno"]) for r in reports(api, post=True)] == [
        ("13800000003", str(other), "DELIVRD", "")]


def test_query_report_failed_send_and_failed_receipts(make_api):
    api = make_api(("generic",), config_text=CONFIG)
    sim = api.stack.sim[0]
    sim.fail_next_send(21)
    failed = send(api, mobile="13800000001", content="doomed")
    wait_journal(api, "result", 1)
    assert [(r["msgid"], r["status"]) for r in reports(api)] == [(str(failed), "CMS:0021")]
    assert rows(api, failed)[0]["status"] == "F"
    sim.auto_status_reports = False
    expired = send(api, mobile="13800000002", content="expires")
    undelivered = send(api, mobile="13800000003", content="undelivered")
    wait_until(lambda: len(sim.sent) == 2 and all(m.references for m in sim.sent), what="both sent")
    by_recipient = {m.recipient: m.references[0] for m in sim.sent}
    sim.status_report(by_recipient["13800000002"], 0x46)
    sim.status_report(by_recipient["13800000003"], 0x41)
    wait_journal(api, "receipt", 2)
    assert sorted((r["msgid"], r["mobile"], r["status"]) for r in reports(api)) == sorted([
        (str(expired), "13800000002", "EXPIRED"), (str(undelivered), "13800000003", "UNDELIV")])
    assert reports(api) == []


def test_query_report_skips_messages_without_a_task(make_api):
    api = make_api(config_text=CONFIG)
    [msg_id] = api.stack.send(msg("13800000009", "queued in SQL"))
    wait_journal(api, "receipt", 1)
    assert api.stack.row(msg_id)["task_id"] is None
    assert call(api, "queryReport").text == NONE_WAITING


def test_query_report_reads_past_skipped_items_and_caps_at_500(make_api):
    api = make_api(config_text=CONFIG)
    sent = {"message_id": 1, "task_id": 1, "recipient": "13800000001", "status": "sent", "at": "2024-01-02 03:04:05"}
    receipt = {"message_id": 1, "task_id": 7, "recipient": "13800000001", "delivered": True, "status": 0,
               "at": "2024-01-02 03:04:06"}
    insert_journal(api, "result", [sent] * 1200)
    insert_journal(api, "receipt", [receipt] * 3)
    assert [(r["msgid"], r["time"]) for r in reports(api)] == [("7", "2024-01-02 03:04:06")] * 3
    insert_journal(api, "receipt", [receipt] * 1100)
    assert [len(reports(api)) for _ in range(4)] == [500, 500, 100, 0]


def test_query_report_and_query_mo_errors(make_api):
    api = make_api(config_text=CONFIG)
    for method in ("queryReport", "queryMo"):
        for post in (False, True):
            assert call(api, method, post=post, password="x").text == (
                f"{DECL_QUERY}<sms><mt><status>101</status></mt></sms>\n")
            assert call(api, method, post=post, veryCode="x").text == (
                f"{DECL_QUERY}<sms><mt><status>105</status></mt></sms>\n")
            assert call(api, method, post=post).text == NONE_WAITING


# --- queryMo ------------------------------------------------------------------------------

def test_query_mo_gives_each_received_sms_once_then_104(make_api):
    api = make_api(config_text=CONFIG)
    api.stack.sim[0].deliver("+8615951977097", "江苏迅辰 <b>&amp; \"ok\"")
    api.stack.sim[1].deliver("15951977098", "4006000699")
    wait_journal(api, "mo", 2)
    reply = call(api, "queryMo")
    doc = reply_doc(reply, decl=DECL_QUERY)
    assert "<content>江苏迅辰 &lt;b&gt;&amp;amp; \"ok\"</content>" in reply.text
    got = sorted(({c.tag: c.text or "" for c in mo} for mo in doc.findall("mo")), key=lambda m: m["mobile"])
    assert [(m["mobile"], m["recvcode"], m["content"]) for m in got] == [
        ("+8615951977097", api.stack.sim[0].number or "", "江苏迅辰 <b>&amp; \"ok\""),
        ("15951977098", api.stack.sim[1].number or "", "4006000699")]
    assert all(m["recvcode"] for m in got)
    assert all(LOCAL_TIME.fullmatch(m["time"]) for m in got)
    assert call(api, "queryMo").text == NONE_WAITING
    assert mos(api, post=True) == []


def test_query_mo_replaces_characters_xml_cannot_carry(make_api):
    api = make_api(config_text=CONFIG)
    api.stack.sim[0].deliver("+8613700000001", "a\x01b\x0bc\x00d\r\ne", encoding="ucs2")
    wait_journal(api, "mo", 1)
    [mo] = mos(api)
    assert mo["content"] == "a\ufffdb\ufffdc\ufffdd\r\ne"  # a CR survives as &#13;


def test_query_mo_cap_cursor_independence_and_head(make_api):
    api = make_api(config_text=CONFIG)
    mo = {"id": 1, "line": "sim1", "originator": "13800000001", "text": "hi", "encoding": "7",
          "message_date": "2024-01-02 03:04:05", "receive_date": "2024-01-02 03:04:06", "parts": 1,
          "error": None, "number": ""}
    insert_journal(api, "mo", [mo] * 1001)
    head = api.request("HEAD", PATH + "?method=queryMo&" + "&".join(f"{k}={v}" for k, v in AUTH.items()))
    assert head.status == 405  # a HEAD reply has no body: it must not move the cursor either
    assert call(api, "queryReport").text == NONE_WAITING  # its own cursor: MOs are not reports
    first = mos(api)
    assert len(first) == 500 and first[0] == {"mobile": "13800000001", "recvcode": "", "content": "hi",
                                              "time": "2024-01-02 03:04:06"}
    assert [len(mos(api)) for _ in range(3)] == [500, 1, 0]


def test_only_todays_items_are_returned(make_api):
    api = make_api(config_text=CONFIG, clock=Clock(start=time.time() - 2 * 86400))  # the store lives 2 days ago
    api.stack.sim[0].deliver("+8613700000001", "old news")
    wait_journal(api, "mo", 1)
    assert call(api, "queryMo").text == NONE_WAITING
