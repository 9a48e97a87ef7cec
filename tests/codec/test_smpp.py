"""SMPP 3.4 codec: real PDUs by hex, round trips of every command, refusals and
their statuses, time formats, text by data_coding, UDH, receipts, and a seeded
fuzz run (decode raises only PduError)."""

from __future__ import annotations

import random
import struct
from datetime import datetime, timedelta, timezone

import pytest

from agent.codec import smpp
from agent.codec.smpp import PduError
from agent.errors import CodecError, EncodeError

# PDUs as python smpplib 2.2 writes them (checked by hand against SMPP 3.4).
BIND_TRX = "0000002a 00000009 00000000 00000001 736d7070636c69656e743100 70617373776f726400 00 34 00 00 00"
SUBMIT_UCS2 = ("00000036 00000004 00000000 00000002 00 05 00 5465737400 01 01 3836313338303031333830303000"
               " 00 00 00 00 00 01 00 08 00 04 4f60597d")
SUBMIT_UDHI = ("00000032 00000004 00000000 00000003 00 00 00 31323300 00 00 34353600 40 00 00 00 00 00 00 00 00"
               " 0b 0500032a0201 48656c6c6f")
SUBMIT_SAR = ("00000043 00000004 00000000 00000004 00 00 00 31323300 00 00 34353600 00 00 00 00 00 00 00 00 00 00"
              " 020c 0002 1234 020e 0001 02 020f 0001 01 0424 0008 4869207468657265")
DELIVER_RECEIPT = ("00000042 00000005 00000000 00000009 00 00 00 34353600 00 00 31323300 04 00 00 00 00 00 00 00 00"
                   " 0e 69643a616263207375623a303031 0427 0001 02 001e 0004 61626300")
GENERIC_NACK = "00000010 80000000 00000003 00000007"
SUBMIT_SM_RESP = "00000017 80000004 00000000 00000002 61626331323300"


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


UTC = timezone.utc
NOW = datetime(2024, 1, 31, 12, 0, 0, tzinfo=UTC)


# --- real PDUs ---------------------------------------------------------------------------------------


def test_bind_transceiver_as_smpplib_sends_it():
    pdu = smpp.decode(h(BIND_TRX))
    assert (pdu.command_id, pdu.name, pdu.status, pdu.sequence) == (smpp.BIND_TRANSCEIVER, "bind_transceiver", 0, 1)
    assert pdu.fields == {"system_id": "smppclient1", "password": "password", "system_type": "",
                          "interface_version": 0x34, "addr_ton": 0, "addr_npi": 0, "address_range": ""}
    assert pdu.tlvs == {}
    assert smpp.encode(smpp.BIND_TRANSCEIVER, 1, fields=pdu.fields) == h(BIND_TRX)


def test_submit_sm_ucs2_chinese():
    pdu = smpp.decode(h(SUBMIT_UCS2))
    f = pdu.fields
    assert (f["source_addr_ton"], f["source_addr"], f["dest_addr_ton"], f["dest_addr_npi"]) == (5, "Test", 1, 1)
    assert f["destination_addr"] == "8613800138000"
    assert (f["data_coding"], f["registered_delivery"], f["sm_length"]) == (8, 1, 4)
    assert smpp.decode_text(f["data_coding"], f["short_message"]) == ("你好", "U")


def test_submit_sm_with_udhi():
    pdu = smpp.decode(h(SUBMIT_UDHI))
    assert pdu.fields["esm_class"] & 0x40
    udh, rest = smpp.split_udh(pdu.fields["short_message"])
    assert udh == smpp.Udh(ref=0x2A, total=2, seq=1, ref_bits=8)
    assert smpp.decode_text(pdu.fields["data_coding"], rest) == ("Hello", "7")


