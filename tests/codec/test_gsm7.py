"""GSM 7-bit alphabet, national language tables and septet packing."""

from __future__ import annotations

import pytest

from agent.codec import gsm7, gsm7_tables
from agent.errors import EncodeError, PduError

DEFAULT_CHARS = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"


def test_tables_have_128_entries_and_escape_at_0x1b():
    for table in gsm7_tables.LOCKING_TABLES.values():
        assert len(table) == 128
        assert table[0x1B] == "\x1b"


def test_every_default_character_round_trips():
    assert gsm7.can_encode(DEFAULT_CHARS)
    septets = gsm7.encode(DEFAULT_CHARS)
    assert len(septets) == 127 == gsm7.septet_count(DEFAULT_CHARS)
    assert gsm7.decode(septets) == DEFAULT_CHARS


@pytest.mark.parametrize("char, code", [("\x0c", 0x0A), ("^", 0x14), ("{", 0x28), ("}", 0x29), ("\\", 0x2F),
                                        ("[", 0x3C), ("~", 0x3D), ("]", 0x3E), ("|", 0x40), ("€", 0x65)])
def test_extension_characters_take_an_escape(char, code):
    assert gsm7.encode(char) == [0x1B, code]
    assert gsm7.septet_count(char) == 2
    assert gsm7.decode([0x1B, code]) == char


@pytest.mark.parametrize("text", ["ç", "`", "\x1b", "ı", "😀", "Ä\u0308", "\t"])
def test_characters_outside_the_alphabet(text):
    assert not gsm7.can_encode(text)
    with pytest.raises(EncodeError, match="U\\+"):
        gsm7.encode(text)
    with pytest.raises(EncodeError):
        gsm7.septet_count("ok" + text)


def test_empty_text():
    assert gsm7.can_encode("")
    assert gsm7.encode("") == []
    assert gsm7.septet_count("") == 0
    assert gsm7.pack([]) == b""
    assert gsm7.unpack(b"", 0) == []


def test_escape_rules_when_decoding():
    # unknown extension code -> the base character (23.038 6.2.1.1)
    assert gsm7.decode([0x1B, 0x41]) == "A"
    # 0x1B 0x1B is reserved and shown as a space; a dangling escape too
    assert gsm7.decode([0x41, 0x1B, 0x1B, 0x42]) == "A B"
    assert gsm7.decode([0x41, 0x1B]) == "A "


def test_trailing_at_sign_is_kept():
    # 0x00 is '@', not padding: only the septet count says where the text ends
    assert gsm7.decode(gsm7.unpack(gsm7.pack(gsm7.encode("Barca@")), 6)) == "Barca@"
    # 7 septets leave 7 zero bits: read as an 8th septet they look like '@' (the
    # 8n-1 ambiguity), which is why decoding always goes by the septet count
    assert gsm7.decode(gsm7.unpack(gsm7.pack(gsm7.encode("Barca!@")), 8)) == "Barca!@@"


def test_decode_rejects_non_septets():
    with pytest.raises(PduError):
        gsm7.decode([0x80])
    with pytest.raises(PduError):
        gsm7.decode([300])
    with pytest.raises(PduError):
        gsm7.decode([-1])


def test_turkish_tables():
    # locking shift differences from the default table (A.3.1)
    assert gsm7.decode([0x04, 0x07, 0x0B, 0x0C, 0x1C, 0x1D, 0x40, 0x60], locking=1) == "€ıĞğŞşİç"
    # single shift letters (A.2.1) on top of the default extension
    shifted = [0x47, 0x49, 0x53, 0x63, 0x67, 0x69, 0x73, 0x65]
    assert gsm7.decode([s for code in shifted for s in (0x1B, code)], single=1) == "ĞİŞçğış€"
    assert gsm7.decode([0x1B, 0x28], single=1) == "{"


def test_spanish_single_shift_and_no_locking_table():
    assert gsm7.decode([0x1B, 0x09, 0x1B, 0x41, 0x1B, 0x49, 0x1B, 0x4F, 0x1B, 0x55,
                        0x1B, 0x61, 0x1B, 0x69, 0x1B, 0x6F, 0x1B, 0x75], single=2) == "çÁÍÓÚáíóú"
    # Spanish has no locking shift table: the default one applies
    assert gsm7.decode([0x04, 0x07], locking=2) == "èì"


def test_portuguese_tables():
    assert gsm7.decode(list(range(0x00, 0x10)), locking=3) == "@£$¥êéúíóç\nÔô\rÁá"
    assert gsm7.decode([0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x24, 0x5D, 0x60, 0x7D],
                       locking=3) == "ªÇÀ∞^\\€Ó|ºÚ~`"
    assert gsm7.decode([0x1B, 0x05, 0x1B, 0x0B, 0x1B, 0x12, 0x1B, 0x1F, 0x1B, 0x41, 0x1B, 0x5B,
                        0x1B, 0x61, 0x1B, 0x7C, 0x1B, 0x7F], single=3) == "êÔΦÊÀÃÂõâ"


def test_unknown_language_falls_back_to_default_tables():
    assert gsm7.decode([0x04, 0x1B, 0x65], locking=99, single=99) == "è€"


@pytest.mark.parametrize("fill", range(7))
@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 15, 16, 17, 153, 160])
def test_pack_unpack_against_a_bit_by_bit_reference(count, fill):
    septets = [(i * 37 + 11) % 128 for i in range(count)]
    value = sum(s << (7 * i + fill) for i, s in enumerate(septets))
    size = (7 * count + fill + 7) // 8
    assert gsm7.pack(septets, fill) == value.to_bytes(size, "little")
    assert gsm7.unpack(gsm7.pack(septets, fill), count, fill) == septets


def test_known_packing():
    # "hellohello" from the ModemManager vectors
    assert gsm7.pack(gsm7.encode("hellohello")).hex().upper() == "E8329BFD4697D9EC37"
    assert gsm7.decode(gsm7.unpack(bytes.fromhex("E8329BFD4697D9EC37"), 10)) == "hellohello"


def test_unpack_rejects_truncated_data():
    with pytest.raises(PduError, match="truncated"):
        gsm7.unpack(bytes.fromhex("E8329BFD4697D9EC37"), 11)
    with pytest.raises(PduError):
        gsm7.unpack(b"\x00", 1, fill_bits=7)


def test_pack_rejects_bad_input():
    with pytest.raises(EncodeError):
        gsm7.pack([0x80])
    with pytest.raises(EncodeError):
        gsm7.pack([1], fill_bits=7)
