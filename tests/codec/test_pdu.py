"""agent.codec.pdu: encoders reproduce real PDUs byte for byte, and the decoding
policies documented in the module docstring hold."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from agent.codec import gsm7, pdu
from agent.codec.pdu import Concat
from agent.errors import EncodeError, PduError

UTC = timezone.utc


def tz(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


# (vector id, hex, encoder call) -- the hex is the vector's, copied from pdu_vectors.json
SUBMITS = [
    ("pgm-encode-hello", "0001000B917228001011F100000CC8329BFD065DDF72363904",
     dict(recipient="+27820001111", text="Hello World!", validity_minutes=None)),
    ("pm-submit-vp-none", "0001000B914316565811F9000004E8373B0C",
     dict(recipient="+34616585119", text="hola", validity_minutes=None)),
    ("pm-submit-with-smsc", "07914346466554F601000B914316565811F9000004E8373B0C",
     dict(recipient="+34616585119", text="hola", validity_minutes=None, smsc="+34646456456")),
    ("pm-submit-class0", "0001000B914356143254F6001006E8721E947F03",
     dict(recipient="+34654123456", text="hey yo", validity_minutes=None, flash=True)),
    ("pm-submit-srr", "0021000B914356143254F6000006E8721E947F03",
     dict(recipient="+34654123456", text="hey yo", validity_minutes=None, srr=True)),
    ("pm-submit-latin-hola", "0011000B914356143254F60000AA04483E7B0F",
     dict(recipient="+34654123456", text="Hölä", validity_minutes=4 * 1440)),
    ("pm-submit-ucs2-ru", "001100098156355476F80008AA0E0420044304410441043A04380439",
     dict(recipient="655345678", text="Русский", validity_minutes=4 * 1440)),
    ("pm-submit-8bit-national", "07914400000000F001000B811000000000F000040B48692074686572652E2E2E",
     dict(recipient="01000000000", data=b"Hi there...", validity_minutes=None, smsc="+44000000000")),
    ("pgm-submit-srr-vp3d", "07911326040000F0310D0B911326880736F40000A90FF7FBDD454E87CDE1B0DB357EB701",
     dict(recipient="+31628870634", text="www.diafaan.com", srr=True, mr=13, validity_minutes=3 * 1440,
          smsc="+31624000000")),
    ("pgm-submit-ucs2-jp", "07914346466554F601000B914316565811F9000806304253F68449",
     dict(recipient="+34616585119", text="あ叶葉", validity_minutes=None, smsc="+34646456456")),
    ("mm-submit-stored-ucs2-cn", "002100098136397339F70008224F60597D4F60597D4F60597D4F60597D4F60597D4F60597D4F60"
     "597D4F60597D4F60", dict(recipient="639337937", text="你好" * 8 + "你", srr=True, validity_minutes=None)),
    ("mm-encode-gsm-no-validity", "0001000B915155661632F400001954747A0E4ACF41F27298CDCE83C6EF371B0481402010",
     dict(recipient="+15556661234", text="This is really cool ΔΔΔΔΔ", validity_minutes=None)),
    ("mm-encode-gsm-with-smsc", "07919130079229F011000B915155551532F400000036C834888E2ECBCB2E978B5A2F8362373A1A"
     "A40CBB4132584C0682D57433982B8603C1DB20D4B1495DC552200804028100",
     dict(recipient="+15555551234", text="Hi there...Tue 17th Jan 2012 05:30.18 pm (GMT+1) ΔΔΔΔΔ",
          validity_minutes=5, smsc="+19037029920")),
    ("gammu-atsms16-submit-ucs2-vp-ff", "07912480002143651100048121430008FF0C003100320033003400350036",
     dict(recipient="1234", text="123456", encoding="ucs2", validity_minutes=63 * 7 * 1440,
          smsc="+420800123456")),
    ("cts-submit-cn", "0891683108200505F011000D91683196032930F000000006C8329BFD0E01",
     dict(recipient="+8613693092030", text="Hello!", validity_minutes=5, smsc="+8613800250500")),
]

DELIVERS = [
    ("pgm-deliver-test2", "06917228195339040B917228214365F700003130805120618005D4F29C2E03",
     dict(sender="+27821234567", text="Test2", scts=datetime(2013, 3, 8, 15, 2, 16, tzinfo=tz(2)),
          smsc="+2782913593")),
    ("mm-pdu2-alnum-ucs2", "07919730071111F10414D04937BD2C7797E9D3E614000811309291024061080442043504410442",
     dict(sender="InternetSMS", text="тест", scts=datetime(2011, 3, 29, 19, 20, 4, tzinfo=tz(4)),
          smsc="+79037011111")),
    ("ofono-alnum-sipgate", "0791447758100650040DD0F334FC1CA6970100008080312170224008D4F29CDE0EA7D9",
     dict(sender="sipgate", text="Testmail", scts=datetime(2008, 8, 13, 12, 7, 22, tzinfo=tz(1)),
          smsc="+447785016005")),
    ("mm-pdu3-8bit", "07912143658709F1040B918100551512F20004111010214365000AE8329BFD4697D9EC37DE",
     dict(sender="+18005551212", data=bytes.fromhex("E8329BFD4697D9EC37DE"),
          scts=datetime(2011, 1, 1, 12, 34, 56, tzinfo=UTC), smsc="+12345678901")),
    ("smslib-ucs2-concat-2of2", "0791447728008000440C91449788515605000890202121728400560500030E02020069002000700061"
     "0072007400200061006E006400200063006F006E0063006100740065006E0061007400650064002000620079002000770072006900"
     "740069006E00670020006C006F00740073002E",
     dict(sender="+447988156550", text="i part and concatenated by writing lots.", encoding="ucs2",
          scts=datetime(2009, 2, 12, 12, 27, 48, tzinfo=UTC), concat=Concat(14, 2, 2), smsc="+447782000800")),
]


@pytest.mark.parametrize("vector_id, hex_, kwargs", SUBMITS, ids=[s[0] for s in SUBMITS])
def test_encode_submit_reproduces_real_pdus(vector_id, hex_, kwargs):
    encoded = pdu.encode_submit(kwargs.pop("recipient"), kwargs.pop("text", ""), **kwargs)
    assert encoded.hex == hex_
    smsc_octets = int(hex_[:2], 16) + 1
    assert encoded.tpdu_length == len(hex_) // 2 - smsc_octets


@pytest.mark.parametrize("vector_id, hex_, kwargs", DELIVERS, ids=[d[0] for d in DELIVERS])
def test_encode_deliver_reproduces_real_pdus(vector_id, hex_, kwargs):
    assert pdu.encode_deliver(kwargs.pop("sender"), kwargs.pop("text", ""), **kwargs).hex == hex_


def test_encode_status_report_reproduces_real_pdus():
    encoded = pdu.encode_status_report(
        214, "+31628870634", status=0, scts=datetime(2011, 1, 11, 17, 59, 15, tzinfo=tz(1)),
        discharge_time=datetime(2011, 1, 11, 17, 59, 17, tzinfo=tz(1)))
    assert encoded.hex == "0006D60B911326880736F4111011719551401110117195714000"
    assert encoded.tpdu_length == 25
    # ofono-sr-pdu2 is a bare TPDU: ours after the '00' SMSC field
    encoded = pdu.encode_status_report(
        5, "+4915259911630", status=0, scts=datetime(2010, 6, 21, 14, 3, 46, tzinfo=tz(-5)),
        discharge_time=datetime(2010, 6, 21, 14, 3, 54, tzinfo=tz(-5)))
    assert encoded.hex[2:] == "06050D91945152991136F00160124130640A0160124130450A00"


# --- encoding rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes, octet", [
    (0, 0), (5, 0), (6, 1), (720, 143), (721, 144), (1440, 167), (1441, 168), (2880, 168),
    (30 * 1440, 196), (30 * 1440 + 1, 197), (63 * 7 * 1440, 255)])
def test_validity_is_rounded_up_to_the_next_step(minutes, octet):
    encoded = pdu.encode_submit("+1", "x", validity_minutes=minutes)
    assert encoded.hex[16:18] == f"{octet:02X}"
    validity = pdu.decode(encoded.hex).validity
    assert validity >= timedelta(minutes=minutes)


def test_default_validity_is_24_hours_and_none_omits_the_field():
    assert pdu.decode(pdu.encode_submit("+1", "x").hex).validity == timedelta(hours=24)
    msg = pdu.decode(pdu.encode_submit("+1", "x", validity_minutes=None).hex)
    assert msg.validity is None


@pytest.mark.parametrize("minutes", [-1, 63 * 7 * 1440 + 1])
def test_validity_out_of_range(minutes):
    with pytest.raises(EncodeError):
        pdu.encode_submit("+1", "x", validity_minutes=minutes)


@pytest.mark.parametrize("number", ["", "+", "abc", "+12a4", "12 34", "1" * 21, "+-1", "O2"])
def test_bad_recipients(number):
    with pytest.raises(EncodeError):
        pdu.encode_submit(number, "x")


def test_numbers_national_international_and_service_codes():
    assert pdu.decode(pdu.encode_submit("*100#", "x").hex).recipient == "*100#"
    assert pdu.encode_submit("0612", "x").hex[8:10] == "81"
    assert pdu.encode_submit("+4612", "x").hex[8:10] == "91"
    national = pdu.encode_submit("1", "x", smsc="12345").hex
    assert national.startswith("04812143F5")
    assert pdu.decode(national).smsc == "12345"


def test_text_must_fit_one_part():
    pdu.encode_submit("+1", "a" * 160)
    pdu.encode_submit("+1", "€" * 80)
    with pytest.raises(EncodeError):
        pdu.encode_submit("+1", "€" * 80 + "a")
    pdu.encode_submit("+1", "a" * 153, concat=Concat(1, 2, 1))
    with pytest.raises(EncodeError):
        pdu.encode_submit("+1", "a" * 154, concat=Concat(1, 2, 1))
    with pytest.raises(EncodeError):
        pdu.encode_submit("+1", "ж" * 71)
    with pytest.raises(EncodeError):
        pdu.encode_submit("+1", data=bytes(141))


def test_encoding_choice_and_forcing():
    assert pdu.decode(pdu.encode_submit("+1", "plain [text] €").hex).encoding == "gsm7"
    assert pdu.decode(pdu.encode_submit("+1", "ça").hex).encoding == "ucs2"
    assert pdu.decode(pdu.encode_submit("+1", "plain", encoding="ucs2").hex).encoding == "ucs2"
    msg = pdu.decode(pdu.encode_submit("+1", "café", encoding="8bit").hex)
    assert (msg.encoding, msg.data, msg.text) == ("8bit", "café".encode("latin-1"), "café")
    for text, encoding in [("ça", "gsm7"), ("€", "8bit"), ("x", "utf8"), ("\ud83d", "ucs2"), ("\ud83d", None)]:
        with pytest.raises(EncodeError):
            pdu.encode_submit("+1", text, encoding=encoding)
    with pytest.raises(EncodeError):
        pdu.encode_submit("+1", "text", data=b"data")
    with pytest.raises(EncodeError):
        pdu.encode_submit("+1", data=b"data", encoding="ucs2")


@pytest.mark.parametrize("encoding, dcs", [("gsm7", 0x10), ("ucs2", 0x18), ("8bit", 0x14)])
def test_flash_is_class_0(encoding, dcs):
    msg = pdu.decode(pdu.encode_submit("+1", "hi", encoding=encoding, flash=True).hex)
    assert (msg.dcs, msg.message_class, msg.encoding) == (dcs, 0, encoding)


@pytest.mark.parametrize("kwargs", [dict(mr=256), dict(mr=-1), dict(concat=Concat(256, 2, 1)),
                                    dict(concat=Concat(1, 2, 3)), dict(concat=Concat(1, 2, 0)),
                                    dict(concat=Concat(1, 256, 1)), dict(concat=Concat(1, 2, 1, ref_bits=12))])
def test_out_of_range_arguments(kwargs):
    with pytest.raises(EncodeError):
        pdu.encode_submit("+1", "x", **kwargs)


def test_deliver_sender_and_timestamp_rules():
    scts = datetime(2024, 5, 6, 7, 8, 9, tzinfo=tz(-3.75))
    msg = pdu.decode(pdu.encode_deliver("Bank {X}", "hi", scts=scts).hex)
    assert (msg.sender, msg.scts, msg.more_messages) == ("Bank {X}", scts, False)
    for sender in ["ABCDEFGHIJKL", "Bank {XYZ}", "Zürich✓"]:
        with pytest.raises(EncodeError):
            pdu.encode_deliver(sender, "x", scts=scts)
    for bad in [datetime(2024, 1, 1), datetime(1999, 12, 31, tzinfo=UTC),
                datetime(2024, 1, 1, tzinfo=timezone(timedelta(minutes=7))),
                datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=20))), "2024-01-01"]:
        with pytest.raises(EncodeError):
            pdu.encode_deliver("+1", "x", scts=bad)


def test_status_report_argument_ranges():
    now = datetime(2024, 1, 1, tzinfo=UTC)
    for ref, status in [(256, 0), (0, 256), (-1, 0)]:
        with pytest.raises(EncodeError):
            pdu.encode_status_report(ref, "+1", status=status, scts=now, discharge_time=now)
    with pytest.raises(EncodeError):
        pdu.encode_status_report(1, "Alice", status=0, scts=now, discharge_time=now)


@pytest.mark.parametrize("text", ["Barca@", "@", "@@@@@@@", "abcdef\r", "x" * 159 + "@", "x" * 159 + "\r"])
def test_trailing_at_signs_and_carriage_returns_survive(text):
    # '@' is septet 0x00 and 8n-1 septets leave 7 zero bits: only TP-UDL tells them apart
    assert pdu.decode(pdu.encode_submit("+1", text).hex).text == text


def test_16_bit_concat_and_fill_bits_round_trip():
    scts = datetime(2024, 1, 1, tzinfo=UTC)
    for concat in [Concat(0xBEEF, 3, 2, 16), Concat(7, 3, 3)]:
        text = "Hello, " + "x" * 140
        msg = pdu.decode(pdu.encode_deliver("+1", text, scts=scts, concat=concat).hex)
        assert (msg.text, msg.concat) == (text, concat)


# --- decoding rules ----------------------------------------------------------------------------------

SCTS_UTC = "42105021436500"  # 2024-01-05 12:34:56 +00:00


def deliver_hex(dcs: str = "00", ud: str = "0141", fo: str = "04", scts: str = SCTS_UTC) -> str:
    """An SMS-DELIVER from +1 with the given first octet, DCS, timestamp and TP-UDL+UD."""
    return "00" + fo + "0191F1" + "00" + dcs + scts + ud


def test_helper_builds_a_valid_deliver():
    msg = pdu.decode(deliver_hex())
    assert (msg.sender, msg.text, msg.scts) == ("+1", "A", datetime(2024, 1, 5, 12, 34, 56, tzinfo=UTC))


@pytest.mark.parametrize("scts, expected", [
    ("89212221401400", datetime(2098, 12, 22, 12, 4, 41, tzinfo=UTC)),    # year pivot: 98 -> 2098
    ("00101000000000", datetime(2000, 1, 1, tzinfo=UTC)),
    ("4210502143658A", datetime(2024, 1, 5, 12, 34, 56, tzinfo=tz(-7))),
    ("42105021436597", datetime(2024, 1, 5, 12, 34, 56, tzinfo=timezone(timedelta(hours=19, minutes=45)))),
    ("421050214365E1", datetime(2024, 1, 5, 12, 34, 56, tzinfo=UTC)),      # invalid TZ nibble
    ("421050214365A0", datetime(2024, 1, 5, 12, 34, 56, tzinfo=UTC)),
    ("42105021436508", datetime(2024, 1, 5, 12, 34, 56, tzinfo=UTC)),      # "-00:00"
])
def test_timestamps(scts, expected):
    got = pdu.decode(deliver_hex(scts=scts)).scts
    assert got == expected and got.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("scts", ["42315021436500", "42102321436500", "42105042436500", "42105021466500",
                                  "4210502143A500", "42F05021436500", "42009021436500", "32201300000000"])
def test_impossible_dates_are_pdu_errors(scts):
    with pytest.raises(PduError) as info:
        pdu.decode(deliver_hex(scts=scts))
    assert info.value.__cause__ is None


@pytest.mark.parametrize("dcs, encoding, klass", [
    (0x00, "gsm7", None), (0x04, "8bit", None), (0x08, "ucs2", None), (0x0C, "gsm7", None),
    (0x10, "gsm7", 0), (0x11, "gsm7", 1), (0x15, "8bit", 1), (0x19, "ucs2", 1), (0x1E, "gsm7", 2),
    (0x24, "8bit", None), (0x32, "8bit", 2), (0x4B, "ucs2", None), (0x53, "gsm7", 3), (0x80, "gsm7", None),
    (0xBF, "gsm7", None), (0xC8, "gsm7", None), (0xD3, "gsm7", None), (0xE0, "ucs2", None),
    (0xF0, "gsm7", 0), (0xF4, "8bit", 0), (0xF9, "gsm7", 1), (0xFB, "gsm7", 3), (0xFF, "8bit", 3),
])
def test_data_coding_schemes(dcs, encoding, klass):
    msg = pdu.decode(deliver_hex(dcs=f"{dcs:02X}", ud="020041"))
    assert (msg.encoding, msg.message_class, msg.dcs) == (encoding, klass, dcs)


def test_ucs2_content_behind_dcs_f9_gives_garbage_not_an_exception():
    msg = pdu.decode(deliver_hex(dcs="F9", ud="0604180442043E"))
    assert msg.encoding == "gsm7" and len(msg.text) == 6


@pytest.mark.parametrize("ud, text", [
    ("04D83DDE03", "😃"),
    ("050041004200", "AB\ufffd"),        # odd octet count
    ("04D83D0041", "\ufffdA"),          # lone high surrogate
    ("04DE030041", "\ufffdA"),          # lone low surrogate
    ("0400410042FFFF", "AB"),           # octets beyond TP-UDL are ignored
])
def test_ucs2_decoding(ud, text):
    assert pdu.decode(deliver_hex(dcs="08", ud=ud)).text == text


@pytest.mark.parametrize("udh, concat", [
    ("0500030A0302", Concat(10, 3, 2)),
    ("0500030A0002", None),             # total 0: ignore the IE
    ("0500030A0304", None),             # seq > total
    ("0500030A0300", None),             # seq 0
    ("0400020A03", None),               # wrong IE length
    ("0A00030A030200030B0201", Concat(11, 2, 1)),  # repeated: the last wins
    ("06080412340201", Concat(0x1234, 2, 1, 16)),
    ("0700030A03020504", Concat(10, 3, 2)),  # trailing IE overrunning the header is dropped
])
def test_concatenation_header_rules(udh, concat):
    octets = len(udh) // 2
    assert pdu.decode(deliver_hex(fo="44", dcs="04", ud=f"{octets + 1:02X}{udh}41")).concat == concat


def test_ports_and_udh_list():
    msg = pdu.decode(deliver_hex(fo="44", dcs="04", ud="0C0A0504238423F004021F9041"))
    assert msg.udh == ((0x05, bytes.fromhex("238423F0")), (0x04, bytes.fromhex("1F90")))
    assert msg.ports == (0x1F, 0x90)  # the last port IE wins
    assert msg.data == b"A"
    assert pdu.decode(deliver_hex(fo="44", dcs="04", ud="070605040B8423F041")).ports == (2948, 9200)


@pytest.mark.parametrize("ud, why", [
    ("00", "UDHI set, no user data"),
    ("020A00", "UDHL beyond the user data"),
    ("03020000", "header longer than TP-UDL septets"),
    ("0B050003", "truncated user data"),
])
def test_malformed_user_data(ud, why):
    with pytest.raises(PduError):
        pdu.decode(deliver_hex(fo="44", ud=ud))


def test_national_language_shift_headers():
    # "ı" (0x1B 0x69) and "Ş" (locking 0x1C) under Turkish single and locking shift IEs;
    # the 7-octet header is exactly 8 septets, so the text starts without fill bits
    body = gsm7.pack([0x1B, 0x69, 0x1C]).hex()
    assert pdu.decode(deliver_hex(fo="44", ud=f"0B06240101250101{body}")).text == "ıŞ"
    assert pdu.decode(deliver_hex(fo="44", ud=f"0B06240102250102{body}")).text == "íÆ"


def test_reserved_mti_is_read_as_deliver():
    assert pdu.decode(deliver_hex(fo="07")).type == "SMS-DELIVER"


def test_enhanced_validity_formats():
    def submit(vp: str) -> str:
        return "000900" + "0191F1" + "0000" + vp + "0141"
    assert pdu.decode(submit("01A70000000000")).validity == timedelta(hours=24)
    assert pdu.decode(submit("02780000000000")).validity == timedelta(seconds=120)
    assert pdu.decode(submit("03214365000000")).validity == timedelta(hours=12, minutes=34, seconds=56)
    assert pdu.decode(submit("00000000000000")).validity is None
    assert pdu.decode(submit("07000000000000")).validity is None
    with pytest.raises(PduError):
        pdu.decode(submit("032143F5000000"))


def test_input_forms():
    hex_ = deliver_hex()
    for form in [hex_, hex_.lower(), f"  {hex_}\r\n", bytes.fromhex(hex_), bytearray.fromhex(hex_),
                 memoryview(bytes.fromhex(hex_))]:
        assert pdu.decode(form).text == "A"
    assert pdu.decode(hex_[2:], has_smsc=False).smsc is None


@pytest.mark.parametrize("bad", ["", "0", "00", "zz", "0G", "é0", "  ", b"", b"\x05\x91", None, 7, ["00"],
                                 "00" + "04", "FF" + "00" * 10])
def test_garbage_is_a_pdu_error(bad):
    with pytest.raises(PduError) as info:
        pdu.decode(bad)
    assert info.value.__cause__ is None


# --- to_json ------------------------------------------------------------------------------------------


def test_to_json_shapes():
    scts = datetime(2024, 1, 5, 12, 34, 56, tzinfo=tz(1))
    deliver = pdu.to_json(pdu.decode(pdu.encode_deliver("+1", data=b"\xe9\x00", scts=scts,
                                                        concat=Concat(5, 2, 1)).hex))
    assert deliver["type"] == "SMS-DELIVER" and deliver["sender"] == "+1"
    assert (deliver["text"], deliver["data"], deliver["encoding"]) == ("é\x00", "E900", "8bit")
    assert deliver["scts"] == "2024-01-05T12:34:56+01:00"
    assert deliver["concat"] == {"ref": 5, "total": 2, "seq": 1}
    submit = pdu.to_json(pdu.decode(pdu.encode_submit("+1", "hi", srr=True, mr=9).hex))
    assert (submit["recipient"], submit["scts"], submit["validity"], submit["mr"], submit["srr"]) == (
        "+1", None, "P1D", 9, True)
    report = pdu.to_json(pdu.decode(pdu.encode_status_report(
        9, "+1", status=0x46, scts=scts, discharge_time=scts + timedelta(seconds=5)).hex))
    assert (report["reference"], report["status"], report["recipient"]) == (9, 0x46, "+1")
    assert report["discharge_time"] == "2024-01-05T12:35:01+01:00" and report["text"] is None
    for obj in (deliver, submit, report):
        json.dumps(obj, ensure_ascii=False)
        assert {"type", "smsc", "text", "encoding", "scts", "concat"} <= obj.keys()
