"""Pure parsing of AT command lines: final result codes, URCs, information lines.

No I/O.  Each parser takes one line as the modem sent it (surrounding
whitespace allowed) and returns typed values, or raises AtParseError when the
line does not have the promised shape.  The tolerated variants are the real
modem quirks in shared/testdata/at_transcripts.md (sections 1-6).

Policies chosen here:

* Final result codes match whole lines only (``OK`` yes, ``OKAY`` or
  ``OK foo`` no).  ``+CME ERROR:`` needs at least one character after the
  colon (``+CME ERROR: `` is an error without code, ``+CME ERROR:`` is not a
  final), as ModemManager does.
* Reset banners (:func:`is_reset_urc`) are ``RDY``, ``SMS Ready``,
  ``SMS DONE`` and ``+QIND: SMS DONE``: each modem family prints exactly one
  of them per boot once SMS works.  ``Call Ready``, ``+CFUN: 1``,
  ``+CPIN: READY`` and ``PB DONE`` come in the same burst but are not
  counted, so one reset means one re-initialisation.
* Registration: stat 1/5 (home/roaming), 6/7 ("SMS only", enough for a
  gateway) and 9/10 (CSFB not preferred) count as registered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import AtParseError

# --- final result codes -------------------------------------------------------

#: Call-progress finals: they end dial/answer commands, and are URCs otherwise.
CALL_PROGRESS = frozenset({"NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"})
_PLAIN_FINALS = frozenset({"OK", "ERROR", "COMMAND NOT SUPPORT", "TOO MANY PARAMETERS", "NA"}) | CALL_PROGRESS
_CODED_FINAL_RE = re.compile(r"\+(CME|CMS) ERROR:(.+)|(MODEM ERROR):(.+)", re.S)


@dataclass(frozen=True)
class Final:
    """A final result code: ``kind`` is OK, ERROR, CME, CMS, MODEM ERROR or the literal
    non-standard final ('' for a missing final accepted leniently); ``code`` or
    ``text`` the numeric or verbose error detail."""

    kind: str
    code: int | None = None
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "OK"


def parse_final(line: str) -> Final | None:
    """Return the Final that ``line`` (one whole line) is, or None when it is not one."""
    line = line.strip("\r\n\0")
    word = line.strip()
    if word in _PLAIN_FINALS:
        return Final(word)
    m = _CODED_FINAL_RE.fullmatch(line.lstrip())
    if m is None:
        return None
    kind = m.group(1) or m.group(3)
    detail = (m.group(2) if m.group(1) else m.group(4)).strip()
    if detail.isascii() and detail.isdigit():
        return Final(kind, int(detail))
    return Final(kind, None, detail)


# --- unsolicited result codes -------------------------------------------------

#: URCs whose PDU comes on the next line.
TWO_LINE_URCS = frozenset({"+CMT", "+CDS"})
_PLUS_URCS = frozenset({
    "+CMTI", "+CMT", "+CDS", "+CDSI", "+CBM", "+CBMI", "+CRING", "+CLIP", "+CCWA", "+CUSD",
    "+CSSI", "+CSSU", "+CREG", "+CGREG", "+CEREG", "+C5GREG", "+CGEV", "+CIEV", "+CPIN",
    "+CFUN", "+CSQ", "+CTZV", "+CTZE", "+CTZU", "+CUSATP", "+CUSATEND", "+STIN", "+QIND",
    "+QUSIM", "+CNSMOD", "+NITZ", "+PSUTTZ", "+CSMINS", "+WIND", "+ZUSIMR", "+ZDONR",
    "+ZPASR", "+ZPSTM", "+ZEND",
})
_WORD_URCS = frozenset({
    "RING", "RDY", "SMS Ready", "Call Ready", "SMS DONE", "PB DONE", "POWERED DOWN",
    "NORMAL POWER DOWN", "HANGUP",
}) | CALL_PROGRESS
_URC_TOKEN_RE = re.compile(r"[+^][A-Za-z0-9]+")
_RESET_RE = re.compile(r'RDY|SMS Ready|SMS DONE|\+QIND: ?"?SMS DONE"?')


def urc_name(line: str) -> str | None:
    """Return the URC name of ``line`` (``+CMTI``, ``RING``, ``^RSSI``...) or None.

    Every ``^XXX`` line is a (Huawei-style) URC named by its prefix; ``+XXX``
    lines only when XXX is a known unsolicited code.  Whether a line answers a
    running command instead is the channel's business (its expected prefix).
    """
    text = line.strip()
    if text[:1] in ("+", "^"):
        m = _URC_TOKEN_RE.match(text)
        if m is None or text[m.end():m.end() + 1] not in ("", ":", " "):
            return None
        name = m.group().upper()
        return name if name[0] == "^" or name in _PLUS_URCS else None
    if text in _WORD_URCS:
        return text
    head = text.partition(":")[0]
    return head if head == "HANGUP" else None


def is_reset_urc(line: str) -> bool:
    """True when ``line`` is a banner printed once per modem boot (see module doc)."""
    return _RESET_RE.fullmatch(line.strip()) is not None


def expected_prefix(command: str) -> str | None:
    """The prefix of the information lines ``command`` answers with, derived from
    its name: ``AT+CSQ`` -> ``+CSQ:``, ``AT+CMGR=3`` -> ``+CMGR:``,
    ``AT^ICCID?`` -> ``^ICCID:``; None for basic commands (``ATE0``, ``AT``)."""
    m = re.match(r"\s*AT([+^$%][A-Za-z0-9]+)", command, re.I)
    return m.group(1).upper() + ":" if m else None


# --- field helpers ------------------------------------------------------------


def _body(line: str, *prefixes: str) -> str:
    text = line.strip()
    for prefix in prefixes:
        if text.startswith(prefix):
            return text[len(prefix):].strip()
    raise AtParseError(f"expected {prefixes[0]!r}: {line!r}")


def _fields(body: str) -> list[str]:
    """Split on commas outside double quotes; fields keep their quotes, lose outer spaces."""
    if '"' not in body:
        return [f.strip() for f in body.split(",")]
    out, start, quoted = [], 0, False
    for i, ch in enumerate(body):
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append(body[start:i].strip())
            start = i + 1
    out.append(body[start:].strip())
    return out


def _unquote(field: str) -> str:
    return field.strip().strip('"').strip()


def _int(field: str, line: str) -> int:
    value = _unquote(field)
    if not (value.isascii() and value.isdigit()):
        raise AtParseError(f"not a number: {value!r} in {line!r}")
    return int(value)


def _int_or_none(field: str) -> int | None:
    value = _unquote(field)
    return int(value) if value.isascii() and value.isdigit() else None


# --- signal, registration, operator, SIM ------------------------------------------


def parse_csq(line: str) -> tuple[int | None, int | None]:
    """``+CSQ: 9,99`` (or Huawei ``^RSSI:10``) -> (rssi, ber); 99 (unknown) -> None."""
    fields = _body(line, "+CSQ:", "^RSSI:").split(",")
    rssi = _int(fields[0], line)
    ber = _int_or_none(fields[1]) if len(fields) > 1 else None
    return (None if rssi == 99 else rssi), (None if ber == 99 else ber)


def rssi_to_dbm(rssi: int | None) -> int | None:
    """27.007 <rssi> 0..31 -> -113..-51 dBm; anything else (99, None) -> None."""
    return -113 + 2 * rssi if rssi is not None and 0 <= rssi <= 31 else None


_REGISTERED = frozenset({1, 5, 6, 7, 9, 10})


@dataclass(frozen=True)
class Registration:
    """A +CREG/+CGREG/+CEREG answer or URC.  ``n`` is None in the URC form."""

    n: int | None
    stat: int
    lac: int | None = None
    ci: int | None = None
    act: int | None = None

    @property
    def registered(self) -> bool:
        return self.stat in _REGISTERED

    @property
    def roaming(self) -> bool:
        return self.stat in (5, 7, 10)


def _hex_or_none(field: str) -> int | None:
    value = "".join(field.replace('"', "").split())  # Gobi puts spaces inside fields
    try:
        return int(value, 16) if value else None
    except ValueError:
        return None


def _looks_solicited(fields: list[str]) -> bool:
    """Guess ``n,stat,...`` (the answer to a query) versus ``stat,lac,...`` (a URC):
    in the answer the second field is a short bare decimal stat (Iridium pads it)."""
    if len(fields) < 2:
        return False
    n, second = _int_or_none(fields[0]), fields[1]
    return (n is not None and n <= 5 and '"' not in second and len(second) <= 3
            and second.isascii() and second.isdigit() and int(second) <= 11)


def parse_creg(line: str, *, solicited: bool | None = None) -> Registration:
    """Parse ``+CREG:``, ``+CGREG:``, ``+CEREG:`` lines in both forms.

    ``solicited`` tells whether the line answers a query (``n,stat,...``) or is
    a URC (``stat,...``); None guesses from the fields.  LAC/CI are hex, quoted
    or not, with stray spaces or broken quotes tolerated (an unreadable LAC/CI/AcT
    becomes None).  Raise AtParseError when no stat can be read.
    """
    fields = [f.strip() for f in _body(line, "+CREG:", "+CGREG:", "+CEREG:", "+C5GREG:").split(",")]
    if solicited is None:
        solicited = _looks_solicited(fields)
    n = _int(fields[0], line) if solicited else None
    rest = fields[1:] if solicited else fields
    if not rest:
        raise AtParseError(f"no registration status: {line!r}")
    stat = _int(rest[0], line)
    lac = _hex_or_none(rest[1]) if len(rest) > 1 else None
    ci = _hex_or_none(rest[2]) if len(rest) > 2 else None
    act = _int_or_none(rest[3]) if len(rest) > 3 else None
    return Registration(n, stat, lac, ci, act)


def parse_cops(line: str) -> str | None:
    """``+COPS: 0,0,"T-Mobile",2`` -> ``T-Mobile``; ``+COPS: 0`` (no operator) -> None."""
    body = _body(line, "+COPS:")
    if body.startswith("("):
        raise AtParseError(f"a +COPS=? list, not the current operator: {line!r}")
    fields = _fields(body)
    return (_unquote(fields[2]) or None) if len(fields) > 2 else None


def parse_cpin(line: str) -> str:
    """``+CPIN: READY`` / ``+CPIN: "SIM PIN"`` -> ``READY`` / ``SIM PIN`` (upper case, single spaces)."""
    value = " ".join(_unquote(_body(line, "+CPIN:")).upper().split())
    if not value:
        raise AtParseError(f"empty +CPIN: {line!r}")
    return value


_ICCID_PREFIXES = ("+CCID:", "+ICCID:", "^ICCID:", "+QCCID:")


def parse_iccid(line: str) -> str:
    """Return the ICCID digits from any of ``+CCID:``, ``+ICCID:``, ``^ICCID:``,
    ``+QCCID:`` or a bare line, quoted or not.  BCD-swapped values (they start
    with ``98``, as every ICCID starts with ``89``) are swapped back; trailing
    ``F`` padding is removed.  Raise AtParseError unless 10..22 digits remain."""
    text = line.strip()
    for prefix in _ICCID_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    text = text.replace('"', "").strip()
    if text.startswith("98") and len(text) % 2 == 0:
        text = "".join(text[i + 1] + text[i] for i in range(0, len(text), 2))
    text = text.rstrip("Ff")
    if not (text.isascii() and text.isdigit() and 10 <= len(text) <= 22):
        raise AtParseError(f"not an ICCID: {line!r}")
    return text


# --- messages -------------------------------------------------------------------

_INLINE_PDU_RE = re.compile(r"(.*\d)\s+([0-9A-Fa-f]+)", re.S)


def parse_cmgr_header(line: str) -> tuple[int | None, int, str | None]:
    """Parse a PDU-mode ``+CMGR:`` header -> (stat, length, inline_pdu).

    Shapes: ``1,,25``; ``0,23``; ``4,1,,151`` (index first); ``24``; ``,,92``;
    ``0,"",50``; ``1,,147 0791...`` (the PDU after a space).  The length is the
    last field and the stat the one two places before it (or the first of two).
    Raise AtParseError for text-mode headers and unreadable lengths.
    """
    body, inline = _body(line, "+CMGR:"), None
    m = _INLINE_PDU_RE.fullmatch(body)
    if m:
        body, inline = m.group(1), m.group(2)
    fields = _fields(body)
    if len(fields) > 4:
        raise AtParseError(f"not a PDU-mode +CMGR header: {line!r}")
    stat_field = fields[-3] if len(fields) >= 3 else fields[0] if len(fields) == 2 else ""
    return _int_or_none(stat_field), _int(fields[-1], line), inline


def parse_cmgl_header(line: str) -> tuple[int, int, int]:
    """``+CMGL: <index>,<stat>,[<alpha>],<length>`` (or Pantech's ``17,3,35``) -> (index, stat, length)."""
    fields = _fields(_body(line, "+CMGL:"))
    if not 3 <= len(fields) <= 4:
        raise AtParseError(f"not a PDU-mode +CMGL header: {line!r}")
    return _int(fields[0], line), _int(fields[1], line), _int(fields[-1], line)


def _storage_index(line: str, prefix: str) -> tuple[str, int]:
    fields = _fields(_body(line, prefix))
    if len(fields) < 2:
        raise AtParseError(f"expected <mem>,<index>: {line!r}")
    return _unquote(fields[0]), _int(fields[1], line)


def parse_cmti(line: str) -> tuple[str, int]:
    """``+CMTI: "SM",3`` -> (``SM``, 3)."""
    return _storage_index(line, "+CMTI:")


def parse_cdsi(line: str) -> tuple[str, int]:
    """``+CDSI: "SR",3`` -> (``SR``, 3)."""
    return _storage_index(line, "+CDSI:")


def parse_cmgs(line: str) -> int:
    """``+CMGS: 183`` -> the message reference 183."""
    return _int(_fields(_body(line, "+CMGS:"))[0], line)


def parse_cmgw(line: str) -> int:
    """``+CMGW: 5`` (the answer to AT+CMGW) -> the storage index 5."""
    return _int(_fields(_body(line, "+CMGW:"))[0], line)


def parse_cmss(line: str) -> int:
    """``+CMSS: 183`` (or ``+CMSS: 183,"<scts>"`` with +CSMS service 1) -> the message reference 183."""
    return _int(_fields(_body(line, "+CMSS:"))[0], line)


# --- calls and numbers -------------------------------------------------------------------


def parse_clip(line: str) -> str:
    """``+CLIP: "+27821231234",145,,,,0`` -> the number; '' when withheld or unavailable."""
    fields = _fields(_body(line, "+CLIP:"))
    if len(fields) > 5 and _int_or_none(fields[5]) in (1, 2):
        return ""
    return _unquote(fields[0])


def parse_cnum(line: str) -> str | None:
    """``+CNUM: "alpha","+79161234567",145`` -> the number, None when empty."""
    fields = _fields(_body(line, "+CNUM:"))
    if len(fields) < 2:
        raise AtParseError(f"expected [<alpha>,]<number>,<type>: {line!r}")
    number = _unquote(fields[1] if len(fields) >= 3 else fields[0])
    return number or None


# --- USSD -----------------------------------------------------------------------------


def parse_cusd(text: str) -> tuple[int, str | None, int | None]:
    """``+CUSD: <status>[,<payload>[,<dcs>]]`` -> (status, payload, dcs).

    The payload is taken between the first and the last double quote, so it
    may hold commas, quotes and line breaks (multi-line answers); unquoted
    payloads (Huawei E160 hex) run to the end or to a trailing ``,<dcs>``.
    """
    m = re.fullmatch(r"(\d+)\s*(?:,(.*))?", _body(text, "+CUSD:"), re.S)
    if m is None:
        raise AtParseError(f"not a +CUSD line: {text!r}")
    status, rest = int(m.group(1)), m.group(2)
    if rest is None:
        return status, None, None
    rest = rest.strip()
    if rest.startswith('"'):
        end = rest.rfind('"')
        if end == 0:
            return status, rest[1:], None
        tail = rest[end + 1:].strip().lstrip(",")
        return status, rest[1:end], _int_or_none(tail)
    head, comma, tail = rest.rpartition(",")
    if comma and _int_or_none(tail) is not None:
        return status, head.strip(), int(tail)
    return status, rest, None

