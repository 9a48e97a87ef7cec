"""CMPP 2.0 / 3.0 codec: the reference client's exact bytes and the third-party clients'
captured bytes decode right, our PDUs compared byte for byte, authenticators computed
independently, Msg_Id, content and times, and hostile bytes raise CmppError only."""

from __future__ import annotations

import hashlib
import json
import random
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.codec import cmpp as c
from agent.codec import cmpp_client as cc
from agent.codec.cmpp import CmppError, CodingError
from agent.codec.tpdu_fields import Concat

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "cmpp_vectors.json").read_text("utf-8"))
TEXT = "你好,短信测试【测试】"


def seed_connect(username: bytes, password: bytes, t: str) -> bytes:
    """The reference client's CMPP_CONNECT, as its Python 3 port builds it."""
    m = hashlib.md5()
    for part in (username, b"\x00" * 9, password, t.encode()):
        m.update(part)
    return struct.pack("!LLL6s16sBi", 39, 1, 1, username, m.digest(), 0x20, int(t))


def seed_submit(username: bytes, module: bytes, shortcode: bytes, dest: bytes, message: bytes) -> bytes:
    """The reference client's CMPP_SUBMIT."""
    i = len(message)
    return struct.pack("!LLL8xBB2x10s24xB6s8s34x21sB21sB%ds8x" % i, 159 + i, 4, 2,
                       1, 1, module, 15, username, b"01000000", shortcode, 1, dest, i, message)


# --- the reference client -------------------------------------------------------------------------


@pytest.mark.parametrize("t", ["0102030405", "1231235959"])
def test_seed_connect(t):
    pdu = c.decode(seed_connect(b"901234", b"pass", t), c.V2)
    expected = hashlib.md5(b"901234" + bytes(9) + b"pass" + t.encode()).digest()
    assert pdu == c.Connect(1, "901234", expected, 0x20, int(t))
    assert pdu.authenticator == c.authenticator_source("901234", "pass", pdu.timestamp)
    assert c.decode(seed_connect(b"901234", b"pass", t), c.V3) == pdu  # CONNECT reads the same in both
    assert cc.encode_connect(1, "901234", "pass", int(t), c.V2) == seed_connect(b"901234", b"pass", t)


def test_seed_submit_gbk():
    frame = seed_submit(b"901234", b"MODULE", b"10658888", b"13800138000", TEXT.encode("gbk"))
    s = c.decode(frame, c.V2)
    assert isinstance(s, c.Submit)
    assert (s.sequence, s.msg_id, s.pk_total, s.pk_number, s.service_id, s.msg_fmt, s.msg_src) == \
        (2, 0, 1, 1, "MODULE", 15, "901234")
    assert (s.fee_type, s.fee_code, s.valid_time, s.at_time, s.src_id) == ("01", "000000", "", "", "10658888")
    assert s.dest_terminal_ids == ["13800138000"] and s.link_id == "" and s.fee_terminal_type == 0
    assert c.decode_content(s.msg_fmt, s.content) == (TEXT, "7")
    assert cc.encode_submit(2, version=c.V2, dest_terminal_ids=["13800138000"], content=TEXT.encode("gbk"),
                           src_id="10658888", msg_src="901234", service_id="MODULE") == frame


def test_seed_responses_are_what_the_client_reads():
    resp = c.encode_connect_resp(1, 0, bytes(16), c.V2)
    assert len(resp) == 30 and struct.unpack("!12xB17x", resp) == (0,)
    resp = c.encode_submit_resp(2, 0x0123456789ABCDEF, 0, c.V2)
    assert len(resp) == 21 and struct.unpack("!12x8sB", resp) == (bytes.fromhex("0123456789abcdef"), 0)
    assert c.decode(struct.pack("!LLL", 12, 2, 3), c.V2) == c.Terminate(3)
    assert c.encode_terminate_resp(3) == struct.pack("!LLL", 12, 0x80000002, 3)


# --- CMPP 3.0 -------------------------------------------------------------------------------------


def test_v3_submit_widths():
    ids = ["8613800138000", "x" * 32]
    frame = cc.encode_submit(7, version=c.V3, dest_terminal_ids=ids, content=b"hello", msg_fmt=0, src_id="106",
                            msg_src="SP0001", service_id="SVC", link_id="L" * 20, fee_terminal_id="f" * 32)
    assert len(frame) == 12 + 151 + 32 * 2 + 5
    s = c.decode(frame, c.V3)
    assert s.dest_terminal_ids == ids and s.link_id == "L" * 20 and s.fee_terminal_id == "f" * 32
    assert s.content == b"hello" and c.decode_content(0, s.content) == ("hello", "7")
    with pytest.raises(CmppError):
        c.decode(frame, c.V2)


