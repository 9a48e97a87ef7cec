"""Request parameters as raw bytes (agent.api.forms): the parser every byte-level dialect uses."""

from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.api import forms

KEYS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="&=+%"), min_size=1,
               max_size=8)


@settings(max_examples=200, deadline=None)
@given(fields=st.dictionaries(KEYS, st.binary(max_size=40), max_size=6))
def test_urlencoded_gives_back_the_exact_bytes(fields):
    encoded = "&".join(f"{k}={urllib.parse.quote_from_bytes(v, safe='')}" for k, v in fields.items()).encode()
    assert forms.urlencoded(encoded) == fields


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_urlencoded_never_fails(data):
    assert isinstance(forms.urlencoded(data), dict)


def test_urlencoded_rules():
    assert forms.urlencoded(b"a=1+2%2B3&b&&c=%zz&a=last&%E4%BD%A0=x") == {
        "a": b"last", "b": b"", "c": b"%zz", "\xe4\xbd\xa0": b"x"}


def test_fields_body_wins_and_multipart_keeps_bytes_and_skips_files():
    body = (b'--B\r\nContent-Disposition: form-data; name="msg"\r\n\r\n' + "短信".encode("gbk") +
            b'\r\n--B\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nfile\r\n--B--\r\n')
    assert forms.fields(b"msg=q&mobile=1", body, "multipart/form-data; boundary=B") == {
        "msg": "短信".encode("gbk"), "mobile": b"1"}
    assert forms.fields(b"a=1", b"a=2&b=3", "text/plain") == {"a": b"2", "b": b"3"}  # url-encoded whatever it says


def test_an_unreadable_multipart_body_keeps_the_query_fields():
    with pytest.raises(forms.UnreadableBody) as refused:
        forms.fields(b"rf=2&a=1", b"\x00garbage", "multipart/form-data")
    assert refused.value.fields == {"rf": b"2", "a": b"1"}


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300), boundary=st.text(max_size=10))
def test_any_multipart_body_is_fields_or_unreadable(body, boundary):
    try:
        got = forms.fields(b"", body, f"multipart/form-data; boundary={boundary}")
    except forms.UnreadableBody:
        return
    assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in got.items())
