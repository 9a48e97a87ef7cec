"""SOMP ``/mt`` through a real socket, over the real queue, router, line workers
and simulated modems (two lines): the seed's examples, the public clients of
api_clients.md (c), every transfer encoding and data coding, batches, the
parameters stored on the rows, and every error code /mt can give."""

from __future__ import annotations

import base64
import re
import urllib.parse
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest

from agent.errors import StoreError

from ..waiting import wait_until
from .somp_helpers import JSON, SOMP_CONFIG, TEXT, XML, auth, get, out_rows, post, sent_texts, somp_config, \
    task_rows

ID = re.compile(r"id=([1-9][0-9]*)")


@pytest.fixture
def api(make_api):
    return make_api(config_text=SOMP_CONFIG)


def task_id(reply) -> int:
    """A text-format success: HTTP 200, text/plain, exactly ``id=<task id>``."""
    assert (reply.status, reply.headers["Content-Type"]) == (200, TEXT), reply.body[:200]
    match = ID.fullmatch(reply.text)
    assert match, reply.text
    return int(match.group(1))


def texts(api, task: int) -> list[tuple[str, str]]:
    return [(row["recipient"], row["text"]) for row in task_rows(api, task)]


def wait_sent(api, count: int) -> None:
    wait_until(lambda: len(sent_texts(api)) >= count, what=lambda: f"{count} sent, got {sent_texts(api)}")


# --- the seed's examples and the public clients --------------------------------------------

def test_seed_example_hex_abc_with_report(api):
    reply = get(api, "/mt", "un=star&pw=123456&da=13612345678&sm=414243&dc=15&rd=1")
    task = task_id(reply)
    [row] = task_rows(api, task)
    assert (row["recipient"], row["text"], row["encoding"], row["status_report"]) == ("13612345678", "ABC", "7", 1)
    assert (row["task_id"], row["sub_task"], row["client_ref"]) == (task, f"{task}.13612345678", None)
    wait_sent(api, 1)
    assert sent_texts(api) == [("13612345678", "ABC")]


def test_seed_example_tf2_plain_text(api):
    task = task_id(get(api, "/mt", "un=star&pw=123456&da=13612345678&sm=ABC&dc=15&tf=2"))
    [row] = task_rows(api, task)
    assert (row["text"], row["status_report"]) == ("ABC", 0)


def test_seed_example_1_ucs2_hex(api):
    hex_text = "这是一条测试短信".encode("utf-16-be").hex()
    task = task_id(get(api, "/mt", f"un=star&pw=123456&da=13612345678&dc=8&sm={hex_text}"))
    assert texts(api, task) == [("13612345678", "这是一条测试短信")]
    wait_sent(api, 1)
    assert sent_texts(api) == [("13612345678", "这是一条测试短信")]


def test_seed_example_3_xml_reply_with_sa_and_ex(api):
    message = urllib.parse.quote_plus("这是一条测试短信, 返回 XML")
    reply = get(api, "/mt", auth(da="13612345678", sa="8888", ex=str(0x123456789), dc="8", tf="3", rf="1",
                                 sm=message))
    assert (reply.status, reply.headers["Content-Type"]) == (200, XML)
    assert re.fullmatch(r'<\?xml version="1.0"\?>\n<id>[1-9][0-9]*</id>', reply.text), reply.text
    task = int(ET.fromstring(reply.body).text or "")
    [row] = task_rows(api, task)
    assert (row["text"], row["originator"], row["client_ref"]) == ("这是一条测试短信, 返回 XML", "8888", "4886718345")


def test_client_java_gbk_hex_starts_with_id(api):
    hex_text = "【签名】您的验证码是1234".encode("gbk").hex()
    reply = get(api, "/mt", auth(da="13800138000", sm=hex_text, dc="15", rd="1"))
    assert reply.text.startswith("id=")
    assert texts(api, task_id(reply)) == [("13800138000", "【签名】您的验证码是1234")]


def test_client_php_gb2312_hex_json_success(api):
    reply = get(api, "/mt", auth(da="13800138000", sm="c4fabac3", dc="15", rf="2"))
    assert (reply.status, reply.headers["Content-Type"]) == (200, JSON)
    assert re.fullmatch(r'\{"success": true, "id": "[1-9][0-9]*"\}', reply.text), reply.text
    body = reply.json()
    assert body["success"] is True
    assert texts(api, int(body["id"])) == [("13800138000", "您好")]