def test_v3_responses_byte_exact():
    auth = bytes(range(16))
    assert c.encode_connect_resp(5, 3, auth, c.V3) == \
        struct.pack("!LLLL16sB", 33, 0x80000001, 5, 3, auth, 0x30)
    assert c.encode_connect_resp(5, 3, auth, c.V2) == struct.pack("!LLLB16sB", 30, 0x80000001, 5, 3, auth, 0x20)
    assert c.encode_submit_resp(6, 42, 13, c.V3) == struct.pack("!LLLQL", 24, 0x80000004, 6, 42, 13)
    assert cc.decode_submit_resp(c.encode_submit_resp(6, 42, 13, c.V3), c.V3) == (42, 13)
    assert cc.decode_connect_resp(c.encode_connect_resp(5, 3, auth, c.V3), c.V3) == (3, auth, 0x30)
    assert c.encode_active_test_resp(9) == struct.pack("!LLLB", 13, 0x80000008, 9, 0)
    assert c.encode_active_test(9) == struct.pack("!LLL", 12, 8, 9)
    assert c.encode_terminate(9) == struct.pack("!LLL", 12, 2, 9)
    assert c.encode_cancel_resp(9, True, c.V3) == struct.pack("!LLLL", 16, 0x80000007, 9, 0)


def test_other_pdus_an_sp_sends():
    for v, fmt in ((c.V2, "!LLLQB"), (c.V3, "!LLLQL")):
        frame = struct.pack(fmt, struct.calcsize(fmt), c.DELIVER_RESP, 4, 99, 0)
        assert c.decode(frame, v) == c.DeliverResp(4, 99, 0)
        assert cc.encode_deliver_resp(4, 99, 0, v) == frame
    assert c.decode(struct.pack("!LLLB", 13, c.ACTIVE_TEST_RESP, 1, 0), c.V2) == c.ActiveTestResp(1)
    assert c.decode(struct.pack("!LLL", 12, c.ACTIVE_TEST_RESP, 1), c.V2) == c.ActiveTestResp(1)
    assert c.decode(struct.pack("!LLL", 12, c.ACTIVE_TEST, 1), c.V3) == c.ActiveTest(1)
    assert c.decode(struct.pack("!LLL", 12, c.TERMINATE_RESP, 1), c.V3) == c.TerminateResp(1)
    assert c.decode(struct.pack("!LLLQ", 20, c.CANCEL, 2, 77), c.V2) == c.Cancel(2, 77)
    q = c.decode(struct.pack("!LLL8sB10s8x", 39, c.QUERY, 3, b"20240101", 1, b"SVC"), c.V2)
    assert q == c.Query(3, "20240101", 1, "SVC")
    assert len(c.encode_query_resp(3, q, (1, 2, 3, 4, 5, 6, 7, 8))) == 12 + 51
    assert c.decode(struct.pack("!LLL", 12, 0x00000009, 8), c.V2) == c.Unknown(8, 9)
    assert c.NAMES[c.SUBMIT_RESP] == "CMPP_SUBMIT_RESP"


@pytest.mark.parametrize("requested,agreed", [(0x20, c.V2), (0x21, c.V2), (0x30, c.V3), (0x40, None), (0x10, None)])
def test_agreed_version(requested, agreed):
    assert c.agreed_version(requested) == agreed


# --- third-party clients ------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_third_party_client_vectors(vector):
    version = c.V3 if vector["cmpp_version"] == "3.0" else c.V2
    pdu = c.decode(bytes.fromhex(vector["hex"]), version)
    e = vector["expect"]
    if isinstance(pdu, c.Connect):
        assert (pdu.source_addr, pdu.version, pdu.timestamp) == (e["source_addr"], e["version"], e["timestamp"])
        assert pdu.authenticator == c.authenticator_source(e["source_addr"], e["secret"], pdu.timestamp)
    elif isinstance(pdu, c.Submit):
        concat, rest = c.split_udhi(pdu.content) if pdu.tp_udhi else (None, pdu.content)
        assert (concat.ref, concat.total, concat.seq) == tuple(e["concat"]) if concat else "concat" not in e
        assert pdu.msg_fmt == e["msg_fmt"] and c.decode_content(pdu.msg_fmt, rest)[0] == e["text"]
        for key in ("src_id", "dest_terminal_ids", "service_id", "link_id", "msg_src", "fee_code", "fee_usertype"):
            assert getattr(pdu, key) == e[key], key
    else:
        assert isinstance(pdu, (c.Terminate, c.ActiveTest))


