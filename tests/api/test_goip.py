"""The GoIP SMS Server JSON API over a real socket, on the real queue, router,
line workers and simulated modems (spec/goip-json.md, seed 002)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.api import goip
from agent.config import Credentials, GoipConfig

from . import hostile

AUTH = {"username": "admin", "password": "s3cret"}
ENDPOINTS = ("sendsms", "querysms", "querylines")
AT_QUOTA = {"sim1": {"daily_limit": 0}, "sim2": {"daily_limit": 0}}  # lines exist, none can send


def call(api, name: str, body: Any = None, *, slash: bool = True, auth: Any = AUTH, **kw: Any):
    if not isinstance(body, bytes):
        body = dict(body or {})
        if auth is not None:
            body["auth"] = auth
    return api.post_json(f"/goip/{name}" + ("/" if slash else ""), body, **kw)


def send(api, number: str, content: str = "测试", **fields: Any) -> str:
    reply = call(api, "sendsms", {"number": number, "content": content, **fields})
    assert reply.status == 200, reply.text
    body = reply.json()
    assert body["result"] == "ACCEPT" and body["taskID"].isdigit(), body
    return body["taskID"]


def query(api, task: Any) -> list[dict]:
    reply = call(api, "querysms", {"taskID": task})
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    return reply.json()


def wait_query(api, task: str, predicate: Callable[[list[dict]], bool], timeout: float = 10.0) -> list[dict]:
    """Poll querysms until ``predicate`` holds (the router and lines work in other threads)."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = query(api, task)
        if predicate(statuses):
            return statuses
        assert time.monotonic() < deadline, f"task {task} never matched: {statuses}"
        threading.Event().wait(0.05)


def all_send(value: str) -> Callable[[list[dict]], bool]:
    return lambda statuses: bool(statuses) and all(s["send"] == value for s in statuses)


def counts(api) -> tuple[int, int]:
    return (api.stack.sql("SELECT COUNT(*) FROM smsserver_out")[0][0],
            api.stack.sql("SELECT COUNT(*) FROM tasks")[0][0])


def rejected(reply, status: int, reason: str = "unknown") -> dict:
    assert reply.status == status, reply.text
    body = reply.json()
    assert body["result"] == "REJECT" and body["reason"] == reason, body
    return body


# --- sendsms ---------------------------------------------------------------------------------


def test_accepted_task_is_sent_with_sub_task_ids_and_receipts(api):
    task = send(api, "13600000000,13611111111", "测试 long enough? no, short")
    statuses = wait_query(api, task, lambda s: len(s) == 2 and all(x.get("receipt") == "1" for x in s))
    assert [s["taskID"] for s in statuses] == [f"{task}.13600000000", f"{task}.13611111111"]
    for s in statuses:
        assert s["send"] == "succeeded" and s["goip_line"] in ("sim1", "sim2") and "err_code" not in s
        assert set(s) == {"taskID", "goip_line", "send", "receipt"}
        assert all(isinstance(v, str) for v in s.values())
    sent = {m.recipient: m.text for modem in api.stack.sim for m in modem.sent}
    assert sent == {"13600000000": "测试 long enough? no, short", "13611111111": "测试 long enough? no, short"}


def test_recipients_are_merged_in_first_seen_order(api):
    task = send(api, " 13622222222,+8613600000000 ,13622222222,,13600000000,+8613600000000,")
    ids = [s["taskID"] for s in query(api, task)]
    assert ids == [f"{task}.13622222222", f"{task}.+8613600000000", f"{task}.13600000000"]
    wait_query(api, task, all_send("succeeded"))
    assert sorted(m.recipient for modem in api.stack.sim for m in modem.sent) == [
        "+8613600000000", "13600000000", "13622222222"]


def test_task_ids_are_unique_integers(api):
    tasks = [send(api, "13600000000") for _ in range(3)]
    assert len(set(tasks)) == 3 and all(t.isdigit() for t in tasks)


