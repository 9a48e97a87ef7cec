"""SOMP MD5+timestamp passwords on /mt and /mo: the seed's examples 2 and 5,
the content the digest covers, stale, future, malformed and replayed
timestamps, and the bounded replay memory."""

from __future__ import annotations

import urllib.parse

import pytest

from agent.api.somp import Guard
from agent.config_dialects import SompConfig
from agent.config_net import Credentials
from agent.errors import Refused

from .somp_helpers import PASSWORD, SOMP_CONFIG, USER, digest, get, out_rows, post, somp_config, stamp, task_rows


@pytest.fixture
def api(make_api):
    return make_api(config_text=SOMP_CONFIG)


def md5_query(ts: str, pw: str, **more: str) -> str:
    return "&".join([f"un={USER}", f"pw={urllib.parse.quote(pw, safe='')}", f"ts={ts}",
                     *(f"{k}={v}" for k, v in more.items())])


def test_seed_example_2_tf3_json(api):
    message = "这是一条测试短信,返回 Json"
    ts = stamp()
    query = md5_query(ts, digest(ts, message.encode("utf8")), da="13612345678", sa="8888", ex=str(0x123456789),
                      dc="8", tf="3", rf="2", sm=urllib.parse.quote_plus(message))
    reply = get(api, "/mt", query)
    assert reply.json()["success"] is True, reply.text
    [row] = task_rows(api, int(reply.json()["id"]))
    assert (row["text"], row["originator"], row["client_ref"]) == (message, "8888", "4886718345")
    # The same request again is a replay.
    before = out_rows(api)
    assert get(api, "/mt", query).text == '{"r": "9101"}'
    assert out_rows(api) == before


def test_digest_covers_the_raw_bytes_not_the_transfer_form(api):
    gbk = "您好".encode("gbk")
    ts = stamp(-10)
    assert get(api, "/mt", md5_query(ts, digest(ts, b"c4fabac3"), da="13800000001", sm="c4fabac3",
                                     dc="15")).text == "r=9101"
    assert get(api, "/mt", md5_query(ts, digest(ts, gbk), da="13800000001", sm="c4fabac3",
                                     dc="15")).text.startswith("id=")
    # Base64 transfer: still the raw bytes.
    ts2 = stamp(-20)  # not the first one's second: the same digest would be a replay
    assert get(api, "/mt", md5_query(ts2, digest(ts2, gbk), da="13800000001", sm="xPq6ww%3D%3D", tf="1",
                                     dc="15")).text.startswith("id=")


def test_unencoded_plus_in_the_digest_and_post(api):
    ts = stamp()
    # A digest with a '+' (the first one starting with '+' if any: a leading blank must survive too).
    candidates = [c for c in (f"x{i}".encode() for i in range(2000)) if "+" in digest(ts, c)]
    content = next((c for c in candidates if digest(ts, c).startswith("+")), candidates[0])
    pw = digest(ts, content)
    query = f"un={USER}&pw={pw}&ts={ts}&da=13800000001&sm={content.hex()}"  # '+' left as is: read as a blank
    assert get(api, "/mt", query).text.startswith("id=")
    ts2 = stamp(1)
    body = md5_query(ts2, digest(ts2, b"post"), da="13800000001", sm=b"post".hex())
    assert post(api, "/mt", body).text.startswith("id=")


def test_timestamp_window(api):
    for offset, ok in ((-290, True), (290, True), (-310, False), (310, False)):
        ts = stamp(offset)
        reply = get(api, "/mt", md5_query(ts, digest(ts, b"A"), da="13800000001", sm="41"))
        assert reply.text.startswith("id=") if ok else reply.text == "r=9101", (offset, reply.text)


def test_configured_window_and_malformed_timestamps(make_api):
    api = make_api(config_text=somp_config(timestamp_window="30"))
    ts = stamp(-60)
    assert get(api, "/mt", md5_query(ts, digest(ts, b"A"), da="13800000001", sm="41")).text == "r=9101"
    for ts in ("abc", "2024010100000", "20241301000000", "２０２４０１０１０００００"):
        query = md5_query(urllib.parse.quote(ts), digest(ts, b"A"), da="13800000001", sm="41")
        assert get(api, "/mt", query).text == "r=9101", ts
    # The content must decode before the digest can be checked: its own code.
    ts = stamp()
    assert get(api, "/mt", md5_query(ts, "x", da="13800000001", sm="4")).text == "r=9012"
    assert get(api, "/mt", md5_query(ts, "x", da="13800000001", sm="41", tf="5")).text == "r=9025"
    assert out_rows(api)[0] == 0


def test_wrong_digest_user_and_no_content(api):
    ts = stamp()
    assert get(api, "/mt", md5_query(ts, digest(ts, b"B"), da="13800000001", sm="41")).text == "r=9101"
    assert get(api, "/mt", md5_query(ts, digest(ts, b"A", password="other"), da="13800000001",
                                     sm="41")).text == "r=9101"
    # No sm: the digest has no content, and the request then lacks its text.
    assert get(api, "/mt", md5_query(ts, digest(ts, None), da="13800000001")).text == "r=9012"


def test_seed_example_5_mo_digest_and_replay(api):
    api.stack.sim[0].deliver("13700000001", "md5")
    api.stack.wait_sql("SELECT COUNT(*) FROM smsserver_in", lambda rows: rows[0][0] >= 1)
    ts = stamp()
    query = md5_query(ts, digest(ts, None), fs="100", rf="1")
    assert "<sa>13700000001</sa>" in get(api, "/mo", query).text
    assert get(api, "/mo", query).text == '<?xml version="1.0"?>\n<r>9101</r>'
    ts2 = stamp(-2)
    assert get(api, "/mo", md5_query(ts2, digest(ts2, b"content"))).text == "r=9101"


def test_replay_memory_forgets_what_is_stale():
    now = [1_000_000.0]
    guard = Guard(SompConfig(credentials=Credentials(USER, PASSWORD), timestamp_window=60), None,
                  clock=lambda: now[0])
    from datetime import datetime

    def request(offset: float) -> dict[str, bytes]:
        ts = datetime.fromtimestamp(now[0] + offset).strftime("%Y%m%d%H%M%S")
        return {"un": USER.encode(), "ts": ts.encode(), "pw": digest(ts, None).encode()}

    first, later = request(0), request(30)
    guard.authenticate(first, lambda: None)
    guard.authenticate(later, lambda: None)
    assert guard.remembered == 2
    with pytest.raises(Refused) as refused:
        guard.authenticate(first, lambda: None)
    assert refused.value.reason == 9101
    now[0] += 61  # first is stale now (and forgotten); later (30 s ahead) is still within its window
    guard.authenticate(request(0), lambda: None)
    assert guard.remembered == 2
    with pytest.raises(Refused):
        guard.authenticate(later, lambda: None)
