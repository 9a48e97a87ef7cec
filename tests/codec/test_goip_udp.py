"""GoIP UDP codec: device captures and the documented shapes read back, the packets
we build compared byte for byte, and properties (parse raises only DatagramError;
what a device sends reads back as sent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.codec import goip_udp as g
from agent.codec.goip_udp import Event, Keepalive, Reply
from agent.errors import AgentError, DatagramError

CAPTURES = {c["name"]: c["datagram"].encode("utf-8")
            for c in json.loads((Path(__file__).parents[1] / "data" / "goip_udp_captures.json").read_text("utf-8"))}


def event(verb: str, recvid: str = "1", **fields: str) -> Event:
    return Event(verb, recvid, "G1", "pw", fields)


# --- keepalives ---------------------------------------------------------------------------


def test_full_keepalive_from_a_device():
    k = g.parse(CAPTURES["keepalive, full (GoIP with CELLINFO and CGATT)"])
    assert isinstance(k, Keepalive)
    assert (k.count, k.id, k.password) == ("3", "goip-1", "goip")
    assert list(k.fields) == ["num", "signal", "gsm_status", "voip_status", "voip_state", "remain_time", "imei", "imsi",
                              "iccid", "pro", "idle", "disable_status", "SMS_LOGIN", "SMB_LOGIN", "CELLINFO", "CGATT"]
    assert k.fields["CELLINFO"] == "LAC:FFFF,CELL ID:FFFF"
    assert k.fields["SMB_LOGIN"] == "" and k.fields["CGATT"] == "Y"
    assert k.signal is None  # "signal:" empty
    assert k.gsm_login
    assert (k.num, k.imei, k.imsi, k.iccid) == ("", "0" * 15, "0" * 15, "0" * 20)
    assert k.operator == "CHINA UNICOM GSM"


def test_the_spec_keepalive_line_and_older_firmware():
    k = g.parse(CAPTURES["keepalive, the full line of the spec"])
    assert (k.count, k.id, k.signal, k.operator) == ("27", "G101", 29, "POL")
    assert k.fields["CELLINFO"] == "LAC:7E5,CELL ID:5E5B" and k.fields["idle"] == "11"
    old = g.parse(CAPTURES["keepalive, older firmware (stops after pro)"])
    assert (old.num, old.signal, old.operator) == ("+48600100200", 17, "Orange PL")
    assert "CELLINFO" not in old.fields
    oldest = g.parse(CAPTURES["keepalive, oldest firmware (req..signal)"])
    assert oldest.signal is None and not oldest.gsm_login and list(oldest.fields) == ["num", "signal"]


@pytest.mark.parametrize("value, signal", [("0", 0), ("31", 31), ("99", None), ("32", None), ("", None),
                                           ("-1", None), ("2x", None), ("(null)", None), ("007", 7)])
def test_keepalive_signal(value, signal):
    assert g.parse(f"req:1;id:G1;pass:p;signal:{value};".encode()).signal == signal


def test_keepalive_null_values_and_the_first_of_two_keys():
    k = g.parse(b"req:9;id:G1;pass:p;num:(null);imei:<NULL>;gsm_status:LOGOUT;gsm_status:LOGIN;\r\n\x00")
    assert k.num == "" and k.imei == "" and not k.gsm_login
    assert g.parse(b"req:9;id:G1;password:p;").password == "p"
    assert g.parse(b"req:9;id:G1;").password == ""
    assert "s3cr3t" not in repr(g.parse(b"req:9;id:G1;pass:s3cr3t;"))  # the password stays out of logs


# --- events -------------------------------------------------------------------------------


def test_receive_with_chinese_text():
    e = g.parse(CAPTURES["RECEIVE"])
    assert e == Event("RECEIVE", "1571812849", "goip-1", "goip", {"srcnum": "1380013800", "msg": "测试"})
    assert g.ack(e) == b"RECEIVE 1571812849 OK\n"


def test_receive_text_is_everything_after_the_first_msg_key():
    e = g.parse(CAPTURES["RECEIVE with ; and : in the text"])
    assert e.recvid == "-1571812850"
    assert e.fields == {"srcnum": "+8613800138000", "msg": "验证码: 1234; 请勿泄露;msg:x"}
    assert g.ack(e, error="busy") == b"RECEIVE -1571812850 ERROR busy\n"
    smsc = g.parse(CAPTURES["RECEIVE with smscnum"])
    assert smsc.fields == {"srcnum": "10086", "smscnum": "+8613800100500", "msg": "hello"}
    assert g.parse(CAPTURES["RECEIVE with pass:"]).password == "goip"


def test_receive_text_keeps_its_inner_bytes_and_replaces_invalid_utf8():
    e = g.parse(b"RECEIVE:5;id:G1;password:p;srcnum:1;msg:  a\xff\xfeb;\x00c:d \r\n")
    assert e.fields["msg"] == "  a\ufffd\ufffdb;\x00c:d"  # leading spaces kept, trailing whitespace stripped
    assert g.parse(b"RECEIVE:5;id:G1;password:p;srcnum:1;msg:").fields["msg"] == ""
    assert g.parse(b"USSN:5;id:G1;password:p;msg:(null)").fields["msg"] == "(null)"  # verbatim, not a null


def test_deliver():
    e = g.parse(CAPTURES["DELIVER"])
    assert (e.verb, e.recvid, e.sms_no, e.state, e.num) == ("DELIVER", "1571812803", 32, 0, "+861380013800")
    assert g.ack(e) == b"DELIVER 1571812803 OK\n"
    odd = g.parse(b"DELIVER:1;id:G1;password:p;sms_no:x;state:")
    assert (odd.sms_no, odd.state, odd.num) == (None, None, "")


def test_hangup_splits_number_and_cause():
    e = g.parse(CAPTURES["HANGUP"])
    assert e.fields == {"num": "", "cause": "Normal call clearing"}
    assert g.ack(e) == b"HANGUP 1571812814 OK\n"
    e = g.parse(b"HANGUP:2;id:G1;password:p;num:+48600100200,cause:User busy")
    assert (e.num, e.fields["cause"]) == ("+48600100200", "User busy")
    assert g.parse(b"HANGUP:2;id:G1;password:p;num:123").fields == {"num": "123"}


def test_state_value_keeps_its_colon_and_negative_recvid():
    e = g.parse(CAPTURES["STATE with a number"])
    assert e.fields == {"gsm_remain_state": "INCOMING:+48600100200"}
    e = g.parse(b"STATE:-1571812793;id:G1;password:p;gsm_remain_state:IDLE")
    assert e.recvid == "-1571812793"
    assert g.ack(e) == b"STATE -1571812793 OK"
    assert g.ack(e, error="not find this id") == b"STATE -1571812793 not find this id"


@pytest.mark.parametrize("name, fields", [
    ("STATE", {"gsm_remain_state": "IDLE"}),
    ("RECORD incoming", {"dir": "1", "num": "1380013800"}),
    ("EXPIRY", {"exp": "0"}),
    ("REMAIN", {"gsm_remain_time": "-1"}),
    ("USSN", {"msg": "Your balance: 5.00; valid to 2024-01-01"}),
    ("BCCH", {"bcch": "689,638,783,785,640,"}),
    ("CELLS", {"lists": "689,638,783,785,640,"}),
    ("CELLINFO", {"info": '"LAC:7E5,CELL ID:5E5B"'}),
    ("CGATT", {"cgatt": "1"}),
    ("AT", {"count": "1", "receive": "write:AT+CREG?"}),
])
def test_other_events(name, fields):
    e = g.parse(CAPTURES[name])
    assert isinstance(e, Event) and e.fields == fields and e.id == "goip-1" and e.password == "goip"


def test_unknown_verbs_are_events_too():
    e = g.parse(b"NUMRECORD:77;id:G1;password:p;x:1")
    assert g.ack(e) == b"NUMRECORD 77 OK"
    assert g.parse(b"FOO_2:-3;id:G1;password:p").verb == "FOO_2"


@pytest.mark.parametrize("verb, ok, error", [
    ("RECEIVE", b"RECEIVE 5 OK\n", b"RECEIVE 5 ERROR bad\n"),
    ("DELIVER", b"DELIVER 5 OK\n", b"DELIVER 5 ERROR bad\n"),
    ("CELLS", b"CELLS 5 OK\n", b"CELLS 5 ERROR bad\n"),
    ("CELLINFO", b"CELLINFO 5 OK\n", b"CELLINFO 5 ERROR bad\n"),
    ("BCCH", b"BCCH 5 OK\n", b"BCCH 5 ERROR bad\n"),
    ("CGATT", b"CGATT 5 OK\n", b"CGATT 5 ERROR bad\n"),
    ("HANGUP", b"HANGUP 5 OK\n", b"HANGUP 5 ERROR bad\n"),
    ("USSN", b"USSN 5 OK\n", b"USSN 5 ERROR bad\n"),
    ("STATE", b"STATE 5 OK", b"STATE 5 bad"),
    ("RECORD", b"RECORD 5 OK", b"RECORD 5 bad"),
    ("REMAIN", b"REMAIN 5 OK", b"REMAIN 5 bad"),
    ("EXPIRY", b"EXPIRY 5 OK", b"EXPIRY 5 ERROR bad"),
    ("AT", b"", b""),
])
def test_acks(verb, ok, error):
    assert g.ack(event(verb, "5")) == ok
    assert g.ack(event(verb, "5"), error="bad") == error


def test_ack_refuses_a_line_break_in_the_error_text():
    with pytest.raises(ValueError):
        g.ack(event("RECEIVE"), error="a\nb")


# --- replies ------------------------------------------------------------------------------


@pytest.mark.parametrize("name, reply", [
    ("PASSWORD", Reply("PASSWORD", "11")),
    ("SEND", Reply("SEND", "11")),
    ("WAIT", Reply("WAIT", "11", ("1",))),
    ("OK", Reply("OK", "11", ("1", "32"))),
    ("OK, old firmware", Reply("OK", "11", ("1",))),
    ("ERROR errorstatus", Reply("ERROR", "11", ("1", "errorstatus:38"))),
    ("ERROR PASSWORD", Reply("ERROR", "11", ("PASSWORD",))),
    ("ERROR SENDID", Reply("ERROR", "11", ("SENDID",))),
    ("ERROR GSM_LOGOUT", Reply("ERROR", "11", ("GSM_LOGOUT",))),
    ("ERROR too many sends", Reply("ERROR", "11", ("too_many_sends_in_server",))),
    ("DONE", Reply("DONE", "11")),
    ("USSDEXIT", Reply("USSDEXIT", "1700000003")),
    ("command echo", Reply("svr_reboot_module", "7", ("ok",))),
    ("command value", Reply("get_gsm_num", "8", ("+48600100200",))),
    ("GSMERROR", Reply("GSMERROR", "9", ("password", "error"))),
])
def test_replies(name, reply):
    assert g.parse(CAPTURES[name]) == reply


def test_sms_no_with_and_without_it():
    assert g.sms_no(g.parse(CAPTURES["OK"])) == 32
    assert g.sms_no(g.parse(CAPTURES["OK, old firmware"])) is None
    assert g.sms_no(g.parse(CAPTURES["WAIT"])) is None


def test_ussd_replies():
    r = g.parse(CAPTURES["USSD"])
    assert (r.verb, r.sid, r.text) == ("USSD", "1700000000", "Your balance is 5.00 EUR")
    assert not g.ussd_failed(r)
    assert g.parse(b"USSD 5  two spaces: kept; ok @@\r\n@\x00").text == " two spaces: kept; ok "
    assert g.parse("USSD 5 Баланс 10 руб.\nМеню".encode()).text == "Баланс 10 руб.\nМеню"
    assert g.ussd_failed(g.parse(CAPTURES["USSD failed"]))
    err = g.parse(CAPTURES["USSDERROR"])
    assert err.text == "timeout" and g.ussd_failed(err)


def test_gsm_answer_is_a_reply_with_fields():
    r = g.parse(CAPTURES["GSM answer"])
    assert (r.verb, r.sid, r.args) == ("GSM", "1", ())
    assert r.fields["get_gsm_num"] == "" and r.fields["get_gsm_state"] == "IDLE" and r.fields["module_down"] == "0"
    assert g.parse(CAPTURES["GSM answer with a number"]).fields["get_gsm_num"] == "+861380013800"


@pytest.mark.parametrize("datagram, status", [
    (b"ERROR 11 1 errorstatus:38", 38), (b"ERROR 11 1 errorstatus:1", 1), (b"ERROR 11 2 ErrorStatus: 500", 500),
    (b"ERROR 11 1 errorstatus:x", None), (b"ERROR 11 SENDID", None), (b"OK 11 1 errorstatus:38", None),
])
def test_error_status(datagram, status):
    assert g.error_status(g.parse(datagram)) == status


@pytest.mark.parametrize("datagram, kind", [
    (b"ERROR 11 SENDID", "retry_session"),
    (b"ERROR 11 PASSWORD", "retry_session"),
    (b"ERROR 11 too_many_sends_in_server", "retry_session"),
    (b"ERROR 11 something unheard of", "retry_session"),
    (b"ERROR 11", "retry_session"),
    (b"ERROR 11 GSM_LOGOUT", "line_down"),
    (b"ERROR 11 3 GSM_LOGOUT", "line_down"),
    (b"ERROR 11 1 errorstatus:38", "temporary"),
    (b"ERROR 11 1 errorstatus:500", "temporary"),
    (b"ERROR 11 1 errorstatus:1", "temporary"),
    (b"ERROR 11 1", "temporary"),
    (b"ERROR 11 1 errorstatus:30", "permanent"),
    (b"ERROR 11 1 errorstatus:21", "permanent"),
])
def test_classify_error(datagram, kind):
    assert g.classify_error(g.parse(datagram)) == kind


def test_classify_error_wants_an_error():
    with pytest.raises(ValueError):
        g.classify_error(g.parse(CAPTURES["OK"]))


# --- refused datagrams --------------------------------------------------------------------


@pytest.mark.parametrize("datagram", [
    b"", b" \r\n\x00\t", b"x" * (g.MAX_DATAGRAM + 1), b"DONE", b"OK", b";req:1;id:G1", b"RECEIVE;id:G1",
    b"RECEIVE:1;msg:text without id", b"RECEIVE:1;password:p;srcnum:1", b"RECEIVE:1;id:;password:p",
    b"RECEIVE:1;id:(null);password:p", b"RECEIVE:1;id:a b;password:p", b"RECEIVE:;id:G1",
    b"RECEIVE:1 2;id:G1", b"RECEIVE:1:2;id:G1", b"RECE IVE:1;id:G1", b"RE-CEIVE:1;id:G1", b"\xffEVENT:1;id:G1",
    b"STATE:1;id:G1;password:p;garbage", b"STATE:1;id:G1;:value", b"STATE:1;id:G\xff1;password:p",
    b"STATE:1;id:G1;password:p\xff", b"STATE:1;id:G1;ke\xffy:v", b"STATE:\xff;id:G1",
    b"STATE:1;id:G1;id:G2", b"STATE:1;id:G1;pass:a;password:b", b"OK \xff1", b"O\xffK 1", b"O.K 1",
    b"OK 1;2 3", b"OK 1:2",
])
def test_refused(datagram):
    with pytest.raises(DatagramError) as info:
        g.parse(datagram)
    assert info.value.reason and b"G1" not in str(info.value).encode()


def test_datagram_error_is_an_agent_error_and_sizes():
    assert issubclass(DatagramError, AgentError)
    assert g.parse(b"OK 1 " + b"1" * (g.MAX_DATAGRAM - 5)).verb == "OK"  # exactly MAX_DATAGRAM
    with pytest.raises(TypeError):
        g.parse("OK 1 1")  # type: ignore[arg-type]


def test_value_bytes_that_are_not_utf8_are_replaced_and_doubles_agree():
    e = g.parse(b"STATE:1;id:G1;password:p;id:G1;gsm_remain_state:ID\xffLE")
    assert e.fields == {"gsm_remain_state": "ID\ufffdLE"}
    assert g.parse(b"OK 11 \xff\xfe").args == ("\ufffd\ufffd",)


# --- built packets ------------------------------------------------------------------------


def test_built_packets_byte_for_byte():
    assert g.reg("27") == b"reg:27;status:200;"
    assert g.reg("-3", 0) == b"reg:-3;status:0;"
    assert g.msg(11, "hello") == b"MSG 11 5 hello\n"
    assert g.msg(12, "测试") == "MSG 12 6 测试\n".encode()
    assert g.msg(13, "a\nb") == b"MSG 13 3 a\nb\n"
    assert g.msg(14, "") == b"MSG 14 0 \n"
    assert g.password(11, "goip") == b"PASSWORD 11 goip\n"
    assert g.send(11, 1, "+48600100200") == b"SEND 11 1 +48600100200\n"
    assert g.done(11) == b"DONE 11\n"
    assert g.ussd(1700000000, "goip", "*100#") == b"USSD 1700000000 goip *100#"
    assert g.ussd_exit(1700000001, "goip") == b"USSDEXIT 1700000001 goip"
    assert g.command("svr_reboot_module", 7, "goip") == b"svr_reboot_module 7 goip"
    assert g.command("get_gsm_num", 8, "goip") == b"get_gsm_num 8 goip"
    assert g.command("set_gsm_num", 9, "goip", "+48600100200") == b"set_gsm_num 9 +48600100200 goip"
    assert g.command("module_ctl_i", 10, "goip", "0") == b"module_ctl_i 10 0 goip"


def test_msg_length_limit_in_utf8_bytes():
    assert len(g.msg(1, "测" * 1000)) == len(b"MSG 1 3000 \n") + 3000
    with pytest.raises(ValueError, match="3003"):
        g.msg(1, "测" * 1001)
    assert g.msg(1, "a" * 3000).startswith(b"MSG 1 3000 a")
    with pytest.raises(ValueError):
        g.msg(1, "a" * 3001)


@pytest.mark.parametrize("build", [
    lambda: g.msg(0, "x"), lambda: g.msg(2**31, "x"), lambda: g.msg(True, "x"), lambda: g.msg(-1, "x"),
    lambda: g.msg("1", "x"), lambda: g.msg(1, "a\x00b"), lambda: g.msg(1, "\ud800"),
    lambda: g.password(1, "two words"), lambda: g.password(1, ""), lambda: g.send(1, 0, "123"),
    lambda: g.send(1, 1, "12;3"), lambda: g.send(1, 1, ""), lambda: g.done(2**31),
    lambda: g.ussd(1, "pw", "*100# "),
    lambda: g.ussd(0, "pw", "*100#"), lambda: g.command("bad name", 1, "pw"), lambda: g.command("x", 1, "pw", "a:b"),
    lambda: g.reg("1;status:0"), lambda: g.reg("1", "200"),  # type: ignore[arg-type]
])
def test_built_packets_refuse_what_breaks_framing(build):
    with pytest.raises(ValueError):
        build()


def test_password_is_not_quoted_in_errors():
    with pytest.raises(ValueError) as info:
        g.password(1, "sec ret")
    assert "sec" not in str(info.value)


@pytest.mark.parametrize("value, ok", [
    ("goip-1", True), ("+48600100200", True), ("测试", True), ("*100#", True), ("", False), ("a;b", False),
    ("a:b", False), ("a b", False), ("a\tb", False), ("a\x00", False), ("a\u3000b", False), ("\udc80", False),
    (None, False), (5, False),
])
def test_token_ok(value, ok):
    assert g.token_ok(value) is ok


# --- properties ---------------------------------------------------------------------------

_STRIPPED = " \t\r\n\x0b\x0c\x00"
tokens = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")).filter(
    lambda c: c not in ";:"), min_size=1, max_size=12).filter(lambda t: t not in ("(null)", "<NULL>"))
recvids = st.integers(-2**31, 2**31).map(str)
keys = st.from_regex(r"[A-Za-z][A-Za-z0-9_ ]{0,10}[A-Za-z0-9_]", fullmatch=True).filter(
    lambda k: k not in ("id", "pass", "password"))
values = st.text(st.characters(blacklist_categories=("Cs",)).filter(lambda c: c != ";"), max_size=20).map(
    lambda v: v.strip()).filter(lambda v: v not in ("(null)", "<NULL>") and v == v.strip(_STRIPPED))
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200).filter(lambda t: t == t.rstrip(_STRIPPED))


def device_event(verb: str, recvid: str, ident: str, pw: str, pairs: list[tuple[str, str]]) -> bytes:
    """What a line sends: ``VERB:<recvid>;id:..;password:..;k:v;...`` (no trailing ';')."""
    return ";".join([f"{verb}:{recvid}", f"id:{ident}", f"password:{pw}", *(f"{k}:{v}" for k, v in pairs)]).encode()


@settings(max_examples=300)
@given(st.binary(max_size=5000))
@example(b"\x00" * 5000)
@example(b"RECEIVE:1;id:G1;password:p;msg:" + b"\xff" * 4000)
@example(b"\xed\xa0\x80:1;id:G1")
@example(b"USSD 1 " + b"@" * 100)
def test_parse_raises_only_datagram_error(data):
    try:
        result = g.parse(data)
    except DatagramError:
        return
    assert len(data) <= g.MAX_DATAGRAM
    if isinstance(result, Event):
        assert g.token_ok(result.id) and g.token_ok(result.recvid)
        g.ack(result)
        g.ack(result, error="x")
    elif isinstance(result, Keepalive):
        assert g.reg(result.count).startswith(b"reg:")


@settings(max_examples=300)
@given(st.sampled_from(sorted(CAPTURES.values())), st.lists(st.tuples(st.integers(0, 4096), st.binary(max_size=8)),
                                                           max_size=4))
def test_captures_with_bytes_inserted_raise_only_datagram_error(capture, inserts):
    data = bytearray(capture)
    for at, chunk in inserts:
        data[at:at] = chunk
    try:
        g.parse(bytes(data))
    except DatagramError:
        pass


@settings(max_examples=200)
@given(tokens, tokens, tokens, st.lists(st.tuples(keys, values), max_size=8, unique_by=lambda kv: kv[0]))
def test_keepalive_round_trip(count, ident, pw, pairs):
    data = ";".join([f"req:{count}", f"id:{ident}", f"pass:{pw}", *(f"{k}:{v}" for k, v in pairs)]) + ";"
    assert g.parse(data.encode()) == Keepalive(count, ident, pw, dict(pairs))


@settings(max_examples=300)
@given(recvids, tokens, tokens, tokens, texts, st.booleans())
def test_receive_round_trip(recvid, ident, pw, srcnum, text, smsc):
    pairs = [("srcnum", srcnum)] + ([("smscnum", "+8613800100500")] if smsc else []) + [("msg", text)]
    e = g.parse(device_event("RECEIVE", recvid, ident, pw, pairs))
    assert e == Event("RECEIVE", recvid, ident, pw, dict(pairs))
    assert g.ack(e) == f"RECEIVE {recvid} OK\n".encode()


@settings(max_examples=200)
@given(st.sampled_from(["DELIVER", "STATE", "RECORD", "REMAIN", "EXPIRY", "CELLS", "BCCH", "CGATT", "CELLINFO"]),
       recvids, tokens, tokens, st.lists(st.tuples(keys, values), max_size=5, unique_by=lambda kv: kv[0]))
def test_event_round_trip(verb, recvid, ident, pw, pairs):
    e = g.parse(device_event(verb, recvid, ident, pw, pairs))
    assert e == Event(verb, recvid, ident, pw, dict(pairs))


causes = st.text(st.characters(blacklist_categories=("Cs",)).filter(lambda c: c not in ";\0"), max_size=30).map(
    str.strip)


@settings(max_examples=200)
@given(recvids, tokens, st.from_regex(r"\+?[0-9]{0,15}", fullmatch=True), causes)
def test_hangup_round_trip(recvid, ident, num, cause):
    e = g.parse(device_event("HANGUP", recvid, ident, "pw", [("num", f"{num},cause:{cause}")]))
    assert (e.num, e.fields["cause"]) == (num, cause)


@settings(max_examples=200)
@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1), st.one_of(st.none(), st.integers(0, 2**31)))
def test_send_replies_round_trip(sid, telid, number):
    tail = "" if number is None else f" {number}"
    r = g.parse(f"OK {sid} {telid}{tail}\n".encode())
    assert (r.sid, r.args[0], g.sms_no(r)) == (str(sid), str(telid), number)


@settings(max_examples=200)
@given(st.integers(1, 2**31 - 1), texts.filter(lambda t: t == t.rstrip("@")), st.integers(0, 20))
def test_ussd_reply_round_trip(sendid, text, padding):
    r = g.parse(f"USSD {sendid} {text}".encode() + b"@" * padding + b"\r\n")
    assert (r.sid, r.text) == (str(sendid), text)


@settings(max_examples=200)
@given(st.integers(1, 2**31 - 1), st.text(st.characters(blacklist_categories=("Cs",)).filter(lambda c: c != "\0"),
                                          max_size=1000))
def test_msg_declares_its_utf8_length(sid, text):
    data = text.encode()
    if len(data) > g.MAX_TEXT_BYTES:
        with pytest.raises(ValueError):
            g.msg(sid, text)
        return
    head, _, rest = g.msg(sid, text).partition(b" ")[2].partition(b" ")[2].partition(b" ")
    assert int(head) == len(data) and rest == data + b"\n"