def test_9999_recipients_in_one_request(make_api, capsys):
    api = make_api(lines=AT_QUOTA)  # queued, not sent: this measures the ACCEPT
    numbers = [f"1360{i:07d}" for i in range(9999)]
    before = counts(api)
    start = time.perf_counter()
    task = send(api, ",".join(numbers + numbers[:50]), "load test")
    accept_s = time.perf_counter() - start
    start = time.perf_counter()
    statuses = query(api, task)
    query_s = time.perf_counter() - start
    assert counts(api) == (before[0] + 9999, before[1] + 1)
    assert [s["taskID"] for s in statuses] == [f"{task}.{n}" for n in numbers]
    assert all(s == {"taskID": s["taskID"], "goip_line": "null", "send": "unsend"} for s in statuses)
    with capsys.disabled():
        print(f"\n9999-recipient sendsms ACCEPT in {accept_s:.3f} s; querysms of it in {query_s:.3f} s")
    too_many = ",".join(f"1370{i:07d}" for i in range(10_000))
    body = rejected(call(api, "sendsms", {"number": too_many, "content": "x"}), 400)
    assert "9999" in body["detail"]
    assert counts(api) == (before[0] + 9999, before[1] + 1)


def test_goip_line_pins_the_line_and_wins_over_provider(make_api):
    api = make_api(lines={"sim1": {"provider": "CMCC"}, "sim2": {"provider": "联通"}})
    task = send(api, "13600000001,13600000002,13600000003", goip_line="sim2", provider="CMCC")
    statuses = wait_query(api, task, all_send("succeeded"))
    assert {s["goip_line"] for s in statuses} == {"sim2"}
    assert len(api.stack.sim[1].sent) == 3 and api.stack.sim[0].sent == []


def test_provider_routes_to_its_lines(make_api):
    api = make_api(("generic",) * 3, lines={"sim1": {"provider": "CMCC"}, "sim2": {"provider": "联通"},
                                            "sim3": {"provider": "联通"}})
    task = send(api, ",".join(f"1360000000{i}" for i in range(6)), provider="联通")
    statuses = wait_query(api, task, all_send("succeeded"))
    assert {s["goip_line"] for s in statuses} <= {"sim2", "sim3"}
    assert api.stack.sim[0].sent == [] and len(api.stack.sim[1].sent) + len(api.stack.sim[2].sent) == 6


def test_reject_none_line_and_none_provider(make_api):
    api = make_api(lines={"sim1": {"provider": "CMCC"}})
    before = counts(api)
    assert call(api, "sendsms", {"number": "13600000000", "content": "x", "goip_line": "G101"}).json() == {
        "result": "REJECT", "reason": "none_line"}
    rejected(call(api, "sendsms", {"number": "13600000000", "content": "x", "provider": "移动"}), 200, "none_provider")
    # goip_line wins: a bad provider beside a good line is ignored, a bad line beside a good provider is not
    rejected(call(api, "sendsms", {"number": "136", "content": "x", "goip_line": "G1", "provider": "CMCC"}),
             200, "none_line")
    assert counts(api) == before
    send(api, "13600000000", goip_line="sim1", provider="移动")
    send(api, "13600000000", goip_line="", provider=None)  # empty / null: not given


def test_reject_none_line_when_no_line_is_enabled(make_api):
    api = make_api(lines={"sim1": {"enabled": False}, "sim2": {"enabled": False}})
    before = counts(api)
    rejected(call(api, "sendsms", {"number": "13600000000", "content": "x"}), 200, "none_line")
    rejected(call(api, "sendsms", {"number": "13600000000", "content": "x", "goip_line": "sim1"}), 200, "none_line")
    assert counts(api) == before
    assert [line["online"] for line in call(api, "querylines").json()] == ["0", "0"]
    bare = make_api(())  # no line configured at all
    rejected(call(bare, "sendsms", {"number": "13600000000", "content": "x"}), 200, "none_line")
    assert call(bare, "querylines").json() == []


def test_lines_that_cannot_send_now_still_accept_and_wait_unsend(make_api):
    api = make_api(lines=AT_QUOTA)
    task = send(api, "13600000000,13611111111")
    assert query(api, task) == [{"taskID": f"{task}.13600000000", "goip_line": "null", "send": "unsend"},
                                {"taskID": f"{task}.13611111111", "goip_line": "null", "send": "unsend"}]
    assert all(modem.sent == [] for modem in api.stack.sim)


def test_a_hung_line_shows_sending_then_succeeded(api):
    api.stack.sim[0].hang()
    task = send(api, "13600000000", goip_line="sim1")
    assert wait_query(api, task, all_send("sending")) == [
        {"taskID": f"{task}.13600000000", "goip_line": "sim1", "send": "sending"}]
    api.stack.sim[0].unhang()
    wait_query(api, task, all_send("succeeded"), timeout=20)