def test_client_java_post_tf3_utf8_contains_true(api):
    sm = urllib.parse.quote("【测试】短信内容 & 100%", safe="")
    reply = api.request("POST", f"/mt?{auth(da='13800138000', sm=sm, dc='15', rd='1', rf='2', tf='3')}", body=b"")
    assert "true" in reply.text
    assert texts(api, int(reply.json()["id"])) == [("13800138000", "【测试】短信内容 & 100%")]


def test_client_js_hand_encoded_utf8(api):
    reply = get(api, "/mt", auth(da="13800138000", sm="%e3%80%90JS%e3%80%91hello", dc="15", rd="1", tf="3"))
    assert texts(api, task_id(reply)) == [("13800138000", "【JS】hello")]


def test_post_form_body_wins_over_query(api):
    body = auth(da="13800000002", sm=urllib.parse.quote("表单", safe=""), tf="3", dc="8")
    task = task_id(post(api, "/mt", body, query="da=13800000001&sm=414243&pw=wrong"))
    assert texts(api, task) == [("13800000002", "表单")]


def test_multipart_form(api):
    boundary = "xYzZY"
    fields = {"un": "star", "pw": "123456", "da": "13800000001", "sm": "好", "tf": "3", "dc": "15"}
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in fields.items()) + f"--{boundary}--\r\n"
    reply = api.request("POST", "/mt", body=body.encode("utf-8"),
                        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert texts(api, task_id(reply)) == [("13800000001", "好")]


# --- transfer encodings x data codings ---------------------------------------------------------

# The seed's table (12.28): "abc" with dc=0, "您好" with dc=15, in every tf.
TABLE = [
    ("0", "0", "616263", "abc"), ("1", "0", "YWJj", "abc"), ("2", "0", "abc", "abc"), ("3", "0", "abc", "abc"),
    ("0", "15", "c4fabac3", "您好"), ("0", "15", "C4FABAC3", "您好"), ("1", "15", "xPq6ww%3D%3D", "您好"),
    ("1", "15", "xPq6ww", "您好"), ("2", "15", "%C4%FA%BA%C3", "您好"), ("3", "15", "%E6%82%A8%E5%A5%BD", "您好"),
    ("", "15", "c4fabac3", "您好"),
    # UCS2 in every tf; tf=3 is UTF-8 whatever dc says.
    ("0", "8", "60A8597D", "您好"), ("1", "8", urllib.parse.quote(base64.b64encode("您好".encode("utf-16-be"))), "您好"),
    ("2", "8", "%60%A8Y%7D", "您好"), ("3", "8", "%E6%82%A8%E5%A5%BD", "您好"), ("3", "0", "%E6%82%A8", "您"),
    # Emoji in UTF-16BE (a surrogate pair).
    ("0", "8", "D83DDE00", "😀"),
    # A Base64 '+' sent unencoded arrives as a blank and is read back as '+'.
    ("1", "8", "+/8=", "\ufbff"),
]


def test_every_transfer_encoding_and_data_coding(api):
    for tf, dc, sm, expected in TABLE:
        query = auth(da="13800138000", sm=sm, dc=dc, **({"tf": tf} if tf else {}))
        assert texts(api, task_id(get(api, "/mt", query))) == [("13800138000", expected)], (tf, dc, sm)


def test_gb18030_four_byte_sequence(api):
    text = "\u20ac\U00020000"  # euro sign and a CJK extension B ideograph: 4-byte sequences of GB18030
    task = task_id(get(api, "/mt", auth(da="13800138000", sm=text.encode("gb18030").hex(), dc="15")))
    assert texts(api, task) == [("13800138000", text)]


# --- recipients and per-recipient batches --------------------------------------------------------

def test_many_recipients_one_task_consecutive_ids_duplicates_once(api):
    reply = get(api, "/mt", auth(da="13800000001;13800000002;%2B8613800000003;%2013800000001;,13800000004;",
                                 sm="6869", ex="77", rd="1"))
    task = task_id(reply)
    rows = task_rows(api, task)
    assert [r["recipient"] for r in rows] == ["13800000001", "13800000002", "+8613800000003", "13800000004"]
    assert [r["id"] for r in rows] == list(range(rows[0]["id"], rows[0]["id"] + 4))
    assert {(r["text"], r["client_ref"], r["task_id"]) for r in rows} == {("hi", "77", task)}
    wait_sent(api, 4)


def test_hundred_recipients_is_the_limit(api):
    numbers = ";".join(f"1380000{i:04d}" for i in range(100))
    assert len(task_rows(api, task_id(get(api, "/mt", auth(da=numbers, sm="41"))))) == 100
    assert get(api, "/mt", auth(da=numbers + ";13900000000", sm="41")).text == "r=9030"


def test_seed_example_7_batch_default_separator(api):
    message = urllib.parse.quote("13622220001#11#测试短信 1|13622220002#12#测试短信 2", safe="")
    for da in ("", None):
        query = auth(sm=message, dc="15", tf="3", ex="99", **({"da": da} if da is not None else {}))
        rows = task_rows(api, task_id(get(api, "/mt", query)))
        assert [(r["recipient"], r["client_ref"], r["text"]) for r in rows] == [
            ("13622220001", "11", "测试短信 1"), ("13622220002", "12", "测试短信 2")]


def test_seed_example_8_ucs2_batch_custom_separator_without_ex(api):
    messages = ["第一条 Тестовое сообщение", "第二条 Тестовое сообщение2"]
    mobiles = ["1381234001", "1381234002"]
    raw = b"$$".join(m.encode("ascii") + b"#" + t.encode("utf-16-be") for m, t in zip(mobiles, messages))
    query = auth(da=urllib.parse.quote("$$"), dc="8", tf="2", ex="5", sm=urllib.parse.quote_from_bytes(raw))
    rows = task_rows(api, task_id(get(api, "/mt", query)))
    assert [(r["recipient"], r["client_ref"], r["text"]) for r in rows] == [
        ("1381234001", "5", messages[0]), ("1381234002", "5", messages[1])]


def test_ucs2_batch_content_holding_separator_and_hash_bytes(api):
    # U+7C7C is bytes 7C 7C ('||') and U+2323 is '##': only a separator followed by 'phone#' splits.
    items = [("13800000001", "籼\u2323籼"), ("13800000002", "x|y")]
    raw = b"|".join(p.encode() + b"#42#" + t.encode("utf-16-be") for p, t in items)
    rows = task_rows(api, task_id(get(api, "/mt", auth(dc="8", sm=raw.hex()))))
    assert [(r["recipient"], r["client_ref"], r["text"]) for r in rows] == [
        ("13800000001", "42", "籼\u2323籼"), ("13800000002", "42", "x|y")]


def test_batch_hex_gbk_with_custom_separator_and_own_ex(api):
    text = "13800000001#1#甲~~13800000002##乙#丙~~13800000003#丁"
    rows = task_rows(api, task_id(get(api, "/mt", auth(da="~~", dc="15", ex="8", sm=text.encode("gbk").hex()))))
    assert [(r["recipient"], r["client_ref"], r["text"]) for r in rows] == [
        ("13800000001", "1", "甲"), ("13800000002", "8", "乙#丙"), ("13800000003", "8", "丁")]


# --- what is stored on the rows -------------------------------------------------------------------

def test_schedule_validity_priority_originator_report_are_stored(api):
    st = datetime.now() + timedelta(hours=2)
    vp = st + timedelta(hours=1)
    query = auth(da="13800000001", sm="41", st=st.strftime("%Y%m%d%H%M%S"), vp=vp.strftime("%Y%m%d%H%M%S"),
                 pr="1", sa="1234", rd="0", ec="0", pi="0", ld="x", mu="mod", rl="0")
    [row] = task_rows(api, task_id(get(api, "/mt", query)))
    assert row["scheduled"] == st.strftime("%Y-%m-%d %H:%M:%S")
    assert row["expires"] == vp.strftime("%Y-%m-%d %H:%M:%S")
    assert (row["priority"], row["originator"], row["status_report"], row["status"]) == (1, "1234", 0, "U")


def test_validity_alone_and_past_schedule_sends_now(api):
    past = (datetime.now() - timedelta(hours=1)).strftime("%Y%m%d%H%M%S")
    vp = (datetime.now() + timedelta(days=1)).strftime("%Y%m%d%H%M%S")
    task = task_id(get(api, "/mt", auth(da="13800000001", sm="41", st=past, vp=vp, pr="-1")))
    wait_sent(api, 1)
    [row] = task_rows(api, task)
    assert (row["priority"], row["expires"][:10]) == (-1, f"{vp[:4]}-{vp[4:6]}-{vp[6:8]}")


def test_long_text_up_to_max_parts(api):
    ok = "a" * (153 * 10)
    assert len(task_rows(api, task_id(get(api, "/mt", auth(da="13800000001", sm=ok, tf="2"))))) == 1
    assert get(api, "/mt", auth(da="13800000001", sm=ok + "a", tf="2")).text == "r=9014"
    assert get(api, "/mt", auth(da="13800000001", sm="%E6%B1%89" * (67 * 10 + 1), tf="3")).text == "r=9014"


# --- refusals ---------------------------------------------------------------------------------------

def _past(hours: float) -> str:
    return (datetime.now() + timedelta(hours=hours)).strftime("%Y%m%d%H%M%S")


REFUSALS = [
    ("pw=123456&da=13800000001&sm=41", 9102),
    ("un=&pw=123456&da=13800000001&sm=41", 9102),
    ("un=nobody&pw=123456&da=13800000001&sm=41", 9103),
    ("un=star&pw=wrong&da=13800000001&sm=41", 9101),
    ("un=star&da=13800000001&sm=41", 9101),
    (auth(da="13800000001"), 9012),
    (auth(da="13800000001", sm=""), 9012),
    (auth(da="13800000001", sm="4"), 9012),
    (auth(da="13800000001", sm="zz"), 9012),
    (auth(da="13800000001", sm="%%%", tf="1"), 9012),
    (auth(da="13800000001", sm="QQ%3DQ", tf="1"), 9012),
    (auth(da="13800000001", sm="A", tf="1"), 9012),
    (auth(da="13800000001", sm="41", tf="4"), 9025),
    (auth(da="13800000001", sm="41", tf="x"), 9025),
    (auth(da="13800000001", sm="41", dc="4"), 9025),
    (auth(da="13800000001", sm="41", dc="abc"), 9025),
    (auth(da="13800000001", sm="c4fa"), 9025),  # dc=0 is ASCII
    (auth(da="13800000001", sm="c4fa", dc="0"), 9025),
    (auth(da="13800000001", sm="60A859", dc="8"), 9025),  # odd length
    (auth(da="13800000001", sm="D800", dc="8"), 9025),  # lone surrogate
    (auth(da="13800000001", sm="ff", dc="15"), 9025),
    (auth(da="13800000001", sm="%FF", tf="3", dc="15"), 9025),
    (auth(da="1380000000a", sm="41"), 9013),
    (auth(da="12", sm="41"), 9013),
    (auth(da="13800000001;++1", sm="41"), 9013),
    (auth(da="%D9%A1%D9%A3%D9%A8", sm="41"), 9013),  # Arabic-Indic digits
    (auth(da=";".join(["13800000001"] * 101), sm="41"), 9030),
    (auth(da=";", sm="41"), 9031),
    (auth(da=";;%20;", sm="41"), 9031),
    (auth(sm="hello", tf="2"), 9031),  # a batch without 'phone#'
    (auth(sm="12%23hello", tf="2"), 9013),
    (auth(sm="13800000001%23", tf="2"), 9012),
    (auth(sm="13800000001%235%23", tf="2"), 9012),
    (auth(sm="|".join(f"1380000{i:04d}%23x" for i in range(101)), tf="2"), 9030),
    (auth(sm="13800000001%2399999999999999999999%23x", tf="2"), 9002),
    (auth(sm="hello".encode("utf-16-be").hex(), dc="8"), 9031),
    (auth(sm=("12#" + "a").encode("ascii").hex() + "0061", dc="8"), 9013),
    (auth(da="13800000001", sm="41", st="2024-01-01"), 9017),
    (auth(da="13800000001", sm="41", st="20241301000000"), 9017),
    (auth(da="13800000001", sm="41", vp="tomorrow"), 9018),
    (auth(da="13800000001", sm="41", vp="20240230000000"), 9018),
    (auth(da="13800000001", sm="41", vp=_past(-1)), 9408),
    (auth(da="13800000001", sm="41", st=_past(3), vp=_past(2)), 9018),
    (auth(da="13800000001", sm="41", rd="yes"), 9002),
    (auth(da="13800000001", sm="41", pr="high"), 9002),
    (auth(da="13800000001", sm="41", pr="1000"), 9002),
    (auth(da="13800000001", sm="41", ex="abc"), 9002),
    (auth(da="13800000001", sm="41", ex="9" * 20), 9002),
    (auth(da="13800000001", sm="41", sa="a-b"), 9002),
    (auth(da="13800000001", sm="41", sa="1" * 17), 9002),
    (auth(da="13800000001", sm="a" * (153 * 10 + 1), tf="2"), 9014),
]


def test_every_refusal_is_r_code_and_stores_nothing(api):
    before = out_rows(api)
    for query, code in REFUSALS:
        reply = get(api, "/mt", query)
        assert (reply.status, reply.headers["Content-Type"], reply.text) == (200, TEXT, f"r={code}"), query[:200]
    assert out_rows(api) == before


def test_refusal_in_every_reply_format(api):
    for rf, content_type, body in (("1", XML, '<?xml version="1.0"?>\n<r>9101</r>'), ("2", JSON, '{"r": "9101"}'),
                                   ("0", TEXT, "r=9101"), ("7", TEXT, "r=9101"), ("x", TEXT, "r=9101")):
        reply = get(api, "/mt", f"un=star&pw=bad&da=13800000001&sm=41&rf={rf}")
        assert (reply.status, reply.headers["Content-Type"], reply.text) == (200, content_type, body), rf
    # The query's rf also shapes a refusal of an unreadable body.
    reply = api.request("POST", "/mt?rf=2", body=b"x", headers={"Content-Type": "multipart/form-data"})
    assert reply.text == '{"r": "9002"}'


def test_no_enabled_line_is_9016(make_api):
    api = make_api(config_text=SOMP_CONFIG, lines={"sim1": {"enabled": False}, "sim2": {"enabled": False}})
    assert get(api, "/mt", auth(da="13800000001", sm="41")).text == "r=9016"
    assert out_rows(api)[0] == 0


def test_store_failure_is_9502(api, monkeypatch):
    def broken(*args, **kwargs):
        raise StoreError("disk full")

    monkeypatch.setattr(api.core, "submit", broken)
    assert get(api, "/mt", auth(da="13800000001", sm="41", rf="2")).text == '{"r": "9502"}'
    monkeypatch.setattr(api.core, "line_names", lambda: 1 / 0)  # any internal failure: the same code
    assert get(api, "/mt", auth(da="13800000001", sm="41")).text == "r=9502"
    assert out_rows(api)[0] == 0


def test_allow_list_refuses_other_addresses_first(make_api):
    api = make_api(config_text=somp_config(allow="10.0.0.0/8"))
    assert get(api, "/mt", "un=&pw=bad").text == "r=9104"
    assert get(api, "/mo", auth()).text == "r=9104"
    ok = make_api(config_text=somp_config(allow="127.0.0.1"))
    task_id(get(ok, "/mt", auth(da="13800000001", sm="41")))


def test_max_rate_is_9032_after_auth(make_api):
    api = make_api(config_text=somp_config(max_rate="0.01"))
    task_id(get(api, "/mt", auth(da="13800000001", sm="41")))
    assert get(api, "/mt", "un=star&pw=bad").text == "r=9101"  # auth comes first, takes no token
    assert get(api, "/mt", auth(da="13800000001", sm="41")).text == "r=9032"
    assert get(api, "/mo", auth()).text == ""  # /mo is not a submission
    assert out_rows(api)[0] == 1


def test_open_api_without_password(make_api):
    config = SOMP_CONFIG.replace("password = s3cret", "password =").replace("password = 123456", "password =")
    api = make_api(config_text=config)
    assert api.config.somp.credentials.configured is False
    task_id(get(api, "/mt", "da=13800000001&sm=41"))
    task_id(get(api, "/mt", "un=anyone&pw=x&ts=1&da=13800000001&sm=41"))


def test_auth_section_credentials_are_the_default(make_api):
    from .conftest import CONFIG

    api = make_api(config_text=CONFIG)
    task_id(get(api, "/mt", "un=admin&pw=s3cret&da=13800000001&sm=41"))
    assert get(api, "/mt", auth(da="13800000001", sm="41")).text == "r=9103"


def test_unknown_methods_and_paths_are_not_somp(api):
    assert api.request("PUT", "/mt", body=b"").status == 405
