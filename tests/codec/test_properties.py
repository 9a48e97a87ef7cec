"""Property tests: the decoder only ever raises PduError, and encode -> decode
gives the text back for any text, single part or multipart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.codec import gsm7, gsm7_tables, parts, pdu
from agent.errors import PduError

GSM_CHARS = "".join(c for c in gsm7_tables.DEFAULT if c != "\x1b") + "".join(gsm7_tables.DEFAULT_EXTENSION.values())
gsm_text = st.text(alphabet=GSM_CHARS, max_size=400)
# any text without lone surrogates (they cannot be sent at all): emoji, CJK, controls...
any_text = st.text(max_size=300)
numbers = st.from_regex(r"\+?[0-9*#]{1,20}", fullmatch=True)
senders = numbers | st.text(alphabet=GSM_CHARS, min_size=1, max_size=11).filter(
    lambda s: gsm7.septet_count(s) <= 11)
timestamps = st.builds(
    lambda dt, quarters: dt.replace(tzinfo=timezone(timedelta(minutes=15 * quarters))),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)).map(
        lambda d: d.replace(microsecond=0)),
    st.integers(-79, 79),
)


def _decode_only_raises_pdu_error(pdu_input, has_smsc):
    try:
        pdu.decode(pdu_input, has_smsc=has_smsc)
    except PduError as exc:
        assert exc.__cause__ is None, f"safety net hit: {exc.__cause__!r}"


@settings(max_examples=500)
@given(st.binary(max_size=200), st.booleans())
def test_decode_bytes_never_raises_anything_else(data, has_smsc):
    _decode_only_raises_pdu_error(data, has_smsc)
    _decode_only_raises_pdu_error(data.hex(), has_smsc)


@settings(max_examples=300)
@given(st.text(max_size=100), st.booleans())
def test_decode_any_string_never_raises_anything_else(text, has_smsc):
    _decode_only_raises_pdu_error(text, has_smsc)


@settings(max_examples=300)
@given(st.sampled_from(["04", "44", "01", "11", "19", "51", "06", "07"]), st.binary(max_size=180))
def test_decode_plausible_headers_never_raises_anything_else(first_octet, rest):
    # start with a sane SMSC field and first octet so that fuzzing reaches the deeper fields
    _decode_only_raises_pdu_error("00" + first_octet + rest.hex(), True)


@settings(max_examples=300)
@given(gsm_text.filter(lambda t: gsm7.septet_count(t) <= 160), numbers, st.booleans(), st.integers(0, 255))
def test_single_gsm7_submit_round_trips(text, recipient, srr, mr):
    msg = pdu.decode(pdu.encode_submit(recipient, text, srr=srr, mr=mr).hex)
    assert (msg.text, msg.encoding, msg.recipient, msg.srr, msg.mr) == (text, "gsm7", recipient, srr, mr)


@settings(max_examples=300)
@given(any_text, numbers, st.integers(0, 255), st.sampled_from([8, 16]), st.booleans())
def test_any_text_round_trips_through_multipart_submits(text, recipient, ref, ref_bits, flash):
    encoded = parts.encode_submits(recipient, text, ref=ref, ref_bits=ref_bits, flash=flash, max_parts=255)
    decoded = [pdu.decode(e.hex) for e in encoded]
    assert "".join(m.text for m in decoded) == text
    assert all(e.tpdu_length == len(e.hex) // 2 - 1 for e in encoded)
    assert {m.encoding for m in decoded} == {parts.choose_encoding(text)}
    if len(decoded) > 1:
        assert [m.concat.seq for m in decoded] == list(range(1, len(decoded) + 1))


@settings(max_examples=200)
@given(any_text | gsm_text, senders, timestamps, st.integers(0, 65535))
def test_delivers_reassemble_to_the_text(text, sender, scts, ref):
    encoded = parts.encode_delivers(sender, text, ref=ref, scts=scts, ref_bits=16, max_parts=255)
    decoded = [pdu.decode(e.hex) for e in reversed(encoded)]  # in any order: the headers put them back
    if len(decoded) == 1:
        assert decoded[0].concat is None and decoded[0].text == text
    else:
        assert {(d.concat.ref, d.concat.total) for d in decoded} == {(ref, len(decoded))}
        assert "".join(d.text for d in sorted(decoded, key=lambda d: d.concat.seq)) == text
    first = pdu.decode(encoded[0].hex)
    assert (first.sender, first.scts, first.scts.utcoffset()) == (sender, scts, scts.utcoffset())


@given(any_text)
def test_split_parts_join_and_fit(text):
    encoding = parts.choose_encoding(text)
    pieces = parts.split(text, max_parts=255)
    assert "".join(pieces) == text
    if len(pieces) > 1:
        for piece in pieces:
            size = gsm7.septet_count(piece) if encoding == "gsm7" else len(piece.encode("utf-16-be")) // 2
            assert size <= (153 if encoding == "gsm7" else 67)