def test_failed_send_reports_the_cms_code(api):
    api.stack.sim[0].fail_next_send(21)
    task = send(api, "13600000000,13611111111", goip_line="sim1")
    statuses = wait_query(api, task, lambda s: all(x["send"] in ("succeeded", "failed") for x in s))
    assert statuses[0] == {"taskID": f"{task}.13600000000", "goip_line": "sim1", "send": "failed", "err_code": "21"}
    assert statuses[1]["send"] == "succeeded"


def test_idempotent_resubmission(api):
    before = counts(api)
    first = call(api, "sendsms", {"number": "13600000000,13611111111", "content": "x"},
                 headers={"X-Request-Id": "order-42"}).json()
    again = call(api, "sendsms", {"number": "13600000000,13611111111", "content": "x"},
                 headers={"X-Request-Id": "order-42"}).json()
    assert first == again and first["result"] == "ACCEPT"
    by_key = send(api, "13600000000", client_ref="order-43")
    assert send(api, "13600000000", client_ref="order-43") == by_key != first["taskID"]
    assert counts(api) == (before[0] + 3, before[1] + 2)
    assert send(api, "13600000000") != send(api, "13600000000")  # no reference: two tasks


def test_a_reused_request_id_with_other_content_is_409_and_stores_nothing(api):
    body = {"number": "13600000000,13611111111", "content": "x", "goip_line": "sim1"}
    first = call(api, "sendsms", body, headers={"X-Request-Id": "order-44"}).json()
    by_key = send(api, "13600000000", client_ref="order-45")
    before = counts(api)
    for changed in ({"content": "y"}, {"number": "13600000000"}, {"number": "13611111111,13600000000"},
                    {"goip_line": "sim2"}, {"goip_line": None}):
        reply = call(api, "sendsms", {**body, **changed}, headers={"X-Request-Id": "order-44"})
        assert reply.json() == {"result": "REJECT", "reason": "duplicate_request"} and reply.status == 409
    reply = call(api, "sendsms", {"number": "13600000000", "content": "other", "client_ref": "order-45"})
    assert (reply.status, reply.json()["reason"]) == (409, "duplicate_request")
    assert counts(api) == before
    assert call(api, "sendsms", body, headers={"X-Request-Id": "order-44"}).json() == first
    assert send(api, "13600000000", client_ref="order-45") == by_key
    assert counts(api) == before


def test_json_is_read_whatever_the_content_type(api):
    body = json.dumps({"auth": AUTH, "number": "13600000000", "content": "x"}).encode()
    for headers in ({}, {"Content-Type": "application/x-www-form-urlencoded"},
                    {"Content-Type": "text/plain"}):  # urllib sends the form type when none is given
        reply = api.request("POST", "/goip/sendsms/", body=body, headers=headers)
        assert reply.status == 200 and reply.json()["result"] == "ACCEPT", reply.text
    bom = call(api, "sendsms", b"\xef\xbb\xbf" + body)
    assert bom.status == 200 and bom.json()["result"] == "ACCEPT"
    # integers where strings are expected (PHP and Python clients do this)
    reply = call(api, "sendsms", {"number": 639171234567, "content": "x", "goip_line": None})
    task = reply.json()["taskID"]
    assert [s["taskID"] for s in query(api, int(task))] == [f"{task}.639171234567"]


BAD_SENDS = [
    ({"content": "x"}, "number is required"),
    ({"number": "", "content": "x"}, "number is required"),
    ({"number": " , ,", "content": "x"}, "no recipient"),
    ({"number": ["13600000000"], "content": "x"}, "number must be a string"),
    ({"number": "13600000000;13611111111", "content": "x"}, "'13600000000;13611111111'"),
    ({"number": "13600000000,136-0000,137", "content": "x"}, "'136-0000'"),
    ({"number": "12", "content": "x"}, "'12'"),
    ({"number": "1" * 21, "content": "x"}, "is not a phone number"),
    ({"number": "١٣٦٠٠٠٠", "content": "x"}, "is not a phone number"),  # Unicode digits are not ASCII
    ({"number": -5, "content": "x"}, "number must be a string"),
    ({"number": True, "content": "x"}, "number must be a string"),
    ({"number": "13600000000"}, "content is required"),
    ({"number": "13600000000", "content": ""}, "content is required"),
    ({"number": "13600000000", "content": 12.5}, "content must be a string"),
    ({"number": "13600000000", "content": "a" * 1531}, "content needs 11 SMS parts, at most 10"),
    ({"number": "13600000000", "content": "汉" * 671}, "content needs 11 SMS parts"),
    ({"number": "13600000000", "content": "x\ud800"}, "lone surrogate"),
    ({"number": "13600000000", "content": "x", "goip_line": ["sim1"]}, "goip_line must be a string"),
    ({"number": "13600000000", "content": "x", "provider": {}}, "provider must be a string"),
    ({"number": "13600000000", "content": "x", "client_ref": 7}, "client_ref"),
    ({"number": "13600000000", "content": "x", "client_ref": "r" * 129}, "client_ref"),
]


