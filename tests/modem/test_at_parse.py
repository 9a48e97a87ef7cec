"""Table tests of agent.codec.at, from the real lines in shared/testdata/at_transcripts.md,
plus property tests: on arbitrary input every parser returns a value or raises AtParseError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.codec import at
from agent.codec.ussd import decode_ussd
from agent.codec.at import Final, Registration
from agent.errors import AtParseError

# --- final result codes -------------------------------------------------------------


@pytest.mark.parametrize("line, final", [
    ("OK", Final("OK")),
    ("OK\r\n", Final("OK")),
    (" OK ", Final("OK")),
    ("ERROR", Final("ERROR")),
    ("+CME ERROR: 14", Final("CME", 14)),
    ("+CME ERROR:14", Final("CME", 14)),
    ("+CMS ERROR: 500", Final("CMS", 500)),
    ("+CMS ERROR: 330\r", Final("CMS", 330)),
    ("+CME ERROR: SIM busy", Final("CME", None, "SIM busy")),
    ("+CMS ERROR: Unknown error", Final("CMS", None, "Unknown error")),
    ("+CME ERROR: ", Final("CME", None, "")),
    ("MODEM ERROR: 5", Final("MODEM ERROR", 5)),
    ("COMMAND NOT SUPPORT", Final("COMMAND NOT SUPPORT")),
    ("TOO MANY PARAMETERS", Final("TOO MANY PARAMETERS")),
    ("NO CARRIER", Final("NO CARRIER")),
    ("BUSY", Final("BUSY")),
    ("NO ANSWER", Final("NO ANSWER")),
    ("NO DIALTONE", Final("NO DIALTONE")),
    ("NA", Final("NA")),
])
def test_finals(line, final):
    assert at.parse_final(line) == final


@pytest.mark.parametrize("line", [
    "OKAY", "OK foo", "ok", "+CME ERROR:", "+CME ERROR:\r\n", "ERRORS", "+CSQ: 9,99",
    "", "AT+CPIN?", "> ", "NO CARRIER YET", "+CMGS: 5",
])
def test_not_finals(line):
    assert at.parse_final(line) is None


def test_final_ok_property():
    assert Final("OK").ok
    assert not Final("ERROR").ok and not Final("").ok and not Final("CME", 14).ok


# --- URCs -------------------------------------------------------------------------------


@pytest.mark.parametrize("line, name", [
    ('+CMTI: "SM",3', "+CMTI"),
    ("+CMT: ,34", "+CMT"),
    ("+CDS: 24", "+CDS"),
    ('+CDSI: "SR",3', "+CDSI"),
    ("RING", "RING"),
    ("+CRING: VOICE", "+CRING"),
    ('+CLIP: "+27821231234",145,,,,0', "+CLIP"),
    ('+CUSD: 0,"Available Balance: R 96.45 .",15', "+CUSD"),
    ("+CREG: 5", "+CREG"),
    ("+CGREG: 0", "+CGREG"),
    ("+CEREG: 1,84CD,00D30156", "+CEREG"),
    ("RDY", "RDY"),
    ("SMS Ready", "SMS Ready"),
    ("Call Ready", "Call Ready"),
    ("SMS DONE", "SMS DONE"),
    ("PB DONE", "PB DONE"),
    ("+QIND: SMS DONE", "+QIND"),
    ("+CPIN: READY", "+CPIN"),
    ("+CFUN: 1", "+CFUN"),
    ("^RSSI:10", "^RSSI"),
    ("^BOOT:35323129,0,0,0,26", "^BOOT"),
    ("^MODE:5,4", "^MODE"),
    ("^CEND:1,5,29,16", "^CEND"),
    ("^HCSQ:\"LTE\",50,40,120,20", "^HCSQ"),
    ("^SOMETHINGNEW: 1", "^SOMETHINGNEW"),
    ("^STIN", "^STIN"),
    ('+ZDONR: "METEOR",272,3,"CS_ONLY","ROAM_OFF"', "+ZDONR"),
    ('+ZPASR: "UMTS"', "+ZPASR"),
    ("+ZEND", "+ZEND"),
    ("+WIND: 4", "+WIND"),
    ("HANGUP: 1", "HANGUP"),
    ("+CIEV: 7,1", "+CIEV"),
    ("NO CARRIER", "NO CARRIER"),
])
def test_urc_names(line, name):
    assert at.urc_name(line) == name
    assert at.urc_name(f"  {line}\r") == name


@pytest.mark.parametrize("line", [
    "OK", "+CSCA: \"+79168999100\",145", "+CMGS: 183", "+CME ERROR: 14", "+CMGR: 1,,25",
    "351782030028946", "huawei", "", "+", "^", "+CMTIX: 1", "RINGING", "0791ABCD",
])
def test_not_urcs(line):
    assert at.urc_name(line) is None


@pytest.mark.parametrize("line, reset", [
    ("RDY", True), ("SMS Ready", True), ("SMS DONE", True), ("+QIND: SMS DONE", True),
    (" RDY\r", True), ("Call Ready", False), ("+CFUN: 1", False), ("+CPIN: READY", False),
    ("PB DONE", False), ("+QIND: PB DONE", False), ("^BOOT:35323129,0,0,0,26", False), ("OK", False),
])
def test_reset_urcs(line, reset):
    assert at.is_reset_urc(line) is reset


@pytest.mark.parametrize("command, prefix", [
    ("AT+CSQ", "+CSQ:"), ("AT+CREG?", "+CREG:"), ("AT+CMGR=3", "+CMGR:"), ("AT^ICCID?", "^ICCID:"),
    ('AT+CPMS="SM","SM","SM"', "+CPMS:"), ("at+cgmi", "+CGMI:"), ("AT", None), ("ATE0", None),
    ("ATI", None), ("AT+CMGL=4", "+CMGL:"),
])
def test_expected_prefix(command, prefix):
    assert at.expected_prefix(command) == prefix


# --- signal, registration, operator, SIM -----------------------------------------------------


@pytest.mark.parametrize("line, value", [
    ("+CSQ: 9,99", (9, None)), ("+CSQ:31,0", (31, 0)), ("+CSQ: 99,99", (None, None)),
    ("+CSQ: 0, 7", (0, 7)), ("^RSSI:10", (10, None)), ("^RSSI: 99", (None, None)),
])
def test_csq(line, value):
    assert at.parse_csq(line) == value


@pytest.mark.parametrize("rssi, dbm", [(0, -113), (1, -111), (9, -95), (31, -51), (99, None), (None, None), (32, None)])
def test_rssi_to_dbm(rssi, dbm):
    assert at.rssi_to_dbm(rssi) == dbm


@pytest.mark.parametrize("line, reg", [
    ("+CREG: 2,1,4CA,81DE445", Registration(2, 1, 0x4CA, 0x81DE445)),
    ('+CREG: 2,1,"CE00","01CEAD8F"', Registration(2, 1, 0xCE00, 0x01CEAD8F)),
    ("+CREG: 2,0,00,0", Registration(2, 0, 0, 0)),
    ("+CREG: 2,1,8BE3,2BAF", Registration(2, 1, 0x8BE3, 0x2BAF)),
    ('+CREG:002,001,"18d8","ffff"', Registration(2, 1, 0x18D8, 0xFFFF)),
    ("+CREG: 2,1,  0 5, 2715", Registration(2, 1, 0x05, 0x2715)),
    ("+CREG: 2,1,000B,2816, B, C2816", Registration(2, 1, 0x0B, 0x2816)),
    ('+CREG: 2,5,"2AF5","0B88E350",2', Registration(2, 5, 0x2AF5, 0x0B88E350, 2)),
    ('+CREG: 2,6,"8B37","0A265185",7', Registration(2, 6, 0x8B37, 0x0A265185, 7)),
    ('+CREG: 0,1,"5E25","605F",2', Registration(0, 1, 0x5E25, 0x605F, 2)),
    ("+CREG: 11", Registration(None, 11)),
    ('+CREG: 2,1,"","605F"', Registration(2, 1, None, 0x605F)),
    ('+CREG: 2,1,"0B,"0100701",7', Registration(2, 1, 0x0B, 0x0100701, 7)),
    ('+CREG: 2,1,"5E25', Registration(2, 1, 0x5E25)),
    ("+CREG: 1,84CD,00D30156", Registration(None, 1, 0x84CD, 0x00D30156)),
    ("+CREG: 5", Registration(None, 5)),
    ("+CGREG: 0", Registration(None, 0)),
    ("+CREG: 0,1", Registration(0, 1)),
    ("+CEREG: 2,1, 1F00, 79D903 ,7", Registration(2, 1, 0x1F00, 0x79D903, 7)),
    ("+CEREG: 1, 2, 0001, 00000100, 7", Registration(1, 2, 0x0001, 0x00000100, 7)),
    ('+CEREG: 2,10,"8d83","671f98a",7', Registration(2, 10, 0x8D83, 0x671F98A, 7)),
    ('+CREG: 1,"84CD","00D30156",7', Registration(None, 1, 0x84CD, 0xD30156, 7)),
])
def test_creg(line, reg):
    assert at.parse_creg(line) == reg


def test_creg_solicited_hint_resolves_ambiguity():
    # '1,0005,0002' could be a URC (stat,lac,ci) or an answer (n,stat,lac): the caller knows.
    assert at.parse_creg("+CREG: 1,005,0002", solicited=False) == Registration(None, 1, 0x5, 0x2)
    assert at.parse_creg("+CREG: 1,005,0002", solicited=True) == Registration(1, 5, 0x2)


@pytest.mark.parametrize("stat, registered, roaming", [
    (0, False, False), (1, True, False), (2, False, False), (3, False, False), (4, False, False),
    (5, True, True), (6, True, False), (7, True, True), (8, False, False), (9, True, False),
    (10, True, True), (11, False, False),
])
def test_registration_policy(stat, registered, roaming):
    reg = Registration(None, stat)
    assert (reg.registered, reg.roaming) == (registered, roaming)


@pytest.mark.parametrize("line", ["+CREG: ", "+CREG:", "+CREG: x", "+CSQ: 1,2", ""])
def test_creg_hopeless(line):
    with pytest.raises(AtParseError):
        at.parse_creg(line)


@pytest.mark.parametrize("line, name", [
    ('+COPS: 0,0,"T-Mobile",2', "T-Mobile"), ("+COPS: 0", None), ('+COPS: 0,2,"31026",7', "31026"),
    ('+COPS: 0,0,"AT&T, Inc",2', "AT&T, Inc"), ('+COPS: 1,0,""', None), ("+COPS: 0,0,Beeline", "Beeline"),
])
def test_cops(line, name):
    assert at.parse_cops(line) == name


def test_cops_test_form_is_not_an_operator():
    with pytest.raises(AtParseError):
        at.parse_cops('+COPS: (2,"T-Mobile","TMO","31026",0),(1,"AT&T","AT&T","310410",0),,(0,1,2,3,4),(0,1,2)')


@pytest.mark.parametrize("line, status", [
    ("+CPIN: READY", "READY"), ('+CPIN: "SIM PIN"', "SIM PIN"), ("+CPIN: SIM PUK2", "SIM PUK2"),
    ("+CPIN: PH-NET PIN", "PH-NET PIN"), ("+CPIN: NOT READY", "NOT READY"),
    ("+CPIN: NOT INSERTED", "NOT INSERTED"), ("+CPIN:READY", "READY"), ("+CPIN: ready", "READY"),
])
def test_cpin(line, status):
    assert at.parse_cpin(line) == status


@pytest.mark.parametrize("line", ["+CPIN: ", "READY", '+CPIN: ""'])
def test_cpin_hopeless(line):
    with pytest.raises(AtParseError):
        at.parse_cpin(line)


@pytest.mark.parametrize("line, iccid", [
    ('^ICCID: "984402003576012594F9"', "8944200053671052499"),
    ("^ICCID: 984402003576012594F9", "8944200053671052499"),
    ("^ICCID: 8944200053671052499F", "8944200053671052499"),
    ('^ICCID: "8944200053671052499F"', "8944200053671052499"),
    ("+CCID: 89860012345678901234", "89860012345678901234"),
    ("+ICCID: 8944200053671052499", "8944200053671052499"),
    ("+QCCID: 898600220909A0206023", None),
    ('+QCCID: "89860022090900206023"', "89860022090900206023"),
    ("8944200053671052499F", "8944200053671052499"),
    ("  89014103211118510720 ", "89014103211118510720"),
])
def test_iccid(line, iccid):
    if iccid is None:
        with pytest.raises(AtParseError):
            at.parse_iccid(line)
    else:
        assert at.parse_iccid(line) == iccid


@pytest.mark.parametrize("line", ["", "^ICCID: ", "ERROR", "+CCID: 12", "^ICCID: FFFF"])
def test_iccid_hopeless(line):
    with pytest.raises(AtParseError):
        at.parse_iccid(line)


# --- messages -----------------------------------------------------------------------------

_PDU = "07917248014000F506B70AA18092020000317071518590803170715185418000"


@pytest.mark.parametrize("line, header", [
    ("+CMGR: 1,,25", (1, 25, None)),
    ("+CMGR: 0,23", (0, 23, None)),
    ("+CMGR: 4,1,,151", (1, 151, None)),
    ("+CMGR: 24", (None, 24, None)),
    ("+CMGR: ,,92", (None, 92, None)),
    ("+CMGR: ,,27", (None, 27, None)),
    ('+CMGR: 0,"",50', (0, 50, None)),
    ("+CMGR: 0,,24", (0, 24, None)),
    (f"+CMGR: 1,,147 {_PDU}", (1, 147, _PDU)),
    ('+CMGR: 0,"Bob 1",29', (0, 29, None)),
])
def test_cmgr_header(line, header):
    assert at.parse_cmgr_header(line) == header


@pytest.mark.parametrize("line", [
    '+CMGR: ,6,20,"0870000000",129,"13/04/29,19:58:00+04","13/04/29,19:59:00+04",0',  # text mode
    '+CMGR: "REC READ","+8613800000000",,"13/03/18,17:07:21+32"',
    "+CMGR: ", "+CMGR: 1,,", "+CMGL: 1,0,,39",
])
def test_cmgr_header_hopeless(line):
    with pytest.raises(AtParseError):
        at.parse_cmgr_header(line)


@pytest.mark.parametrize("line, header", [
    ("+CMGL: 1,0,,39", (1, 0, 39)), ("+CMGL: 17,3,35", (17, 3, 35)), ('+CMGL: 2,1,"",50', (2, 1, 50)),
    ("+CMGL:3, 1, ,22", (3, 1, 22)),
])
def test_cmgl_header(line, header):
    assert at.parse_cmgl_header(line) == header


@pytest.mark.parametrize("line", ['+CMGL: 1,"REC UNREAD","+31628870634",,"11/12/09,10:34:51+04"', "+CMGL: 1,2", "+CMGL: "])
def test_cmgl_header_hopeless(line):
    with pytest.raises(AtParseError):
        at.parse_cmgl_header(line)


def test_storage_notifications():
    assert at.parse_cmti('+CMTI: "SM",3') == ("SM", 3)
    assert at.parse_cmti('+CMTI: "ME", 12') == ("ME", 12)
    assert at.parse_cmti("+CMTI: MT,0") == ("MT", 0)
    assert at.parse_cdsi('+CDSI: "SR",3') == ("SR", 3)
    with pytest.raises(AtParseError):
        at.parse_cmti('+CMTI: "SM"')
    with pytest.raises(AtParseError):
        at.parse_cdsi('+CMTI: "SM",3')


def test_two_line_urcs_and_cmgs():
    assert at.parse_cmgs("+CMGS: 183") == 183
    assert at.parse_cmgs('+CMGS: 7,"24091511"') == 7
    assert at.TWO_LINE_URCS == {"+CMT", "+CDS"}
    with pytest.raises(AtParseError):
        at.parse_cmgs("+CMGS: ")


@pytest.mark.parametrize("line, number", [
    ('+CLIP: "+27821231234",145,,,,0', "+27821231234"),
    ('+CLIP: "+27821231234",145', "+27821231234"),
    ('+CLIP: "",128,,,,1', ""),
    ('+CLIP: "",128,,,,2', ""),
    ("+CLIP: 0821231234,129", "0821231234"),
])
def test_clip(line, number):
    assert at.parse_clip(line) == number


@pytest.mark.parametrize("line, number", [
    ('+CNUM: "","+79161234567",145', "+79161234567"),
    ('+CNUM: "Own, number","+79161234567",145,7,4', "+79161234567"),
    ('+CNUM: ,"",129', None),
    ('+CNUM: "+79161234567",145', "+79161234567"),
])
def test_cnum(line, number):
    assert at.parse_cnum(line) == number


# --- USSD -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, parsed", [
    ('+CUSD: 0,"Available Balance: R 96.45 .",15', (0, "Available Balance: R 96.45 .", 15)),
    ("+CUSD: 2", (2, None, None)),
    ('+CUSD: 2,"Initiating Release",15', (2, "Initiating Release", 15)),
    ("+CUSD: 0, 49B41C74ACD3", (0, "49B41C74ACD3", None)),
    ('+CUSD: 0,"49B4",15', (0, "49B4", 15)),
    ('+CUSD: 2,"You have the following remaining balances:\n0 free minutes\n20 MORE Weekend minutes ",15',
     (2, "You have the following remaining balances:\n0 free minutes\n20 MORE Weekend minutes ", 15)),
    ('+CUSD: 1,"line one\r\nline, two",72', (1, "line one\r\nline, two", 72)),
    ('+CUSD: 1,"Kontostand: 3.00 EUR Bitte w{hlen Sie"', (1, "Kontostand: 3.00 EUR Bitte w{hlen Sie", None)),
    ('+CUSD: 0,"say ""hi""",15', (0, 'say ""hi""', 15)),
    ("+CUSD: 0,ABCD,15", (0, "ABCD", 15)),
    ('+CUSD: 0,"unterminated', (0, "unterminated", None)),
])
def test_cusd(text, parsed):
    assert at.parse_cusd(text) == parsed