# --- DELIVER: MOs and reports ---------------------------------------------------------------------


@pytest.mark.parametrize("version,term,size", [(c.V2, 21, 60), (c.V3, 32, 71)])
def test_report_round_trip(version, term, size):
    frame = c.encode_report(11, msg_id=123, dest_id="10658888", service_id="MODULE", src_terminal_id="13800138000",
                            report_msg_id=0xFEDCBA9876543210, stat="DELIVRD",
                            submit_time=datetime(2024, 3, 9, 14, 5), done_time=datetime(2024, 3, 9, 14, 6, 59),
                            dest_terminal_id="13800138000", smsc_sequence=77, version=version)
    d = cc.decode_deliver(frame, version)
    assert d["registered_delivery"] == 1 and len(d["content"]) == size and d["sequence"] == 11
    assert (d["msg_id"], d["dest_id"], d["service_id"], d["src_terminal_id"]) == \
        (123, "10658888", "MODULE", "13800138000")
    assert d["report"] == {"msg_id": 0xFEDCBA9876543210, "stat": "DELIVRD", "submit_time": "2403091405",
                           "done_time": "2403091406", "dest_terminal_id": "13800138000", "smsc_sequence": 77}
    assert len(frame) == 12 + (73 if version == c.V2 else 97) + size
    assert frame[12 + 8 + 21 + 10 + 3 + term + (1 if version == c.V3 else 0)] == 1


@pytest.mark.parametrize("version", [c.V2, c.V3])
def test_mo_deliver_round_trip(version):
    fmt, content = c.encode_content("回复 TD", "7")
    frame = c.encode_deliver(1, msg_id=5, dest_id="106588881", service_id="", src_terminal_id="13800138000",
                             msg_fmt=fmt, content=content, version=version, link_id="abc" if version == c.V3 else "")
    d = cc.decode_deliver(frame, version)
    assert d["report"] is None and d["registered_delivery"] == 0
    assert c.decode_content(d["msg_fmt"], d["content"]) == ("回复 TD", "U")
    assert d["link_id"] == ("abc" if version == c.V3 else "")


def test_encoders_refuse_what_does_not_fit():
    for call in (lambda: c.encode_deliver(1, msg_id=1, dest_id="1" * 22, service_id="", src_terminal_id="1",
                                          msg_fmt=0, content=b"", version=c.V2),
                 lambda: c.encode_deliver(1, msg_id=1, dest_id="1", service_id="", src_terminal_id="1",
                                          msg_fmt=0, content=b"x" * 141, version=c.V2),
                 lambda: c.encode_submit_resp(1, 1 << 64, 0, c.V2),
                 lambda: c.encode_submit_resp(1, 1, 256, c.V2),
                 lambda: c.encode_connect_resp(1, 0, b"short", c.V2),
                 lambda: c.encode_active_test(1 << 32)):
        with pytest.raises(c.EncodeError):
            call()
    with pytest.raises(ValueError):
        c.encode_submit_resp(1, 1, 0, 0x21)


# --- authenticators, Msg_Id -----------------------------------------------------------------------


def test_authenticators():
    src = hashlib.md5(b"SP0001" + b"\0" * 9 + b"secret" + b"0305080910").digest()
    assert c.authenticator_source("SP0001", "secret", 305080910) == src
    assert c.authenticator_ismg(0, src, "secret") == hashlib.md5(b"\0" + src + b"secret").digest()
    assert c.authenticator_ismg(3, src, "secret", c.V3) == hashlib.md5(b"\0\0\0\3" + src + b"secret").digest()


def test_msg_id():
    when = datetime(2024, 12, 31, 23, 59, 58)
    mid = c.pack_msg_id(when, 0x3FFFFF, 0x1FFFF)
    assert c.unpack_msg_id(mid) == (12, 31, 23, 59, 58, 0x3FFFFF, 0xFFFF)
    assert mid == (((((12 << 5 | 31) << 5 | 23) << 6 | 59) << 6 | 58) << 22 | 0x3FFFFF) << 16 | 0xFFFF
    assert c.unpack_msg_id(c.pack_msg_id(datetime(2024, 1, 1), 7, 1)) == (1, 1, 0, 0, 0, 7, 1)
    assert mid < 1 << 64
    with pytest.raises(ValueError):
        c.pack_msg_id(when, 1 << 22, 0)