def test_sendsms_400_forms_store_nothing(api):
    before = counts(api)
    for fields, detail in BAD_SENDS:
        body = rejected(call(api, "sendsms", fields), 400)
        assert detail in body["detail"] and set(body) == {"result", "reason", "detail"}, (fields, body)
    assert counts(api) == before


def test_content_at_the_part_limit_is_accepted(api):
    task = send(api, "13600000000", "a" * 1530)  # 10 parts of 153
    wait_query(api, task, all_send("succeeded"))
    assert len(api.stack.sim[0].sent + api.stack.sim[1].sent) == 1


NOT_OBJECTS = [
    (b"", "not JSON"), (b"{", "not JSON"), (b"\xff\xfe{}", "not UTF-8"), (b"[1, 2]", "not an array"),
    (b'"auth"', "not a string"), (b"null", "not null"), (b'{"auth": NaN}', "not JSON"),
    (b"[" * 100_000, "not JSON"), (b"1" * 5000, "not JSON"),
]


def test_bodies_that_are_not_a_json_object(api):
    for raw, detail in NOT_OBJECTS:
        for name in ENDPOINTS:
            assert detail in rejected(call(api, name, raw), 400)["detail"], (name, raw[:20])


# --- auth and paths ------------------------------------------------------------------------


BAD_AUTH = [None, {}, "admin:s3cret", {"username": "admin", "password": "wrong"},
            {"username": "root", "password": "s3cret"}, {"username": "admin"}, {"username": 1, "password": "s3cret"},
            ["admin", "s3cret"], {"username": "admin", "password": "s3cret "}]


def test_401_for_missing_or_wrong_auth(api):
    before = counts(api)
    for auth in BAD_AUTH:
        for name in ENDPOINTS:
            reply = call(api, name, {"number": "13600000000", "content": "x", "taskID": "1"}, auth=auth)
            body = rejected(reply, 401)
            assert "s3cret" not in reply.text and "detail" in body, auth
    assert counts(api) == before


def test_every_endpoint_with_and_without_the_trailing_slash(api):
    for slash in (True, False):
        reply = call(api, "sendsms", {"number": "13600000000", "content": "x"}, slash=slash)
        assert reply.status == 200 and reply.json()["result"] == "ACCEPT"
        task = reply.json()["taskID"]
        assert call(api, "querysms", {"taskID": task}, slash=slash).json()[0]["taskID"] == f"{task}.13600000000"
        assert len(call(api, "querylines", slash=slash).json()) == 2
    for name in ENDPOINTS:
        assert api.get(f"/goip/{name}/").status == 405  # POST only, never a redirect


# --- querysms ------------------------------------------------------------------------------


def test_querysms_task_sub_task_and_unknown_ids(api):
    task = send(api, "13600000000,+8613611111111")
    wait_query(api, task, all_send("succeeded"))
    one = query(api, f"{task}.+8613611111111")
    assert len(one) == 1 and one[0]["taskID"] == f"{task}.+8613611111111" and one[0]["send"] == "succeeded"
    assert len(query(api, int(task))) == 2
    for unknown in (f"{task}.13699999999", f"{task}.", str(int(task) + 1000), "0", f"0{task}", "*", "abc",
                    "-1", "9" * 40, f"{task}.13600000000.1", " ", 12345678):
        assert query(api, unknown) == [], unknown
    rejected(call(api, "querysms", {}), 400)
    rejected(call(api, "querysms", {"taskID": ""}), 400)
    for bad in ([task], 1.5, True, {"id": task}):
        rejected(call(api, "querysms", {"taskID": bad}), 400)


# --- querylines ----------------------------------------------------------------------------


