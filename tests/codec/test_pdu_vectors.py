"""Every vector of tests/data/pdu_vectors.json against agent.codec.pdu.decode.

Both the values the source asserts (``expected``) and the values of the
reference decoder (``derived_by_reference_decoder``) are checked. Where one of
them is wrong by 3GPP TS 23.040 / 23.038, or differs from a documented policy of
agent.codec.pdu, OVERRIDES / MUST_FAIL hold the value we assert instead and why.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.codec import pdu
from agent.errors import PduError

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "pdu_vectors.json").read_text("utf-8"))
BY_ID = {v["id"]: v for v in VECTORS}

# Vectors whose source expects a lenient decode, but whose user data is truncated.
MUST_FAIL = {
    "pgm-submit-ucs2-bad-udl": "TP-UDL is 160 octets but only 10 follow; python-gsmmodem decodes what is "
    "there, but truncated user data is an error (policy; 23.040 9.2.3.16 makes TP-UDL authoritative)",
    "smspdudecoder-truncated-ucs2": "TP-UDL is 68 octets but 17 follow; the source invents '…' or U+5C00, "
    "we reject truncated user data instead of guessing",
}

# (vector id, key) -> (value we assert, why it differs from the vector)
OVERRIDES = {
    ("pgm-status-report-zte-broken", "recipient_as_decoded_by_source"): (
        "+#08427829207025", "semi-octet 0xB is '#' (23.040 9.1.2.3); python-gsmmodem renders it 'b'"),
    ("ofono-sr-pdu3", "scts"): (
        "2010-09-21T14:03:46+00:00", "TZ octet 0xA0 has units nibble 0xA: invalid, read as +00:00 (policy)"),
    ("ofono-sr-pdu3", "discharge_time"): (
        "2010-09-21T14:03:54+00:00", "TZ octet 0xA0 has units nibble 0xA: invalid, read as +00:00 (policy)"),
    ("smslib-sr-safaricom-7", "scts"): (
        "2011-12-21T11:33:19+00:00", "TZ octet 0xE1 has units nibble 0xE: invalid, read as +00:00 (policy), "
        "which is also what smslib's dateOriginal_epoch_ms asserts"),
    ("smslib-sr-safaricom-8", "scts"): (
        "2011-12-21T11:38:47+00:00", "TZ octet 0xE1 is invalid, read as +00:00 (see safaricom-7)"),
    ("gammu-atsms24-smsc-no-digits", "smsc"): (
        None, "an SMSC field with a TOA and no digits carries no address: smsc is None (policy)"),
}

# Keys not checked, and why.
IGNORED = {
    "udl": "TP-UDL is not exposed; the decoded text/data checks cover it",
    "vp_raw": "covered by the decoded validity",
    "rd": "TP-RD is not exposed",
    "text_by_source": "a source's human rendering of the status, not PDU content",
    "text_by_source_v2_2": "the source invents text for truncated data (see MUST_FAIL)",
    "text_by_source_older": "the source invents text for truncated data (see MUST_FAIL)",
    "warning_expected": "we raise PduError instead of warning (see MUST_FAIL)",
    "full_message_text": "checked by test_part_is_a_slice_of_the_full_text",
}

# Reference-decoder keys that describe fields we do not expose or that restate others.
DERIVED_IGNORED = {
    "smsc_toa", "first_octet", "rp", "udhi", "rd", "srq", "sender_ton", "sender_toa", "recipient_ton",
    "recipient_toa", "status_hex", "status_meaning", "udl", "vp_raw", "pi", "scts_tz_invalid",
    "dt_tz_invalid", "truncated", "type",
}
# A status report exposes neither TP-MMS nor its optional TP-PI/PID/DCS/UD (ignored by policy).
STATUS_REPORT_IGNORED = {"pid", "dcs", "encoding", "class", "text", "data_hex", "more_messages_waiting"}


def _duration(iso: str) -> timedelta:
    match = re.fullmatch(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", iso)
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def _epoch_ms(ts: datetime) -> int:
    return round(ts.timestamp() * 1000)


def _naive_utc(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).replace(tzinfo=None).isoformat()


def _actual(msg, key: str):
    """The decoded value comparable with a vector's value for ``key``."""
    getters = {
        "smsc": lambda: msg.smsc,
        "sender": lambda: msg.sender,
        "recipient": lambda: msg.recipient,
        "recipient_as_decoded_by_source": lambda: msg.recipient,
        "text": lambda: msg.text,
        "scts": lambda: msg.scts.isoformat(),
        "scts_as_decoded_by_source": lambda: msg.scts.isoformat(),
        "discharge_time": lambda: msg.discharge_time.isoformat(),
        "scts_local_naive": lambda: msg.scts.replace(tzinfo=None).isoformat(),
        "discharge_local_naive": lambda: msg.discharge_time.replace(tzinfo=None).isoformat(),
        "scts_utc_naive": lambda: _naive_utc(msg.scts),
        "dateOriginal_epoch_ms": lambda: _epoch_ms(msg.scts),
        "timestamp_epoch_ms": lambda: _epoch_ms(msg.scts),
        "dateReceived_epoch_ms": lambda: _epoch_ms(msg.discharge_time),
        "pid": lambda: msg.pid,
        "dcs": lambda: f"{msg.dcs:02X}",
        "mr": lambda: msg.reference if msg.type == "SMS-STATUS-REPORT" else msg.mr,
        "status": lambda: msg.status,
        "srr": lambda: msg.srr,
        "sri": lambda: msg.sri,
        "more_messages_waiting": lambda: msg.more_messages,
        "tpdu_length": lambda: msg.tpdu_length,
        "encoding": lambda: msg.encoding,
        "data_hex": lambda: msg.data.hex().upper(),
        "msg_class": lambda: "UNKNOWN" if msg.message_class is None else msg.message_class,
        "class": lambda: msg.message_class,
        "multipart": lambda: msg.concat is not None,
        "concat": lambda: msg.concat and {"ref": msg.concat.ref, "ref_bits": msg.concat.ref_bits,
                                          "total": msg.concat.total, "seq": msg.concat.seq},
        "ports": lambda: msg.ports and {"dest": msg.ports[0], "src": msg.ports[1],
                                        "bits": 16 if any(i == 5 for i, _ in msg.udh) else 8},
        "udh": lambda: [(f"{i:02X}", d.hex().upper()) for i, d in msg.udh],
        "vpf": lambda: {type(None): "none", timedelta: "relative", datetime: "absolute"}[type(msg.validity)],
        "validity": lambda: msg.validity,
        "android_originating_address": lambda: msg.sender,
        # Android splits an email-gateway body at the first " /" or " " (SmsMessageBase).
        "android_email_from": lambda: re.split(r" /| ", msg.text, maxsplit=1)[0],
        "android_email_body": lambda: re.split(r" /| ", msg.text, maxsplit=1)[1],
    }
    return getters[key]()