def test_submit_sm_with_sar_and_message_payload():
    pdu = smpp.decode(h(SUBMIT_SAR))
    assert pdu.fields["sm_length"] == 0 and pdu.fields["short_message"] == b""
    assert list(pdu.tlvs) == [smpp.SAR_MSG_REF_NUM, smpp.SAR_TOTAL_SEGMENTS, smpp.SAR_SEGMENT_SEQNUM,
                              smpp.MESSAGE_PAYLOAD]
    assert pdu.tlv_int(smpp.SAR_MSG_REF_NUM) == 0x1234
    assert pdu.tlv_int(smpp.SAR_TOTAL_SEGMENTS) == 2 and pdu.tlv_int(smpp.SAR_SEGMENT_SEQNUM) == 1
    assert pdu.tlvs[smpp.MESSAGE_PAYLOAD] == b"Hi there"
    assert pdu.tlv_int(smpp.USER_MESSAGE_REFERENCE) is None
    tlvs = [(smpp.SAR_MSG_REF_NUM, smpp.tlv_u16(0x1234)), (smpp.SAR_TOTAL_SEGMENTS, smpp.tlv_u8(2)),
            (smpp.SAR_SEGMENT_SEQNUM, smpp.tlv_u8(1)), (smpp.MESSAGE_PAYLOAD, b"Hi there")]
    fields = {"source_addr": "123", "destination_addr": "456"}
    assert smpp.encode(smpp.SUBMIT_SM, 4, fields=fields, tlvs=tlvs) == h(SUBMIT_SAR)
    by_int = {smpp.SAR_MSG_REF_NUM: 0x1234, smpp.SAR_TOTAL_SEGMENTS: 2, smpp.SAR_SEGMENT_SEQNUM: 1,
              smpp.MESSAGE_PAYLOAD: b"Hi there"}
    assert smpp.encode(smpp.SUBMIT_SM, 4, fields=fields, tlvs=by_int) == h(SUBMIT_SAR)


def test_deliver_sm_receipt():
    pdu = smpp.decode(h(DELIVER_RECEIPT))
    assert pdu.name == "deliver_sm" and pdu.fields["esm_class"] == 4
    assert pdu.tlv_int(smpp.MESSAGE_STATE) == smpp.DELIVERED
    assert pdu.tlv_str(smpp.RECEIPTED_MESSAGE_ID) == "abc"
    tlvs = {smpp.MESSAGE_STATE: smpp.DELIVERED, smpp.RECEIPTED_MESSAGE_ID: "abc"}
    fields = {"source_addr": "456", "destination_addr": "123", "esm_class": 4, "short_message": b"id:abc sub:001"}
    assert smpp.encode(smpp.DELIVER_SM, 9, fields=fields, tlvs=tlvs) == h(DELIVER_RECEIPT)


def test_generic_nack_and_submit_sm_resp():
    assert smpp.generic_nack(7, smpp.ESME_RINVCMDID) == h(GENERIC_NACK)
    pdu = smpp.decode(h(GENERIC_NACK))
    assert (pdu.name, pdu.status, pdu.sequence, pdu.fields) == ("generic_nack", 3, 7, {})
    assert smpp.encode(smpp.SUBMIT_SM_RESP, 2, fields={"message_id": "abc123"}) == h(SUBMIT_SM_RESP)
    assert smpp.decode(h(SUBMIT_SM_RESP)).fields == {"message_id": "abc123"}


def test_constants():
    assert smpp.SUBMIT_SM_RESP == 0x80000004 and smpp.RESP_BIT == 0x80000000
    assert smpp.NAMES[smpp.DATA_SM_RESP] == "data_sm_resp" and smpp.NAMES[smpp.ALERT_NOTIFICATION] == \
        "alert_notification"
    assert smpp.ESME_RINVDCS == 0x104 == smpp.CodingError.status
    assert smpp.HEADER_SIZE == 16 and smpp.MAX_PDU == 65536
    assert smpp.command_length(h(BIND_TRX)[:4]) == 0x2A
    assert smpp.Pdu(0x12345, 0, 1, {}, {}).name == "unknown"


# --- round trips ---------------------------------------------------------------------------------------

SM_FIELDS = {"service_type": "CMT", "source_addr_ton": 5, "source_addr_npi": 0, "source_addr": "Shop",
             "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "447700900123", "esm_class": 0x40,
             "protocol_id": 0, "priority_flag": 1, "schedule_delivery_time": "240131120000000+",
             "validity_period": "000001000000000R", "registered_delivery": 1, "replace_if_present_flag": 0,
             "data_coding": 8, "sm_default_msg_id": 0, "short_message": b"\x05\x00\x03\x01\x02\x01\x00A"}
