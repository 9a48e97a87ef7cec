"""Random parameters on /mt and /mo, GET and POST: always HTTP 200 with a
well-formed reply of the dialect (never an internal error, 9502), and a /mt
stores all of its messages or nothing."""

from __future__ import annotations

import json
import re
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from . import hostile
from .somp_helpers import JSON, PASSWORD, SOMP_CONFIG, TEXT, USER, XML, out_rows, task_rows

CODES = {9002, 9012, 9013, 9014, 9016, 9017, 9018, 9025, 9030, 9031, 9032, 9101, 9102, 9103, 9104, 9408}
KEYS = st.sampled_from(["un", "pw", "ts", "da", "sm", "tf", "dc", "rd", "sa", "ex", "st", "vp", "pr", "rf", "fs",
                        "ec", "pi", "ld", "mu", "rl"]) | st.text(max_size=8)
VALUES = st.one_of(
    st.sampled_from([USER, PASSWORD, "13800138000", "13800138000;13900139000", "$$", "|", "", "0", "1", "2", "3",
                     "8", "15", "-1", "c4fabac3", "414243", "YWJj", "20991231235959", "20000101000000",
                     "13800000001#1#abc|13800000002##x", "99999999999999999999", "%", "#"]),
    st.text(max_size=40),
    st.builds(lambda c, n: c * n, st.characters(), st.integers(200, 5_000)),  # long values
)
RAW = st.binary(max_size=40).map(lambda b: urllib.parse.quote_from_bytes(b)) | hostile.PERCENT  # not UTF-8...
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@pytest.fixture
def api(make_api):
    return make_api(config_text=SOMP_CONFIG)


def outcome(reply) -> tuple[int, list]:
    """(refusal code or 0, the /mt id or the /mo records) of a reply, checking its form."""
    assert reply.status == 200, reply.body[:300]
    kind = reply.headers["Content-Type"]
    if kind == TEXT:
        if m := re.fullmatch(r"r=(\d+)", reply.text):
            return int(m.group(1)), []
        if m := re.fullmatch(r"id=([1-9]\d*)", reply.text):
            return 0, [int(m.group(1))]
        lines = reply.text.split("\r\n") if reply.text else []
        assert all(re.fullmatch(r"op=(mo|dr)(&[a-z]{2}=[A-Za-z0-9%._~-]*)+", line) for line in lines), reply.text
        return 0, lines
    if kind == XML:
        doc = ET.fromstring(reply.body)
        if doc.tag == "r":
            return int(doc.text or ""), []
        if doc.tag == "id":
            return 0, [int(doc.text or "")]
        assert doc.tag == "list"
        return 0, doc.findall("item")
    assert kind == JSON, kind
    body = json.loads(reply.body)
    if "r" in body:
        return int(body["r"]), []
    assert body["success"] is True
    return 0, [int(body["id"])] if "id" in body else body["list"]


@pytest.mark.parametrize("path", ["/mt", "/mo"])
@FUZZ
@given(fields=st.dictionaries(KEYS, VALUES | RAW.map(lambda v: ("raw", v)), max_size=7), post=st.booleans(),
       base=st.booleans())
def test_any_parameters_give_the_dialect_reply_and_store_all_or_nothing(api, path, fields, post, base):
    if base:  # start from a valid request so that the fuzz reaches the deeper checks
        fields = {"un": USER, "pw": PASSWORD, "da": "13800138000", "sm": "414243", **fields}
    assume(sum(len(k) + len(v if isinstance(v, str) else v[1]) for k, v in fields.items()) < 150_000)
    before, _ = out_rows(api)
    reply = api.send_fields(path, fields, post=post)
    code, found = outcome(reply)
    event(f"code {code}")
    assert code in CODES or code == 0, reply.text
    after, _ = out_rows(api)
    if path == "/mt" and code == 0:
        assert len(found) == 1 and after - before == len(task_rows(api, found[0])) > 0
    else:
        assert after == before