def _wanted(vector_id: str, key: str, value):
    if (vector_id, key) in OVERRIDES:
        return OVERRIDES[(vector_id, key)][0]
    if key == "udh":
        return [(ie["iei"], ie["data"]) for ie in value]
    if key == "validity":
        return _duration(value) if value.startswith("P") else datetime.fromisoformat(value)
    return value


def _decode(vector):
    return pdu.decode(vector["hex"], has_smsc=vector["pdu_includes_smsc_field"])


def _must_fail(vector) -> bool:
    derived = vector["derived_by_reference_decoder"]
    truncated_ud = derived.get("truncated") and derived.get("type") != "SMS-STATUS-REPORT"
    return bool(vector["expected"].get("must_fail") or vector["id"] in MUST_FAIL or truncated_ud)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector(vector):
    if _must_fail(vector):
        with pytest.raises(PduError) as info:
            _decode(vector)
        assert info.value.__cause__ is None, "rejected by the safety net, not by a check"
        return
    msg = _decode(vector)
    for key, value in vector["expected"].items():
        if key in IGNORED:
            continue
        assert _actual(msg, key) == _wanted(vector["id"], key, value), key
    for key, value in vector["derived_by_reference_decoder"].items():
        if key in DERIVED_IGNORED or (msg.type == "SMS-STATUS-REPORT" and key in STATUS_REPORT_IGNORED):
            continue
        assert _actual(msg, key) == _wanted(vector["id"], key, value), f"derived {key}"
    if "type" in vector["derived_by_reference_decoder"]:
        assert msg.type == vector["derived_by_reference_decoder"]["type"]


def test_every_override_names_a_real_vector_key():
    for vector_id, key in OVERRIDES:
        vector = BY_ID[vector_id]
        assert key in vector["expected"] or key in vector["derived_by_reference_decoder"]
    assert set(MUST_FAIL) <= set(BY_ID)


@pytest.mark.parametrize("vector", [v for v in VECTORS if "full_message_text" in v["expected"]],
                         ids=lambda v: v["id"])
def test_part_is_a_slice_of_the_full_text(vector):
    msg = _decode(vector)
    full = vector["expected"]["full_message_text"]
    assert msg.text in full
    if msg.concat.seq == 1:
        assert full.startswith(msg.text)
    if msg.concat.seq == msg.concat.total:
        assert full.endswith(msg.text)


def test_two_part_messages_in_the_vectors_join():
    first = _decode(BY_ID["nodepdu-concat8-1of2"])
    second = _decode(BY_ID["nodepdu-concat8-2of2"])
    assert first.text + second.text == "Hakuna matata"
    first = _decode(BY_ID["smslib-concat16-1of2"])
    second = _decode(BY_ID["smslib-concat16-2of2"])
    assert (first.concat.ref, second.concat.ref) == (0xB9DB, 0xB9DB)
    assert (first.text + second.text).endswith("spans two other messages apart from the original one!")