ROUND_TRIPS = {
    smpp.BIND_RECEIVER: {"system_id": "kannel", "password": "secret12", "system_type": "VMA",
                         "interface_version": 0x34, "addr_ton": 1, "addr_npi": 1, "address_range": "^44"},
    smpp.BIND_TRANSMITTER: {"system_id": "x" * 15, "password": "p" * 8, "system_type": "s" * 12,
                            "interface_version": 0x33, "addr_ton": 0, "addr_npi": 0, "address_range": "a" * 40},
    smpp.BIND_TRANSCEIVER: {"system_id": "jasmin", "password": "pw", "system_type": "", "interface_version": 0x34,
                            "addr_ton": 0, "addr_npi": 0, "address_range": ""},
    smpp.BIND_RECEIVER_RESP: {"system_id": "sms-agent"},
    smpp.BIND_TRANSMITTER_RESP: {"system_id": "sms-agent"},
    smpp.BIND_TRANSCEIVER_RESP: {"system_id": "sms-agent"},
    smpp.QUERY_SM: {"message_id": "m" * 64, "source_addr_ton": 1, "source_addr_npi": 1, "source_addr": "4477"},
    smpp.QUERY_SM_RESP: {"message_id": "42", "final_date": "240131120000004+", "message_state": 2, "error_code": 0},
    smpp.SUBMIT_SM: dict(SM_FIELDS),
    smpp.SUBMIT_SM_RESP: {"message_id": "a1b2"},
    smpp.DELIVER_SM: dict(SM_FIELDS, esm_class=4, data_coding=0, short_message=b"\x1b\x65 \xff"),
    smpp.DELIVER_SM_RESP: {"message_id": ""},
    smpp.UNBIND: {}, smpp.UNBIND_RESP: {}, smpp.ENQUIRE_LINK: {}, smpp.ENQUIRE_LINK_RESP: {}, smpp.GENERIC_NACK: {},
    smpp.REPLACE_SM: {"message_id": "7", "source_addr_ton": 1, "source_addr_npi": 1, "source_addr": "123",
                      "schedule_delivery_time": "", "validity_period": "", "registered_delivery": 0,
                      "sm_default_msg_id": 0, "short_message": b"new"},
    smpp.REPLACE_SM_RESP: {},
    smpp.CANCEL_SM: {"service_type": "", "message_id": "7", "source_addr_ton": 1, "source_addr_npi": 1,
                     "source_addr": "123", "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "456"},
    smpp.CANCEL_SM_RESP: {},
    smpp.OUTBIND: {"system_id": "smsc", "password": "pw"},
    smpp.SUBMIT_MULTI: dict(
        {k: v for k, v in SM_FIELDS.items() if not k.startswith("dest")},
        dest_addresses=[{"dest_flag": 1, "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "111"},
                        {"dest_flag": 2, "dl_name": "friends"}]),
    smpp.SUBMIT_MULTI_RESP: {"message_id": "9", "unsuccess_smes": [
        {"dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "111", "error_status_code": 0x0B}]},
    smpp.ALERT_NOTIFICATION: {"source_addr_ton": 1, "source_addr_npi": 1, "source_addr": "1" * 64,
                              "esme_addr_ton": 0, "esme_addr_npi": 0, "esme_addr": "esme"},
    smpp.DATA_SM: {"service_type": "", "source_addr_ton": 0, "source_addr_npi": 0, "source_addr": "s" * 64,
                   "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "4477", "esm_class": 0,
                   "registered_delivery": 1, "data_coding": 0},
    smpp.DATA_SM_RESP: {"message_id": "x"},
}


def test_every_command_has_a_round_trip():
    assert set(ROUND_TRIPS) == set(smpp.NAMES)


@pytest.mark.parametrize("command_id", sorted(ROUND_TRIPS), ids=lambda c: smpp.NAMES[c])
def test_round_trip(command_id):
    fields = ROUND_TRIPS[command_id]
    tlvs = [(smpp.USER_MESSAGE_REFERENCE, smpp.tlv_u16(513)), (0x1400, b"vendor"),
            (smpp.ADDITIONAL_STATUS_INFO_TEXT, smpp.tlv_cstr("ok"))]
    frame = smpp.encode(command_id, 0x7FFFFFFF, fields=fields, tlvs=tlvs)
    assert smpp.command_length(frame) == len(frame)
    pdu = smpp.decode(frame)
    assert (pdu.command_id, pdu.status, pdu.sequence) == (command_id, 0, 0x7FFFFFFF)
    for name, value in fields.items():
        if name == "dest_addresses":
            assert pdu.fields["number_of_dests"] == len(value)
        if name == "unsuccess_smes":
            assert pdu.fields["no_unsuccess"] == len(value)
        assert pdu.fields[name] == value, name
    if "short_message" in fields:
        assert pdu.fields["sm_length"] == len(fields["short_message"])
    assert pdu.tlvs == dict(tlvs) and list(pdu.tlvs) == [t for t, _ in tlvs]
    assert pdu.tlv_str(smpp.ADDITIONAL_STATUS_INFO_TEXT) == "ok"
    again = smpp.encode(command_id, pdu.sequence, fields=pdu.fields, tlvs=list(pdu.tlvs.items()))
    assert again == frame


def test_missing_fields_default_to_zero_and_empty():
    pdu = smpp.decode(smpp.encode(smpp.SUBMIT_SM, 1))
    assert pdu.fields["source_addr"] == "" and pdu.fields["data_coding"] == 0
    assert pdu.fields["short_message"] == b"" and pdu.fields["sm_length"] == 0


@pytest.mark.parametrize("command_id", [smpp.SUBMIT_SM_RESP, smpp.DATA_SM_RESP, smpp.BIND_TRANSCEIVER_RESP,
                                        smpp.BIND_RECEIVER_RESP, smpp.BIND_TRANSMITTER_RESP, smpp.QUERY_SM_RESP])
def test_error_responses_are_header_only(command_id):
    frame = smpp.encode(command_id, 5, status=smpp.ESME_RTHROTTLED, fields={"message_id": "1", "system_id": "x"})
    assert frame == struct.pack(">IIII", 16, command_id, smpp.ESME_RTHROTTLED, 5)
    pdu = smpp.decode(frame)
    assert pdu.status == smpp.ESME_RTHROTTLED and all(v in ("", 0) for v in pdu.fields.values())


def test_bind_resp_with_interface_version():
    frame = smpp.encode(smpp.BIND_TRANSCEIVER_RESP, 1, fields={"system_id": "agent"},
                        tlvs={smpp.SC_INTERFACE_VERSION: 0x34})
    assert frame == h("0000001b 80000009 00000000 00000001 6167656e7400 0210 0001 34")
    assert smpp.decode(frame).tlv_int(smpp.SC_INTERFACE_VERSION) == 0x34


def test_empty_deliver_sm_resp_is_taken():
    pdu = smpp.decode(struct.pack(">IIII", 16, smpp.DELIVER_SM_RESP, 0, 3))
    assert pdu.fields == {"message_id": ""}


@pytest.mark.parametrize("fields, tlvs", [
    ({"system_id": "x" * 16}, None),
    ({"system_id": "caf\u00e9\u20ac"}, None),
    ({"system_id": "a\x00b"}, None),
    ({"addr_ton": 256}, None),
    ({}, {0x1400: 5}),
    ({}, {smpp.SAR_MSG_REF_NUM: 0x10000}),
])
def test_encode_refuses_what_does_not_fit(fields, tlvs):
    with pytest.raises(EncodeError):
        smpp.encode(smpp.BIND_TRANSCEIVER, 1, fields=fields, tlvs=tlvs)


def test_encode_refuses_unknown_command_and_long_message():
    with pytest.raises(EncodeError):
        smpp.encode(0x1234, 1)
    for fields in ({"short_message": b"x" * 255}, {"short_message": "\u20ac"}, {"esm_class": "x"},
                   {"data_coding": -1}):
        with pytest.raises(EncodeError):
            smpp.encode(smpp.SUBMIT_SM, 1, fields=fields)


def test_encode_not_strict_writes_lies():
    frame = smpp.encode(smpp.SUBMIT_SM, 1, fields={"source_addr": "1" * 30, "sm_length": 9, "short_message": b"ab"},
                        strict=False)
    assert b"1" * 30 + b"\x00" in frame


# --- refusals ------------------------------------------------------------------------------------------


def _refusal(frame: bytes) -> PduError:
    with pytest.raises(PduError) as info:
        smpp.decode(frame)
    return info.value


def _with_length(body: bytes, command_id: int = smpp.SUBMIT_SM, sequence: int = 77) -> bytes:
    return struct.pack(">IIII", 16 + len(body), command_id, 0, sequence) + body


@pytest.mark.parametrize("frame", [b"", b"\x00\x00\x00\x10", h(BIND_TRX)[:-1], h(BIND_TRX) + b"\x00",
                                   struct.pack(">IIII", 15, 0x15, 0, 1)[:15]])
def test_bad_command_length_is_nacked(frame):
    err = _refusal(frame)
    assert (err.status, err.nack) == (smpp.ESME_RINVCMDLEN, True)


def test_oversize_command_length_is_nacked():
    frame = struct.pack(">IIII", smpp.MAX_PDU + 1, smpp.SUBMIT_SM, 0, 9) + bytes(smpp.MAX_PDU + 1 - 16)
    err = _refusal(frame)
    assert (err.status, err.nack, err.sequence) == (smpp.ESME_RINVCMDLEN, True, 9)


@pytest.mark.parametrize("command_id", [0x0, 0x0A, 0x80000015 + 1, 0x8000000B, 0x80000102, 0xFFFFFFFF])
def test_unknown_command_id_is_nacked_with_its_sequence(command_id):
    err = _refusal(struct.pack(">IIII", 16, command_id, 0, 4242))
    assert (err.status, err.nack, err.sequence, err.command_id) == (smpp.ESME_RINVCMDID, True, 4242, command_id)
    assert isinstance(err, CodecError) and err.message


def test_truncated_mandatory_part():
    full = h(SUBMIT_UCS2)[16:]
    for cut in range(0, len(full) - 4):  # every cut inside the parameters before short_message
        err = _refusal(_with_length(full[:cut]))
        assert (err.nack, err.command_id, err.sequence) == (False, smpp.SUBMIT_SM, 77)
        assert err.status in (smpp.ESME_RINVCMDLEN, smpp.ESME_RINVMSGLEN), cut
    assert _refusal(_with_length(full[:10])).status == smpp.ESME_RINVCMDLEN


@pytest.mark.parametrize("body, status", [
    (b"x" * 16 + b"\x00pw\x00\x00\x34\x00\x00\x00", smpp.ESME_RINVSYSID),
    (b"id\x00" + b"p" * 9 + b"\x00\x00\x34\x00\x00\x00", smpp.ESME_RINVPASWD),
    (b"id\x00pw\x00" + b"t" * 13 + b"\x00\x34\x00\x00\x00", smpp.ESME_RINVSYSTYP),
    (b"id\x00pw\x00\x00\x34\x00\x00" + b"r" * 41 + b"\x00", smpp.ESME_RINVPARLEN),
    (b"id\x00pw\x00\x00\x34\x00\x00", smpp.ESME_RINVCMDLEN),
    (b"id\x00pw", smpp.ESME_RINVCMDLEN),
])
def test_bind_field_refusals(body, status):
    err = _refusal(_with_length(body, smpp.BIND_TRANSCEIVER))
    assert (err.status, err.nack, err.command_id) == (status, False, smpp.BIND_TRANSCEIVER)


def _submit_body(source: bytes = b"123", dest: bytes = b"456", sm_length: int = 2, message: bytes = b"hi",
                 tail: bytes = b"") -> bytes:
    return (b"\x00\x01\x01" + source + b"\x00\x01\x01" + dest + b"\x00" * 10
            + bytes((sm_length,)) + message + tail)


@pytest.mark.parametrize("body, status", [
    (_submit_body(source=b"1" * 21), smpp.ESME_RINVSRCADR),
    (_submit_body(dest=b"4" * 21), smpp.ESME_RINVDSTADR),
    (_submit_body(sm_length=3), smpp.ESME_RINVMSGLEN),
    (_submit_body(sm_length=255, message=b"x" * 255), smpp.ESME_RINVMSGLEN),
    (_submit_body(tail=b"\x02\x04"), smpp.ESME_RINVOPTPARSTREAM),
    (_submit_body(tail=b"\x02\x04\x00\x02\x01"), smpp.ESME_RINVOPTPARSTREAM),
    (_submit_body(tail=b"\x02\x04\x00\x01\x01"), smpp.ESME_RINVPARLEN),
    (b"CMTXXX\x00" + _submit_body()[1:], smpp.ESME_RINVSERTYP),
])
def test_submit_sm_refusals(body, status):
    err = _refusal(_with_length(body))
    assert (err.status, err.nack, err.command_id, err.sequence) == (status, False, smpp.SUBMIT_SM, 77)


def test_sm_length_254_and_both_payloads_are_taken():
    pdu = smpp.decode(_with_length(_submit_body(sm_length=254, message=b"y" * 254, tail=b"\x04\x24\x00\x01z")))
    assert len(pdu.fields["short_message"]) == 254 and pdu.tlvs[smpp.MESSAGE_PAYLOAD] == b"z"


def test_unknown_tlvs_kept_and_odd_widths_not_ints():
    pdu = smpp.decode(_with_length(_submit_body(tail=b"\x14\x00\x00\x03abc\x14\x01\x00\x00")))
    assert pdu.tlvs == {0x1400: b"abc", 0x1401: b""}
    with pytest.raises(PduError) as info:
        pdu.tlv_int(0x1400)
    assert info.value.status == smpp.ESME_RINVPARLEN and info.value.sequence == 77


def test_latin1_strings_keep_every_octet():
    pdu = smpp.decode(_with_length(_submit_body(source=b"\xff\x80\x01")))
    assert pdu.fields["source_addr"] == "\xff\x80\x01"
    assert smpp.encode(smpp.SUBMIT_SM, 77, fields=pdu.fields) == _with_length(_submit_body(source=b"\xff\x80\x01"))


def test_submit_multi_refusals():
    body = b"\x00\x00\x00123\x00\x01\x03"
    assert _refusal(_with_length(body, smpp.SUBMIT_MULTI)).status == smpp.ESME_RINVPARLEN
    assert _refusal(_with_length(b"\x00\x00\x00123\x00\x02\x01\x01\x01", smpp.SUBMIT_MULTI)).status == \
        smpp.ESME_RINVCMDLEN


# --- time formats --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("", None),
    ("240131120000000+", datetime(2024, 1, 31, 12, tzinfo=UTC)),
    ("240131123456708+", datetime(2024, 1, 31, 12, 34, 56, 700000, tzinfo=timezone(timedelta(hours=2)))),
    ("991231235959048-", datetime(2099, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12)))),
    ("240229000000022-", datetime(2024, 2, 29, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))),
    ("000000010000000R", NOW + timedelta(hours=1)),
    ("000001000000000R", NOW + timedelta(days=1)),
    ("000100000000000R", datetime(2024, 2, 29, 12, tzinfo=UTC)),  # Jan 31 + 1 month: clamped
    ("010000000030000R", datetime(2025, 1, 31, 12, 0, 30, tzinfo=UTC)),
    ("000000000090000R", NOW + timedelta(seconds=90)),
])
def test_parse_time(text, expected):
    assert smpp.parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["2401311200000", "240131120000000", "240131120000000x", "241331120000000+",
                                  "240230120000000+", "240131250000000+", "240131120000049+", "24013112000000+0",
                                  "240131120000000+ ", "٢٤0131120000000+", "abcdefghijklmnop", "000000000000000r"])