# --- content, UDH, times --------------------------------------------------------------------------


def test_content():
    assert c.decode_content(8, "€😀".encode("utf-16-be")) == ("€😀", "U")
    assert c.decode_content(4, b"\x00\xff") == ("\x00\xff", "8")
    assert c.decode_content(3, b"\x01") == ("\x01", "8")
    assert c.decode_content(15, "中文".encode("gb18030")) == ("中文", "7")
    for fmt, raw in ((0, b"\x80"), (8, b"\x00"), (8, b"\xd8\x00"), (15, b"\x81"), (9, b"x"), (16, b"")):
        with pytest.raises(CodingError):
            c.decode_content(fmt, raw)
    assert c.encode_content("hi", "7") == (0, b"hi")
    assert c.encode_content("hi", "8") == (4, b"hi")
    assert c.encode_content("é", "U") == (8, b"\x00\xe9")
    with pytest.raises(ValueError):
        c.encode_content("中", "8")


def test_long_message_parts():
    text = "长" * 100
    parts = [text[:67], text[67:]]
    for n, part in enumerate(parts, 1):
        content = bytes([5, 0, 3, 0xA7, 2, n]) + part.encode("utf-16-be")
        frame = cc.encode_submit(n, version=c.V2, dest_terminal_ids=["13800138000"], content=content, msg_fmt=8,
                                tp_udhi=1, pk_total=2, pk_number=n)
        s = c.decode(frame, c.V2)
        concat, rest = c.split_udhi(s.content)
        assert concat == Concat(0xA7, 2, n) and c.decode_content(8, rest) == (part, "U")
    concat, rest = c.split_udhi(bytes([6, 8, 4, 0x12, 0x34, 3, 2]) + b"ab")
    assert concat == Concat(0x1234, 3, 2, 16) and rest == b"ab"
    assert c.split_udhi(b"\x00abc") == (None, b"abc")
    for bad in (b"", b"\x05\x00\x03"):
        with pytest.raises(CodingError):
            c.split_udhi(bad)


def test_parse_time():
    now = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert c.parse_time("", now) is None
    assert c.parse_time("240502103000032+", now) == \
        datetime(2024, 5, 2, 10, 30, tzinfo=timezone(timedelta(hours=8)))
    assert c.parse_time("240502103015104-", now) == \
        datetime(2024, 5, 2, 10, 30, 15, 100000, tzinfo=timezone(timedelta(hours=-1)))
    assert c.parse_time("000001020304000R", now) == now + timedelta(days=1, hours=2, minutes=3, seconds=4)
    for bad in ("2405021030", "241302103000032+", "240502103000032X", "24050210300003 +", "240502103000099+"):
        with pytest.raises(ValueError):
            c.parse_time(bad, now)


# --- hostile bytes --------------------------------------------------------------------------------


def _submit(version=c.V2, **kw):
    kw.setdefault("dest_terminal_ids", ["13800138000"])
    kw.setdefault("content", b"hello")
    return cc.encode_submit(1, version=version, msg_fmt=0, **kw)


def _with_total(frame: bytes) -> bytes:
    return struct.pack("!L", len(frame)) + frame[4:]


def _refused(frame: bytes, version: int) -> CmppError:
    with pytest.raises(CmppError) as info:
        c.decode(frame, version)
    return info.value


@pytest.mark.parametrize("version", [c.V2, c.V3])
def test_hostile_submits(version):
    good = _submit(version)
    msg_length_at = len(good) - (20 if version == c.V3 else 8) - 5 - 1
    assert good[msg_length_at] == 5
    lying = bytearray(good)
    lying[msg_length_at] = 9
    assert _refused(bytes(lying), version).result == c.SUBMIT_BAD_LENGTH
    lying[msg_length_at] = 2
    assert _refused(bytes(lying), version).result == c.SUBMIT_BAD_LENGTH
    assert _refused(good[:-1], version).result == 1  # Total_Length disagrees
    assert _refused(_with_total(good[:-1]), version).result == c.SUBMIT_BAD_LENGTH
    assert _refused(_with_total(good[:60]), version).result == 1
    assert _refused(_with_total(good + b"x"), version).result == c.SUBMIT_BAD_LENGTH
    assert _refused(_submit(version, dest_terminal_ids=[]), version).result == 1
    too_many = _submit(version, dest_terminal_ids=["1"] * 101)
    e = _refused(too_many, version)
    assert (e.result, e.command_id, e.sequence) == (1, c.SUBMIT, 1)
    dest_tl_at = 12 + (129 if version == c.V3 else 117) - 1
    two_hundred = bytearray(good)
    two_hundred[dest_tl_at] = 200
    assert _refused(bytes(two_hundred), version).result == 1
    assert _refused(_submit(version, content=b"x" * 141), version).result == c.SUBMIT_TOO_LONG
    assert c.decode(_submit(version, content=b"x" * 140), version).content == b"x" * 140
    assert _refused(_submit(version, pk_total=2, pk_number=3), version).result == 1
    assert _refused(_submit(version, pk_total=0, pk_number=0), version).result == 1
    not_ascii = good.replace(b"13800138000", b"1380013800\xff")
    assert _refused(not_ascii, version).result == c.submit_bad_dest(version)
    assert _refused(_submit(version, service_id="SVC").replace(b"SVC", b"S\x80C"), version).result == 7