@pytest.mark.parametrize("text", ["+CUSD: ", '+CUSD: ,"x",15', "CUSD: 0", "+CUSD: x"])
def test_cusd_hopeless(text):
    with pytest.raises(AtParseError):
        at.parse_cusd(text)


_E160 = "49B41C74ACD3D16171D90D32FBE52072BA0C72CA5DB45CAC76C3CD6CB41B2D060389CB74F9FE4C07D55C371CA85897BF1B"
_E3276 = ("0414043B044F00200441043F044004300432043A04380020043E002004310430043B0430043D0441043500200"
          "43D04300431043504400438044204350020002A0031003000350023002E002004230441043B0443043304300"
          "020043104350441043F043B04300442043D0430002E")
_HE910 = ("613906310635064A062F06430020003100300037002E003900330020062F002E0644060C06270644063506440627062D"
          "064A0629002000200032003000310038002D00310031002D003000390000FFFF60B16260EEEEFFFFFFFFFFFFFFFFFFFF"
          "60B16260EEEEFFFF00A962600000000000000000EE000000000000000000000068B5626058655F60")
_M35 = "00480061007600690020006B0065007200650074003A0020003000460074"
_HEX8 = "536973612070756C73612052702E333030302E0A312E59410A"


@pytest.mark.parametrize("payload, dcs, text", [
    ("Available Balance: R 96.45 .", 15, "Available Balance: R 96.45 ."),
    (_E160, 15, "Ihr Guthaben für die Nr.4915783647410 beträgt 5.78 Euro"),
    (_E160, None, "Ihr Guthaben für die Nr.4915783647410 beträgt 5.78 Euro"),
    ("C8329BFD06", 15, "Hello"),
    ("C8329BFD06", 0x0F, "Hello"),
    (_E3276, 72, "Для справки о балансе наберите *105#. Услуга бесплатна."),
    (_HE910, 17, "رصيدك 107.93 د.ل،الصلاحية  2018-11-09"),
    (_M35, 15, "Havi keret: 0Ft"),
    (_HEX8, 0, "Sisa pulsa Rp.3000.\n1.YA\n"),
    ("00480069", 0x48, "Hi"),
    ("00480069", 0x11, "i"),
    ("48656C6C6F", 0xF4, "Hello"),
    ("2500", 15, "2500"),
    ("Maaf, permintaan Anda tidak dapat kami proses.", 0, "Maaf, permintaan Anda tidak dapat kami proses."),
    ("", 15, ""),
    (None, 15, ""),
])
def test_decode_ussd(payload, dcs, text):
    assert decode_ussd(payload, dcs) == text