def test_parse_time_refuses(text):
    with pytest.raises(ValueError):
        smpp.parse_time(text, NOW)


def test_parse_time_needs_aware_now():
    with pytest.raises(ValueError):
        smpp.parse_time("000000010000000R", datetime(2024, 1, 1))


def test_format_time():
    assert smpp.format_time(datetime(2024, 1, 31, 12, 34, 56, 900000, tzinfo=UTC)) == "240131123456000+"
    tz = timezone(timedelta(hours=-3, minutes=-30))
    assert smpp.format_time(datetime(2030, 6, 1, 8, tzinfo=tz)) == "300601080000014-"
    odd = timezone(timedelta(minutes=7))
    assert smpp.format_time(datetime(2024, 1, 1, 0, 7, tzinfo=odd)) == "240101000000000+"
    for dt in (datetime(2024, 1, 1), datetime(1999, 12, 31, tzinfo=UTC)):
        with pytest.raises(ValueError):
            smpp.format_time(dt)
    dt = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=5, minutes=45)))
    assert smpp.parse_time(smpp.format_time(dt), NOW) == dt


# --- text by data_coding -------------------------------------------------------------------------------


@pytest.mark.parametrize("dcs, data, expected", [
    (0, b"Hello \x00", ("Hello @", "7")),
    (0, b"\x00\x01\x02", ("@£$", "7")),
    (0, b"\x1b\x65 \x1b\x28\x1b\x29", ("€ {}", "7")),
    (0, b"a\x1b", ("a ", "7")),
    (0xF0, b"\x1b\x3c", ("[", "7")),
    (0x10, b"Hi", ("Hi", "7")),
    (1, b"plain ASCII {}", ("plain ASCII {}", "7")),
    (3, b"caf\xe9", ("café", "7")),
    (6, b"\xbf\xe0\xd8\xd2\xd5\xe2", ("Привет", "7")),
    (7, b"\xf9\xec\xe5\xed", ("שלום", "7")),
    (8, "你好".encode("utf-16-be"), ("你好", "U")),
    (8, "😀".encode("utf-16-be"), ("😀", "U")),
    (0x18, b"\x00A", ("A", "U")),
    (0xE0, b"\x00B", ("B", "U")),
    (2, b"\x00\xff", ("\x00\xff", "8")),
    (4, b"\x80\x81", ("\x80\x81", "8")),
    (0xF4, b"\x01", ("\x01", "8")),
    (0xF5, b"", ("", "8")),
    (0x14, b"\xfe", ("\xfe", "8")),
])
def test_decode_text(dcs, data, expected):
    assert smpp.decode_text(dcs, data) == expected