def test_hostile_frames():
    connect = cc.encode_connect(1, "901234", "pw", 101000000, c.V2)
    assert _refused(connect + b"\0", c.V2).result == 1
    assert _refused(_with_total(connect + b"\0"), c.V2).result == 1
    assert _refused(_with_total(connect[:-1]), c.V2).command_id == c.CONNECT
    assert _refused(connect.replace(b"901234", b"90123\xaa"), c.V2).result == c.CONNECT_BAD_SOURCE
    for frame in (b"", b"\0\0\0", b"\0\0\0\x0c\0\0", struct.pack("!LLL", 11, 1, 1), struct.pack("!LLL", 4097, 4, 1),
                  struct.pack("!LLL", 0xFFFFFFFF, 4, 1), struct.pack("!LLLB", 13, c.ACTIVE_TEST, 1, 0),
                  struct.pack("!LLLQ", 20, c.DELIVER_RESP, 1, 0)):
        _refused(frame, c.V2)
    with pytest.raises(CmppError):
        c.total_length(b"\0\0\0\x0b")
    assert c.total_length(b"\0\0\0\x0c") == 12 and c.header(connect) == (39, 1, 1)
    with pytest.raises(CmppError):
        cc.decode_deliver(connect, c.V2)


def _frames(version: int) -> list[bytes]:
    report = c.encode_report(3, msg_id=1, dest_id="1", service_id="", src_terminal_id="13800138000",
                             report_msg_id=2, stat="UNDELIV", submit_time=datetime(2024, 1, 1),
                             done_time=datetime(2024, 1, 1), dest_terminal_id="13800138000", smsc_sequence=0,
                             version=version)
    return [cc.encode_connect(1, "901234", "pw", 1231235959, version), _submit(version),
            _submit(version, dest_terminal_ids=["1380013800%d" % i for i in range(5)], content=b"x" * 140,
                    tp_udhi=1, link_id="L" if version == c.V3 else ""),
            cc.encode_deliver_resp(2, 5, 0, version), c.encode_active_test(1), c.encode_active_test_resp(1),
            c.encode_terminate(1), struct.pack("!LLLQ", 20, c.CANCEL, 2, 77),
            struct.pack("!LLL8sB10s8x", 39, c.QUERY, 3, b"20240101", 1, b"SVC"), report]


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    b = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[rng.randrange(len(b))] = rng.choice((0, 1, 100, 101, 140, 141, 200, 255))
        elif op == 2:
            del b[rng.randrange(len(b) + 1):]
        elif op == 3:
            at = rng.randrange(len(b) + 1)
            b[at:at] = rng.randbytes(rng.randint(1, 40))
        elif op == 4 and len(b) >= 4:
            b[:4] = struct.pack("!L", len(b))
        elif op == 5 and len(b) >= 12:
            b[4:8] = struct.pack("!L", rng.choice(list(c.NAMES) + [0, 0xFFFFFFFF]))
    return bytes(b)


@pytest.mark.parametrize("version", [c.V2, c.V3])
def test_fuzz_raises_only_cmpp_error(version):
    rng = random.Random(20240 + version)
    frames = _frames(version)
    decoded = refused = 0
    for _ in range(20_000):
        frame = _mutate(rng, rng.choice(frames)) if rng.random() < 0.95 else rng.randbytes(rng.randint(0, 300))
        try:
            c.decode(frame, version)
            decoded += 1
        except CmppError as e:
            assert isinstance(e.result, int) and e.message
            refused += 1
        try:
            cc.decode_deliver(frame, version)
        except CmppError:
            pass
    assert decoded > 500 and refused > 500
