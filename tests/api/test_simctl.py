"""The simulator's HTTP controls, through a real socket: each control has the
effect it claims on the agent (store rows, line states, sent messages)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ..waiting import wait_until as _wait_until

from ..conftest import FAST
from ..queue_harness import msg

FAST_HEALTH = replace(FAST, health_interval=1.0)


until = _wait_until

def line_state(api, line: str = "sim1"):
    return api.stack.bank[line].state


def error_of(reply, status: int) -> str:
    assert reply.status == status, (reply.status, reply.text)
    assert reply.headers["Content-Type"].startswith("application/json")
    return reply.json()["error"]


# --- reading --------------------------------------------------------------------------------


def test_lines_describe_every_simulated_modem(api):
    reply = api.get("/sim/lines")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json")
    lines = reply.json()
    assert [entry["line"] for entry in lines] == api.core.line_names() == ["sim1", "sim2"]
    first, modem = lines[0], api.stack.sim[0]
    assert first["modem"] == "sim1" and first["profile"] == "generic"
    assert (first["imei"], first["iccid"], first["number"]) == (modem.imei, modem.iccid, modem.number)
    assert first["device"] == modem.device and first["path"] == modem.path
    assert first["plugged"] and first["ready"] and not first["hung"] and first["registered"]
    assert first["auto_status_reports"] is True
    assert api.get("/sim/lines/sim2").json() == lines[1]


# --- the network plays ----------------------------------------------------------------------


def test_sms_arrives_in_the_store(api):
    reply = api.post_json("/sim/lines/sim1/sms", {"from": "+8613800000001", "text": "hello from the network"})
    assert reply.status == 200 and reply.json() == {"ok": True, "parts": 1}
    rows = api.stack.wait_sql("SELECT text, originator, gateway_id FROM smsserver_in WHERE type='I'", bool)
    assert rows == [("hello from the network", "+8613800000001", "sim1")]


def test_long_ucs2_sms_arrives_whole(api):
    text = "你好，世界。" * 20  # 120 UCS-2 units: two parts
    reply = api.post_json("/sim/lines/sim2/sms", {"from": "+8613800000002", "text": text, "encoding": "ucs2"})
    assert reply.json() == {"ok": True, "parts": 2}
    rows = api.stack.wait_sql("SELECT text, encoding FROM smsserver_in WHERE type='I'", bool)
    assert rows == [(text, "U")]


def test_call_is_stored(api):
    reply = api.post_json("/sim/lines/sim1/call", {"from": "+8613800000003", "rings": 2, "interval": 0.1})
    assert reply.json() == {"ok": True}
    rows = api.stack.wait_sql("SELECT caller_id, gateway_id FROM smsserver_calls", bool)
    assert rows[0] == ("+8613800000003", "sim1")


def test_fail_makes_the_next_send_fail_with_that_code(make_api):
    api = make_api(profiles=("generic",))
    assert api.post_json("/sim/lines/sim1/fail", {"cms": 21}).json() == {"ok": True}
    rejected, passed = api.stack.send(msg(text="rejected")), api.stack.send(msg(text="passes"))
    row = api.stack.wait_rows(rejected, lambda r: r["status"] in ("S", "F"))[0]
    assert (row["status"], row["error_code"]) == ("F", 21)
    assert api.stack.wait_rows(passed, lambda r: r["status"] in ("S", "F"))[0]["status"] == "S"


def test_state_is_seen_at_the_next_health_check(make_api):
    api = make_api(modems=FAST_HEALTH)
    reply = api.post_json("/sim/lines/sim1/state", {"signal": 5, "registered": False, "operator": "TEST NET"})
    assert reply.json() == {"ok": True}
    until(lambda: line_state(api).rssi == 5 and not line_state(api).registered, what="signal 5, unregistered")
    shown = api.get("/sim/lines/sim1").json()
    assert (shown["signal"], shown["registered"], shown["operator"]) == (5, False, "TEST NET")
    assert line_state(api, "sim2").registered  # the other line is untouched
    api.post_json("/sim/lines/sim1/state", {"registered": True, "signal": 20})
    until(lambda: line_state(api).registered and line_state(api).rssi == 20, what="registered again")


def test_hang_takes_the_line_down_and_unhang_brings_it_back(make_api):
    api = make_api(modems=FAST_HEALTH)
    assert api.post_json("/sim/lines/sim1/hang", {}).json() == {"ok": True}
    assert api.get("/sim/lines/sim1").json()["hung"] is True
    until(lambda: line_state(api).state in ("recovering", "offline"), what="sim1 down")
    api.post_json("/sim/lines/sim1/unhang", b"")
    until(lambda: line_state(api).state == "ready", 15, what="sim1 ready again")
    assert api.get("/sim/lines/sim1").json()["hung"] is False


def test_unplug_and_replug(make_api):
    api = make_api(profiles=("generic",))
    modem = api.stack.sim[0]
    assert api.post_json("/sim/lines/sim1/unplug", b"").json() == {"ok": True}
    shown = api.get("/sim/lines/sim1").json()
    assert (shown["plugged"], shown["device"]) == (False, None)
    until(lambda: line_state(api).state in ("recovering", "offline"), what="sim1 down")
    reply = api.post_json("/sim/lines/sim1/replug", {}).json()
    assert reply == {"ok": True, "path": modem.path, "device": modem.device}
    until(lambda: line_state(api).state == "ready", 15, what="sim1 ready again")
    (sent,) = api.stack.send(msg(text="after the replug"))
    assert api.stack.wait_rows([sent], lambda r: r["status"] == "S")


def test_replug_at_a_new_path_is_found_by_imei(make_api, tmp_path):
    # make_api's bank is the test's first one, in tmp_path/sim0: the agent scans it as on a real box.
    api = make_api(profiles=("generic",), modems=replace(FAST, scan=(str(tmp_path / "sim0" / "*"),)))
    old = api.stack.sim[0].path
    api.post_json("/sim/lines/sim1/unplug", b"")
    reply = api.post_json("/sim/lines/sim1/replug", {"new_path": True}).json()
    assert reply["ok"] and reply["path"] != old
    until(lambda: line_state(api).state == "ready" and line_state(api).device == reply["path"], 15,
          what="sim1 ready at its new path")
    assert api.get("/sim/lines").json()[0]["path"] == reply["path"]


def test_sent_lists_decoded_messages(make_api):
    api = make_api(profiles=("generic",))
    long_text = "x" * 200
    ids = api.stack.send(msg("+8613911111111", "short one"), msg("+8613922222222", long_text, status_report=False))
    api.stack.wait_rows(ids, lambda r: r["status"] == "S")
    sent = api.get("/sim/lines/sim1/sent").json()
    assert [(s["recipient"], s["text"], s["parts"], s["srr"]) for s in sent] == [
        ("+8613911111111", "short one", 1, True), ("+8613922222222", long_text, 2, False)]
    assert all(s["encoding"] == "gsm7" and s["complete"] and not s["flash"] for s in sent)
    assert len(sent[1]["references"]) == 2


def test_manual_report_when_automatic_reports_are_off(make_api):
    api = make_api(profiles=("generic",))
    api.post_json("/sim/lines/sim1/state", {"auto_reports": False})
    assert api.get("/sim/lines/sim1").json()["auto_status_reports"] is False
    (msg_id,) = api.stack.send(msg(text="will it arrive?"))
    api.stack.wait_rows([msg_id], lambda r: r["status"] == "S")
    (reference,) = api.get("/sim/lines/sim1/sent").json()[0]["references"]
    assert api.post_json("/sim/lines/sim1/report", {"reference": reference, "status": 70}).json() == {"ok": True}
    rows = api.stack.wait_sql("SELECT report_status, message_id FROM smsserver_in WHERE type='S'", bool)
    assert rows == [(70, msg_id)]  # only ours: the network sent none by itself


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", [("GET", "/sim/lines/nope"), ("GET", "/sim/lines/nope/sent"),
                                         ("POST", "/sim/lines/nope/hang"), ("POST", "/sim/lines/nope/sms")])
def test_unknown_line_is_404(api, method, path):
    reply = api.request(method, path, body=b"{}" if method == "POST" else None)
    assert "nope" in error_of(reply, 404)


@pytest.mark.parametrize("path,body,words", [
    ("sms", b"{not json", "not JSON"),
    ("sms", b"[1, 2]", "JSON object"),
    ("sms", {"text": "no sender"}, "from: required"),
    ("sms", {"from": "+1", "text": 5}, "text: must be a string"),
    ("sms", {"from": "+1", "text": "hi", "typo": 1}, "unknown key"),
    ("sms", {"from": "+1", "text": "你好", "encoding": "gsm7"}, "cannot be sent"),
    ("sms", {"from": "+1", "text": "hi", "encoding": "latin1"}, "encoding"),
    ("sms", {"from": "+1", "text": "x" * 2000}, "parts"),
    ("sms", {"from": "", "text": "hi"}, "from"),
    ("call", {"from": "+86 139"}, "from: invalid"),
    ("call", {"from": "+1", "rings": 0}, "rings"),
    ("fail", {"cms": "21"}, "cms: must be an integer"),
    ("fail", {"cms": True}, "cms: must be an integer"),
    ("fail", {"cms": 21, "count": 0}, "count"),
    ("fail", {}, "cms: required"),
    ("state", {}, "nothing to change"),
    ("state", {"signal": 40}, "signal"),
    ("state", {"registered": "yes"}, "registered: must be true or false"),
    ("state", {"operator": 'bad"quote'}, "operator"),
    ("hang", {"please": True}, "unknown key"),
    ("replug", {"new_path": 1}, "new_path"),
    ("report", {"reference": 256}, "reference"),
])
def test_bad_requests_are_400(api, path, body, words):
    assert words in error_of(api.post_json(f"/sim/lines/sim1/{path}", body), 400)
    assert api.stack.sim[0].plugged and not api.stack.sim[0].sent  # nothing was done


def test_no_simulator_controls_on_real_modems(make_api):
    api = make_api(simulated=False)
    assert api.get("/sim/lines").status == 404
    assert api.post_json("/sim/lines/sim1/hang", {}).status == 404
    assert api.stack.sim[0].ready