@pytest.mark.parametrize("dcs, data", [
    (0, b"\x80"), (0, b"caf\xe9"), (1, b"\xe9"), (8, b"\x00"), (8, b"\xd8\x3d"), (8, b"\xde\x00\x00A"),
    (7, b"\xff"), (5, b"x"), (9, b"x"), (0x0A, b"x"), (0x1C, b"x"), (0x20, b"x"), (0x40, b"x"), (0xF8, b"x"),
    (0xFF, b"x"),
])
def test_decode_text_refuses(dcs, data):
    with pytest.raises(smpp.CodingError) as info:
        smpp.decode_text(dcs, data)
    assert info.value.status == smpp.ESME_RINVDCS and isinstance(info.value, ValueError)


def test_decode_text_hostile_bytes_never_crash():
    rng = random.Random(5)
    for _ in range(3000):
        data = rng.randbytes(rng.randrange(0, 20))
        try:
            text, encoding = smpp.decode_text(rng.randrange(256), data)
            assert encoding in ("7", "U", "8") and isinstance(text, str)
        except smpp.CodingError:
            pass


@pytest.mark.parametrize("text, encoding, expected", [
    ("Hello €{", "7", (0, b"Hello \x1b\x65\x1b\x28")),
    ("你好", "7", (8, "你好".encode("utf-16-be"))),
    ("Hi", "U", (8, b"\x00H\x00i")),
    ("\x00\xff", "8", (4, b"\x00\xff")),
])
def test_encode_text(text, encoding, expected):
    assert smpp.encode_text(text, encoding) == expected
    assert smpp.decode_text(*expected) == (text, "7" if expected[0] == 0 else ("U" if expected[0] == 8 else "8"))


