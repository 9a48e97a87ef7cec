"""Decoding of USSD payloads (the text of a ``+CUSD`` answer) per their DCS.

Pure, no I/O.  Real modems send the payload as plain text, as GSM-7 packed
hex, or as UCS2 hex, and do not always label it truthfully (UCS2 or 8-bit
text under a GSM-7 DCS); :func:`decode_ussd` decides per the DCS groups of
3GPP TS 23.038 and the shape of the payload, and never raises.
"""

from __future__ import annotations

from ..errors import PduError
from . import gsm7


def _ussd_alphabet(dcs: int | None) -> tuple[str, int]:
    """(alphabet, language prefix length) for a CBS data coding scheme (23.038 §5)."""
    if dcs is None or not 0 <= dcs <= 0xFF:
        return "gsm7", 0
    if dcs == 0x10:
        return "gsm7", 3  # two language letters and a CR precede the text
    if dcs == 0x11:
        return "ucs2", 2  # two packed language letters precede the UCS2 text
    group = dcs >> 4
    if 4 <= group <= 7 or group == 9:
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 3], 0
    if group == 0xF:
        return ("8bit" if dcs & 0x04 else "gsm7"), 0
    return "gsm7", 0


def _is_hex(payload: str, alphabet: str) -> bool:
    if not payload or len(payload) % 2 or not all(c in "0123456789abcdefABCDEF" for c in payload):
        return False
    if payload.isdigit():  # plain digits ("2500") stay text unless shaped like UCS2 hex
        return len(payload) % 4 == 0 and (alphabet == "ucs2" or len(payload) >= 16)
    return alphabet != "ucs2" or len(payload) % 4 == 0


def _ucs2(data: bytes, *, guess: bool = False) -> str | None:
    """UCS2 ``data`` as text, cut at the first U+0000/U+FFFF unit (modems pad with
    junk after it).  With ``guess``: None unless it plainly is UCS2 text (valid,
    printable, mostly below U+0800 or with some Latin-1), as Quectel M35 sends
    UCS2 labelled dcs 15."""
    data = data[: len(data) // 2 * 2]
    for i in range(0, len(data), 2):
        if data[i:i + 2] in (b"\x00\x00", b"\xff\xff"):
            data = data[:i]
            break
    if not guess:
        return data.decode("utf-16-be", "replace")
    try:
        text = data.decode("utf-16-be")
    except UnicodeDecodeError:
        return None
    low = sum(1 for c in text if ord(c) < 0x800)
    plausible = all(c.isprintable() or c in "\r\n" for c in text) and (
        2 * low >= len(text) or any(ord(c) < 0x100 for c in text))
    return text if text and plausible else None


def _unpack_gsm7(data: bytes) -> str:
    count = len(data) * 8 // 7
    text = gsm7.decode(gsm7.unpack(data, count))
    if count * 7 == len(data) * 8 and text[-1:] in ("\r", "@"):
        text = text[:-1]  # 7 spare bits filled with CR (23.038), or zeros by lax modems
    return text


def decode_ussd(payload: str | None, dcs: int | None, *, hex_payload: bool | None = None,
                gsm_charset: bool = False) -> str:
    """Return the text of a +CUSD payload.

    ``hex_payload`` says whether the modem gave hex (AT+CSCS="HEX"/"UCS2");
    None guesses: hex when it is all hex digits of a plausible length.  Hex is
    decoded per ``dcs`` (23.038 CBS groups: 15 -> GSM-7, 72 -> UCS2, 17 -> UCS2
    after a language prefix...), and GSM-7-labelled hex is recognised as UCS2 or
    unpacked 8-bit text when it plainly is.  Trailing U+0000/U+FFFF junk is cut.
    Plain text is returned as is, or read as raw GSM-7 characters when
    ``gsm_charset`` (AT+CSCS="GSM": ``{`` is ``ä``).  Never raises.
    """
    if not payload:
        return ""
    alphabet, prefix = _ussd_alphabet(dcs)
    if hex_payload is None:
        hex_payload = _is_hex(payload, alphabet)
    try:
        data = bytes.fromhex(payload[: len(payload) // 2 * 2]) if hex_payload else None
    except ValueError:
        data = None
    if data is None:
        if gsm_charset and all(ord(c) < 0x80 for c in payload):
            return gsm7.decode(payload.encode("ascii"))
        return payload
    if alphabet == "ucs2":
        return _ucs2(data[prefix:]) or ""
    ascii_text = data.rstrip(b"\xff")
    if alphabet == "8bit":
        return ascii_text.decode("latin-1")
    # GSM-7 by the label; modems also put UCS2 or unpacked 8-bit text there (seen with dcs 0).
    guessed = _ucs2(data, guess=True)
    if guessed is not None:
        return guessed
    if ascii_text and all(32 <= b < 127 or b in (9, 10, 13) for b in ascii_text):
        return ascii_text.decode("ascii")
    try:
        return _unpack_gsm7(data)[prefix:]
    except PduError:
        return payload