def test_querylines_values_are_strings_and_quotas_count_parts(make_api):
    api = make_api(lines={"sim1": {"daily_limit": 5, "total_limit": 100}})
    lines = call(api, "querylines").json()
    assert lines == [
        {"goip_line": "sim1", "online": "1", "reg": "LOGIN", "remain_sms": "100", "day_remain_sms": "5"},
        {"goip_line": "sim2", "online": "1", "reg": "LOGIN", "remain_sms": "-1", "day_remain_sms": "-1"}]
    task = send(api, "13600000000", "a" * 300, goip_line="sim1")  # two parts
    wait_query(api, task, all_send("succeeded"))
    sim1 = call(api, "querylines").json()[0]
    assert (sim1["remain_sms"], sim1["day_remain_sms"]) == ("98", "3")


def test_querylines_shows_an_unplugged_line_offline(api):
    api.stack.sim[1].unplug()
    deadline = time.monotonic() + 10
    while (lines := call(api, "querylines").json())[1]["online"] != "0":
        assert time.monotonic() < deadline, lines
        threading.Event().wait(0.05)
    assert lines[1] == {"goip_line": "sim2", "online": "0", "reg": "", "remain_sms": "-1", "day_remain_sms": "-1"}
    task = send(api, "13600000000", goip_line="sim2")  # the line exists: accepted, waits
    assert query(api, task)[0]["send"] == "unsend"


# --- pushes --------------------------------------------------------------------------------


def test_push_formatters():
    push = pytest.importorskip("agent.uplink.push")
    config = GoipConfig(Credentials("a", "b"), result_url="http://app/result", mo_url="http://app/mo")
    fmt = goip.formatters(config)
    assert set(fmt) == {"goip-result", "goip-mo"}
    assert set(goip.formatters(GoipConfig(result_url="http://app/r"))) == {"goip-result"}
    assert goip.formatters(GoipConfig()) == {}
    base = {"message_id": 7, "task_id": 5689, "sub_task": "5689.13600000000", "recipient": "13600000000",
            "line": "G101", "client_ref": "", "at": 1.0}
    req = fmt["goip-result"]("result", {**base, "status": "failed", "error_code": 350, "failure_cause": "UNKNOWN"})
    assert isinstance(req, push.PushRequest)
    assert (req.method, req.url) == ("POST", "http://app/result")
    assert json.loads(req.body) == {"taskID": "5689.13600000000", "goip_line": "G101", "send": "failed",
                                    "err_code": "350"}
    assert req.headers["Content-Type"].startswith("application/json")
    req = fmt["goip-result"]("receipt", {**base, "delivered": True, "status": "delivered"})
    assert json.loads(req.body) == {"taskID": "5689.13600000000", "goip_line": "G101", "send": "succeeded",
                                    "receipt": "1"}
    assert fmt["goip-result"]("mo", {}) is None and fmt["goip-mo"]("result", base) is None
    mo = fmt["goip-mo"]("mo", {"id": 1, "line": "G101", "originator": "10086", "text": "尊敬的客户",
                               "encoding": "U", "message_date": "2019-09-26 15:26:01",
                               "receive_date": "2019-09-26 15:26:05"})
    assert mo.url == "http://app/mo"
    assert json.loads(mo.body.decode("utf-8")) == {"goip_line": "G101", "from_number": "10086",
                                                   "content": "尊敬的客户", "recv_time": "2019-09-26 15:26:05"}


def test_push_bodies():
    base = {"message_id": 7, "task_id": 5689, "sub_task": "5689.13600000000", "line": "G101"}
    assert goip.result_push("result", {**base, "status": "sent", "error_code": None}) == {
        "taskID": "5689.13600000000", "goip_line": "G101", "send": "succeeded"}
    assert goip.result_push("result", {**base, "line": None, "status": "failed", "error_code": None,
                                       "failure_cause": "EXPIRED"}) == {
        "taskID": "5689.13600000000", "goip_line": "null", "send": "failed", "err_code": goip.NO_CODE}
    assert goip.result_push("result", {**base, "sub_task": None, "task_id": None, "status": "sent"}) is None
    assert goip.result_push("receipt", {**base, "delivered": False, "status": "failed"}) is None
    assert goip.mo_push("mo", {"line": "G1", "originator": "+861", "text": None,
                               "receive_date": "2025-10-25T15:30:00+08:00"})["recv_time"] == "2025-10-25 15:30:00"
    assert json.loads(goip.to_json({"content": "bad \ud800 pair"})) == {"content": "bad \ud800 pair"}