@pytest.mark.parametrize("text, encoding", [("\u0100", "8"), ("x", "Z"), ("\ud800", "U")])
def test_encode_text_refuses(text, encoding):
    with pytest.raises(EncodeError):
        smpp.encode_text(text, encoding)


# --- user data header ------------------------------------------------------------------------------------


def test_udh():
    assert smpp.split_udh(b"\x06\x08\x04\x12\x34\x03\x02xyz") == (smpp.Udh(0x1234, 3, 2, 16), b"xyz")
    assert smpp.split_udh(b"\x04\x05\x02\x00\x01rest") == (None, b"rest")  # other IEs dropped (short ports here)
    assert smpp.split_udh(b"\x05\x00\x03\x01\x02\x03x") == (None, b"x")  # part 3 of 2: no concatenation
    assert smpp.split_udh(b"\x00abc") == (None, b"abc")
    for bad in (b"", b"\x06\x00\x03\x01\x02\x01", b"\xff"):
        with pytest.raises(PduError) as info:
            smpp.split_udh(bad)
        assert info.value.status == smpp.ESME_RINVMSGLEN
    for udh in (smpp.Udh(0x2A, 2, 1), smpp.Udh(0xBEEF, 255, 255, 16)):
        assert smpp.split_udh(smpp.udh_bytes(udh) + b"body") == (udh, b"body")
    assert smpp.udh_bytes(smpp.Udh(0x2A, 2, 1)) == b"\x05\x00\x03\x2a\x02\x01"
    with pytest.raises(EncodeError):
        smpp.udh_bytes(smpp.Udh(256, 2, 1))


