"""``sms-agent pdu`` through agent.pdu_cli.main."""

from __future__ import annotations

import json

from agent import pdu_cli
from agent.codec import pdu

DELIVER = "07911326040000F0040B911346610089F60000208062917314480CC8F71D14969741F977FD07"


def run(capsys, *argv):
    status = pdu_cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_decode_deliver(capsys):
    status, out, err = run(capsys, "decode", DELIVER)
    assert (status, err) == (0, "")
    assert out.count("\n") == 1
    obj = json.loads(out)
    assert obj["type"] == "SMS-DELIVER"
    assert (obj["smsc"], obj["sender"], obj["text"], obj["encoding"]) == (
        "+31624000000", "+31641600986", "How are you?", "gsm7")
    assert (obj["scts"], obj["concat"]) == ("2002-08-26T19:37:41-01:00", None)


def test_decode_prints_unicode_as_is(capsys):
    status, out, _ = run(capsys, "decode", "07913306092041F0040B913306991364F60008619091516061800AD83DDE03D83DDE0E0020")
    assert status == 0 and '"text": "😃😎 "' in out


def test_decode_without_smsc_field_and_concat(capsys):
    status, out, _ = run(capsys, "decode", "--no-smsc", "06050D91945152991136F00160124130640A0160124130450A00")
    obj = json.loads(out)
    assert (status, obj["type"], obj["reference"], obj["status"], obj["recipient"]) == (
        0, "SMS-STATUS-REPORT", 5, 0, "+4915259911630")
    assert obj["discharge_time"] == "2010-06-21T14:03:54-05:00"
    _, out, _ = run(capsys, "decode", "07919730071111F1400B919746121611F10000100161916223230D0500032E020190E175DD1D06")
    assert json.loads(out)["concat"] == {"ref": 46, "total": 2, "seq": 1}


def test_decode_8bit_shows_latin1_text_and_hex(capsys):
    _, out, _ = run(capsys, "decode", "07912143658709F1040B918100551512F20004111010214365000AE8329BFD4697D9EC37DE")
    obj = json.loads(out)
    assert (obj["encoding"], obj["data"]) == ("8bit", "E8329BFD4697D9EC37DE")
    assert obj["text"] == bytes.fromhex("E8329BFD4697D9EC37DE").decode("latin-1")


def test_decode_bad_pdu_exits_2_with_one_line(capsys):
    for bad in ["zz", "07912143658709F1040B918100551512F20000111010214365000BE8329BFD4697D9EC37", ""]:
        status, out, err = run(capsys, "decode", bad)
        assert (status, out) == (2, "")
        assert err.count("\n") == 1 and err.startswith("sms-agent pdu decode: ")


def test_encode_single_part(capsys):
    status, out, err = run(capsys, "encode", "--to", "+34616585119", "--no-validity", "hola")
    assert (status, err) == (0, "")
    assert out == "AT+CMGS=17\n0001000B914316565811F9000004E8373B0C\n"


def test_encode_options(capsys):
    status, out, _ = run(capsys, "encode", "--to", "+31628870634", "--srr", "--validity", "4320",
                         "--smsc", "+31624000000", "www.diafaan.com")
    assert status == 0
    assert out.splitlines()[1] == pdu.encode_submit(
        "+31628870634", "www.diafaan.com", srr=True, validity_minutes=4320, smsc="+31624000000").hex
    _, out, _ = run(capsys, "encode", "--to", "+1", "--flash", "--ucs2", "hi")
    msg = pdu.decode(out.splitlines()[1])
    assert (msg.encoding, msg.message_class, msg.validity.total_seconds()) == ("ucs2", 0, 86400)


def test_encode_multipart(capsys):
    status, out, _ = run(capsys, "encode", "--to", "+1", "--ref", "9", "x" * 200)
    lines = out.splitlines()
    assert status == 0 and len(lines) == 4
    assert [line.startswith("AT+CMGS=") for line in lines] == [True, False, True, False]
    msgs = [pdu.decode(line) for line in lines[1::2]]
    assert [m.concat.seq for m in msgs] == [1, 2] and {m.concat.ref for m in msgs} == {9}
    assert lines[0] == f"AT+CMGS={len(lines[1]) // 2 - 1}"
    assert "".join(m.text for m in msgs) == "x" * 200


def test_encode_errors_exit_2(capsys):
    for argv in (["--to", "Alice", "hi"], ["--to", "+1", "--max-parts", "1", "x" * 200],
                 ["--to", "+1", "--validity", "-5", "hi"], ["--to", "+1", "--ref", "300", "x" * 200]):
        status, out, err = run(capsys, "encode", *argv)
        assert (status, out) == (2, "") and err.count("\n") == 1


def test_usage_errors(capsys):
    assert run(capsys)[0] == 2
    assert run(capsys, "encode", "hi")[0] == 2
    assert run(capsys, "frobnicate")[0] == 2
    assert run(capsys, "--help")[0] == 0