# --- generated bodies ------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
ODD_TEXT = st.one_of(st.text(max_size=60), st.sampled_from(["", " ", ",", "*", "13600000000", "+8613600000000",
                                                            "sim1", "1.13600000000", "\x00", "\ud800", "9" * 30]),
                     st.lists(st.from_regex(r"\+?[0-9]{1,22}", fullmatch=True), max_size=8).map(",".join),
                     st.text(min_size=2000, max_size=4000), hostile.SURROGATE_TEXT, hostile.CHINESE)
FIELD = st.one_of(ODD_TEXT, JSON_VALUES)
KEYS = st.sampled_from(["number", "content", "goip_line", "provider", "taskID", "client_ref", "auth"])
# Credentials as sent, or spoiled: lone surrogates ("\udXXX" escapes), other texts and types.
AUTHS = st.just(AUTH) | st.fixed_dictionaries({"username": st.just("admin") | hostile.SURROGATE_TEXT | FIELD,
                                               "password": st.just("s3cret") | hostile.SURROGATE_TEXT | FIELD})
VALID = json.dumps({"auth": AUTH, "number": "13600000000,13611111111", "content": "你好"}, ensure_ascii=False).encode()
BODIES = st.one_of(
    st.binary(max_size=200),
    hostile.spoiled(VALID),  # bytes inserted into a valid body (invalid UTF-8, GBK, NULs, huge), or cut
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(KEYS, FIELD, max_size=6).map(lambda d: json.dumps({"auth": AUTH, **d}).encode()),
    st.builds(hostile.as_json,
              st.fixed_dictionaries({"auth": AUTHS, "number": ODD_TEXT, "content": ODD_TEXT},
                                    optional={"goip_line": FIELD, "provider": FIELD, "client_ref": ODD_TEXT}),
              st.sampled_from(["ascii", "utf-8", "gb18030"])),  # surrogates as escapes, raw UTF-8, or GBK
)
REQUEST_IDS = itertools.count()


@pytest.fixture
def fuzz_api(make_api):
    return make_api(lines={"sim1": {"daily_limit": 0, "provider": "CMCC"}, "sim2": {"daily_limit": 0}})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(ENDPOINTS), raw=BODIES, slash=st.booleans(), request_id=st.none() | hostile.HEADER)
def test_generated_bodies_get_a_dialect_reply_and_store_all_or_nothing(fuzz_api, name, raw, slash, request_id):
    before = counts(fuzz_api)
    # A header of odd bytes (never reused: a replayed example must not meet its own first submission).
    headers = {} if request_id is None else {"X-Request-Id": request_id + b"-%d" % next(REQUEST_IDS)}
    reply = call(fuzz_api, name, raw, slash=slash, headers=headers)
    assert reply.status in (200, 400, 401), (reply.status, reply.text)
    body = reply.json()
    after = counts(fuzz_api)
    if reply.status != 200:
        assert body["result"] == "REJECT" and body["reason"] == "unknown" and body["detail"]
        assert after == before
    elif name == "sendsms" and body["result"] == "ACCEPT":
        sent = json.loads(raw.decode("utf-8-sig"))
        distinct = {n.strip() for n in str(sent["number"]).split(",") if n.strip()}
        assert after == (before[0] + len(distinct), before[1] + 1)
        assert len(query(fuzz_api, body["taskID"])) == len(distinct)
    elif name == "sendsms":
        assert body in ({"result": "REJECT", "reason": "none_line"}, {"result": "REJECT", "reason": "none_provider"})
        assert after == before
    else:
        assert isinstance(body, list) and all(isinstance(v, str) for item in body for v in item.values())
        assert after == before


def test_a_jindi_send_is_followed_with_goip_querysms(api):
    import xml.etree.ElementTree as ET

    doc = ET.fromstring(api.get("/send", password="jpass", recipient="13800138000", text="cross-dialect").body)
    msg_id = int(doc.findtext("msg_id"))
    task_id = api.stack.row(msg_id)["task_id"]
    assert task_id is not None
    api.stack.wait_rows([msg_id], lambda r: r["status"] == "S")
    reply = api.post_json("/goip/querysms/", {"auth": {"username": "admin", "password": "s3cret"},
                                              "taskID": str(task_id)}).json()
    assert [(r["taskID"], r["send"]) for r in reply] == [(f"{task_id}.13800138000", "succeeded")]