# --- delivery receipts -----------------------------------------------------------------------------------


def test_receipt_text_exact():
    text = smpp.receipt_text("4f2a", submitted=1, delivered=1, submit_date=datetime(2024, 1, 31, 12, 5),
                             done_date=datetime(2024, 1, 31, 12, 6, 59), stat="DELIVRD", err=0,
                             text="Hello there, this is longer than twenty")
    assert text == ("id:4f2a sub:001 dlvrd:001 submit date:2401311205 done date:2401311206 stat:DELIVRD err:000"
                    " text:Hello there, this is")
    assert smpp.parse_receipt(text) == {"id": "4f2a", "sub": "001", "dlvrd": "001", "submit date": "2401311205",
                                        "done date": "2401311206", "stat": "DELIVRD", "err": "000",
                                        "text": "Hello there, this is"}
    assert smpp.RECEIPT_STAT[smpp.UNDELIVERABLE] == "UNDELIV"


def test_parse_receipt_tolerant():
    got = smpp.parse_receipt("ID:77 SUB:1 DLVRD:0 Submit_Date:2401311205 DONE DATE:2401311206 Stat:UNDELIV"
                             " Err:005 Text:id:fake stat:x")
    assert got == {"id": "77", "sub": "1", "dlvrd": "0", "submit date": "2401311205", "done date": "2401311206",
                   "stat": "UNDELIV", "err": "005", "text": "id:fake stat:x"}
    assert smpp.parse_receipt("id:1 stat:DELIVRD") == {"id": "1", "stat": "DELIVRD"}
    assert smpp.parse_receipt("") == {}


