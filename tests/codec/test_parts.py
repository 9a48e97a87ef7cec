"""agent.codec.parts: splitting and multipart encoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.codec import parts, pdu
from agent.errors import EncodeError, TooManyParts

VECTORS = {v["id"]: v for v in json.loads((Path(__file__).parents[1] / "data" / "pdu_vectors.json").read_text())}


def test_choose_encoding():
    assert parts.choose_encoding("Hello {world} €5") == "gsm7"
    assert parts.choose_encoding("") == "gsm7"
    assert parts.choose_encoding("naïve") == "ucs2"
    assert parts.choose_encoding("😀") == "ucs2"


@pytest.mark.parametrize("text, encoding, sizes", [
    ("a" * 160, None, [160]),
    ("a" * 161, None, [153, 8]),
    ("€" * 80, None, [80]),
    ("ж" * 70, None, [70]),
    ("ж" * 71, None, [67, 4]),
    ("x" * 140, "8bit", [140]),
    ("x" * 141, "8bit", [134, 7]),
    ("x" * 70, "ucs2", [70]),
    ("", None, [0]),
])
def test_part_sizes(text, encoding, sizes):
    assert [len(p) for p in parts.split(text, encoding=encoding)] == sizes


def test_16_bit_references_leave_less_room():
    assert [len(p) for p in parts.split("a" * 161, ref_bits=16)] == [152, 9]
    assert [len(p) for p in parts.split("ж" * 71, ref_bits=16)] == [66, 5]
    assert [len(p) for p in parts.split("x" * 141, encoding="8bit", ref_bits=16)] == [133, 8]


def test_an_escape_pair_never_straddles_parts():
    text = "a" * 152 + "€" + "b" * 10
    assert parts.split(text) == ["a" * 152, "€" + "b" * 10]


def test_a_surrogate_pair_never_straddles_parts():
    text = "ж" * 66 + "😀" + "ж" * 10
    assert parts.split(text) == ["ж" * 66, "😀" + "ж" * 10]
    # 35 emoji are 70 UTF-16 units: one SMS; 36 need two parts of 33 + 3 emoji
    assert parts.split("😀" * 35) == ["😀" * 35]
    assert [len(p) for p in parts.split("😀" * 36)] == [33, 3]


def test_too_many_parts():
    parts.split("a" * 1530)
    with pytest.raises(TooManyParts) as info:
        parts.split("a" * 1531)
    assert (info.value.needed, info.value.maximum) == (11, 10)
    with pytest.raises(TooManyParts):
        parts.split("a" * 400, max_parts=2)
    with pytest.raises(TooManyParts) as info:
        parts.split("a" * 153 * 256, max_parts=1000)
    assert info.value.maximum == 255


def test_split_rejects_text_the_encoding_cannot_carry():
    for text, encoding in [("ж", "gsm7"), ("€", "8bit"), ("x", "utf-8")]:
        with pytest.raises(EncodeError):
            parts.split(text, encoding=encoding)


def test_encode_submits_reproduces_a_real_multipart_message():
    full = VECTORS["pm-multipart-3of3"]["expected"]["full_message_text"]
    encoded = parts.encode_submits("655345678", full, ref=136, validity_minutes=4 * 1440)
    assert len(encoded) == 3
    assert encoded[1].hex == VECTORS["pm-multipart-2of3"]["hex"]
    assert encoded[2].hex == VECTORS["pm-multipart-3of3"]["hex"]
    assert encoded[1].tpdu_length == 153


def test_encode_submits_single_part_has_no_header():
    (only,) = parts.encode_submits("+1", "short", ref=1)
    msg = pdu.decode(only.hex)
    assert (msg.concat, msg.udh, msg.text) == (None, (), "short")


@pytest.mark.parametrize("ref_bits", [8, 16])
def test_encode_submits_round_trips(ref_bits):
    text = "Zażółć gęślą jaźń 😀 " * 12
    encoded = parts.encode_submits("+48123", text, ref=200, ref_bits=ref_bits, srr=True, flash=True,
                                   smsc="+48790998250", validity_minutes=60)
    decoded = [pdu.decode(e.hex) for e in encoded]
    assert "".join(m.text for m in decoded) == text
    assert [m.concat.seq for m in decoded] == list(range(1, len(encoded) + 1))
    assert {(m.concat.ref, m.concat.total, m.concat.ref_bits, m.srr, m.message_class) for m in decoded} == {
        (200, len(encoded), ref_bits, True, 0)}


def test_encode_rejects_bad_references():
    for ref, bits in [(256, 8), (-1, 8), (65536, 16), (1, 7)]:
        with pytest.raises(EncodeError):
            parts.encode_submits("+1", "x", ref=ref, ref_bits=bits)