def test_decode_ussd_overrides():
    assert decode_ussd("C8329BFD06", 15, hex_payload=False) == "C8329BFD06"
    assert decode_ussd("0031003200330034", 15) == "1234"
    assert decode_ussd("Bitte w{hlen", None, gsm_charset=True) == "Bitte wählen"
    assert decode_ussd("Bitte w{hlen", None) == "Bitte w{hlen"


# --- properties: arbitrary input never crashes a parser ---------------------------------------

_PARSERS = [
    at.parse_csq, at.parse_creg, at.parse_cops, at.parse_cpin, at.parse_iccid, at.parse_cmgr_header,
    at.parse_cmgl_header, at.parse_cmti, at.parse_cdsi, at.parse_cmgs,
    at.parse_clip, at.parse_cnum, at.parse_cusd,
]
_PREFIXES = ["", "+CSQ: ", "^RSSI:", "+CREG: ", "+CGREG:", "+CEREG: ", "+COPS: ", "+CPIN: ", "^ICCID: ",
             "+CCID: ", "+CMGR: ", "+CMGL: ", "+CMTI: ", "+CDSI: ", "+CMT: ", "+CDS: ", "+CMGS: ",
             "+CLIP: ", "+CNUM: ", "+CPMS: ", "+CUSD: "]