# --- fuzz ------------------------------------------------------------------------------------------------


def _seeds() -> list[bytes]:
    seeds = [h(x) for x in (BIND_TRX, SUBMIT_UCS2, SUBMIT_UDHI, SUBMIT_SAR, DELIVER_RECEIPT, GENERIC_NACK,
                            SUBMIT_SM_RESP)]
    seeds += [smpp.encode(c, 1, fields=f) for c, f in ROUND_TRIPS.items()]
    return seeds


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        if kind == 0 and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del data[rng.randrange(len(data) + 1):]
        elif kind == 2:
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.randbytes(rng.randint(1, 8))
        elif kind == 3 and len(data) > 16:
            data[16 + rng.randrange(len(data) - 16)] = rng.choice((0, 0xFF, 0x7F, 0x80))
        elif kind == 4:
            data += struct.pack(">HH", rng.choice((0x0424, 0x020C, 0x001E, rng.randrange(65536))),
                                rng.randrange(12)) + rng.randbytes(rng.randrange(10))
        if rng.random() < 0.8 and len(data) >= 4:
            data[:4] = len(data).to_bytes(4, "big")  # keep the length honest most of the time
    return bytes(data)


def test_fuzz_decode_raises_only_pdu_error():
    rng = random.Random(20240131)
    seeds = _seeds()
    decoded = refused = 0
    for i in range(20_000):
        if i % 10 == 0:
            size = rng.randrange(40)
            frame = (16 + size).to_bytes(4, "big") + rng.randbytes(12 + size) if rng.random() < 0.5 \
                else rng.randbytes(size)
        else:
            frame = _mutate(rng, rng.choice(seeds))
        try:
            pdu = smpp.decode(frame)
        except PduError as err:
            assert isinstance(err.status, int) and err.status > 0 and isinstance(err.nack, bool)
            refused += 1
        else:
            assert pdu.name != "unknown"
            decoded += 1
    assert decoded > 2000 and refused > 2000
