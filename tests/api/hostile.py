"""Hypothesis strategies of what careless and hostile clients send: bytes that
are not UTF-8, GBK where UTF-8 is expected (and back), lone surrogates (as
JSON ``\\udXXX`` escapes, or as the UTF-8 bytes a surrogate would have),
NULs and huge values.  The property tests of every dialect draw from them."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from hypothesis import strategies as st

LONE_SURROGATE = st.integers(0xD800, 0xDFFF).map(chr)
# A Python text holding a lone surrogate: json.dumps writes it as a "\udXXX" escape.
SURROGATE_TEXT = st.builds(lambda a, s, b: a + s + b, st.text(max_size=8), LONE_SURROGATE, st.text(max_size=8))
CHINESE = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=12)

# Raw value bytes, none of which a careful client sends.
BYTES = st.one_of(
    st.binary(max_size=40),  # mostly not UTF-8
    CHINESE.map(lambda t: t.encode("gb18030")),  # GBK where UTF-8 is expected
    CHINESE.map(lambda t: t.encode("utf-8")),  # UTF-8 where GBK is expected
    SURROGATE_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),  # a surrogate's UTF-8 (invalid)
    st.builds(lambda a, b: a + b"\x00" + b, st.binary(max_size=8), st.binary(max_size=8)),  # NULs
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=3), st.integers(1_000, 20_000)),  # huge
)
PERCENT = BYTES.map(lambda b: urllib.parse.quote_from_bytes(b, safe=""))  # as a form or query value
# Header values waitress lets through (visible ASCII and bytes >= 0x80), mostly not UTF-8.
HEADER = st.binary(min_size=1, max_size=24).map(lambda b: bytes(c for c in b if 0x21 <= c != 0x7F) or b"x")


def spoiled(body: bytes) -> Any:
    """A strategy of ``body`` with hostile bytes inserted at some position, or cut there."""
    def spoil(position: int, junk: bytes, cut: bool) -> bytes:
        at = position % (len(body) + 1)
        return body[:at] if cut else body[:at] + junk + body[at:]

    return st.builds(spoil, st.integers(0, 10_000), BYTES, st.booleans())


def as_json(obj: Any, charset: str = "utf-8") -> bytes:
    """``obj`` as JSON: ASCII with ``\\u`` escapes (lone surrogates included) for
    'ascii', else the raw text in ``charset`` (GBK for a careless PHP client)."""
    if charset == "ascii":
        return json.dumps(obj).encode("ascii")
    return json.dumps(obj, ensure_ascii=False).encode(charset, "surrogatepass" if charset == "utf-8" else "replace")