_FIELD_CHARS = st.sampled_from(list('0123456789ABCDEFabcdef,"() :\r\n\t+-.') + ["\x00", "\xff", "é", "٣", "²"])
_LINES = st.one_of(
    st.text(),
    st.builds(lambda p, body: p + body, st.sampled_from(_PREFIXES), st.text(_FIELD_CHARS, max_size=40)),
)


@settings(max_examples=400, deadline=None)
@given(_LINES)
def test_parsers_return_or_raise_at_parse_error(line):
    for parser in _PARSERS:
        try:
            parser(line)
        except AtParseError:
            pass


@settings(max_examples=300, deadline=None)
@given(_LINES)
def test_recognisers_never_raise(line):
    final = at.parse_final(line)
    assert final is None or isinstance(final, Final)
    name = at.urc_name(line)
    assert name is None or isinstance(name, str)
    assert isinstance(at.is_reset_urc(line), bool)
    prefix = at.expected_prefix(line)
    assert prefix is None or prefix.endswith(":")


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.none(), st.text(), st.text("0123456789ABCDEF"), st.binary().map(lambda b: b.hex().upper())),
       st.one_of(st.none(), st.integers(-5, 300)), st.sampled_from([None, True, False]), st.booleans())
def test_decode_ussd_never_raises(payload, dcs, hex_payload, gsm_charset):
    assert isinstance(decode_ussd(payload, dcs, hex_payload=hex_payload, gsm_charset=gsm_charset), str)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3), st.integers(0, 11), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFF), st.integers(0, 9))
def test_creg_round_trip(n, stat, lac, ci, act):
    line = f'+CREG: {n},{stat},"{lac:04X}","{ci:08X}",{act}'
    assert at.parse_creg(line, solicited=True) == Registration(n, stat, lac, ci, act)
    assert at.parse_creg(line) == Registration(n, stat, lac, ci, act)
    urc = f'+CREG: {stat},"{lac:04X}","{ci:08X}"'
    assert at.parse_creg(urc) == Registration(None, stat, lac, ci)
