"""The httpInterface.do wire format, without I/O: parameters in, XML out.

:mod:`agent.api.httpinterface` serves it; everything here is pure so that it
can be tested on its own.

Parameters
----------
:func:`parse_form` reads ``application/x-www-form-urlencoded`` bytes (a query
string or a body) into raw byte values, keys lower-cased (the seed itself
writes both ``sendtime`` and ``sendTime``; ``veryCode`` and ``verycode`` are
one key).  ``+`` is a space, ``%XX`` a byte; a literal ``+`` is sent as
``%2B``.  Values are decoded later with :func:`decode` in the charset the
method implies (:func:`charset`), so a GBK client's bytes are read as GBK.
GBK is decoded as GB18030, its strict superset.

Decisions where the seed is silent:

* ``mobile``: comma-separated, blanks around each dropped, empty items
  dropped; each is ``+``? and 3 to 20 ASCII digits; 1 to 100 of them
  (counted before duplicates are merged, first order kept); else 106.
* Template messages (``msgtype=2``): ``content`` is ``@1@=v1,@2@=v2,...``.
  A comma followed by anything but ``@<digits>@=`` belongs to the value, so
  ``@1@=a,b,@2@=c`` sets @1@ to ``a,b`` (a value cannot contain a comma
  directly followed by ``@<digits>@=``).  A value may contain ``=``; blanks
  around a value are dropped (the seed's own example has a trailing blank).
  ``@01@`` and ``@1@`` are the same variable.  A variable the template uses
  but ``content`` lacks, a variable given twice, or content not of this form
  is 103; variables the template does not use are ignored.  Every ``@N@`` is
  replaced in one pass (a value is never substituted again).
* ``sendtime`` ``yyyyMMddHHmmss`` local time; empty: now; not a real date:
  103; not in the future: now (no schedule).
* ``extcode``: 0 to 4 ASCII digits, else 103.
* ``signtag``: empty or ``1`` (the one configured signature, or none); another
  number 115 (no such signature); not a number 103.  ``signtext`` (a custom
  signature, "only when the account allows it"): used only when no signature
  is configured, wrapped in 【】 unless already; at most 20 characters, else 103.
* Replies reproduce the seed's documents; the seed's own declarations differ
  (``queryReport``/``queryMo`` errors and ``queryMo`` items use
  ``<?xml version="1.0" encoding="utf-8" ?>``), and so do these.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any
from xml.sax.saxutils import escape

from ..errors import Refused
from . import forms

# Status codes of the seed.
OK = 0
FAILED = 100  # also: the submit rate was exceeded, the queue could not be written
BAD_LOGIN = 101
BAD_PARAMS = 103
NONE_WAITING = 104
BAD_CONTENT = 105  # send: content empty, too long or badly encoded; other methods: bad veryCode
BAD_MOBILE = 106
NO_QUOTA = 108
BAD_ADDRESS = 109
NO_TEMPLATE = 114
NO_SIGNATURE = 115
BAD_VERY_CODE = 116  # send methods
NOT_ENABLED = 117

GET_AMOUNT, SEND_MSG, SEND_UTF8, SEND_GBK = "getAmount", "sendMsg", "sendUtf8Msg", "sendGbkMsg"
QUERY_REPORT, QUERY_MO = "queryReport", "queryMo"
METHODS = {m.lower(): m for m in (GET_AMOUNT, SEND_MSG, SEND_UTF8, SEND_GBK, QUERY_REPORT, QUERY_MO)}
SEND_METHODS = frozenset((SEND_MSG, SEND_UTF8, SEND_GBK))
QUERY_METHODS = frozenset((QUERY_REPORT, QUERY_MO))

MAX_MOBILES = 100
MAX_CONTENT = 300  # characters (code points), without the signature
MAX_SIGNTEXT = 20

UTF8, GBK = "utf-8", "gb18030"
AUTO = "auto"  # UTF-8, else GBK: methods that name no charset
_CODES = {"utf-8": UTF8, "utf8": UTF8, "gbk": GBK, "gb2312": GBK, "gb18030": GBK}

DECL = '<?xml version="1.0" encoding="UTF-8"?>'
DECL_QUERY = '<?xml version="1.0" encoding="utf-8" ?>'
REPORT_FIELDS = ("mobile", "msgid", "status", "time", "extno")
MO_FIELDS = ("mobile", "recvcode", "content", "time")

_NUMBER = re.compile(r"\+?[0-9]{3,20}")
_VARIABLE = re.compile(r"@([0-9]{1,3})@")
_ITEM = re.compile(r"\s*@([0-9]{1,3})@=(.*)", re.DOTALL)
_SENDTIME = re.compile(r"[0-9]{14}")
_EXTCODE = re.compile(r"[0-9]{0,4}")
_SIGNTAG = re.compile(r"[0-9]{1,9}")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# --- parameters ---------------------------------------------------------------------------

def parse_form(raw: bytes) -> dict[str, bytes]:
    """Given urlencoded bytes, return lower-cased key -> raw value bytes (the last
    of a repeated key; a key without ``=`` has an empty value)."""
    return lower_keys(forms.urlencoded(raw))


def lower_keys(fields: Mapping[str, bytes]) -> dict[str, bytes]:
    """Parameter names are matched in any case (the seed writes both ``sendtime``
    and ``sendTime``): keys stripped and lower-cased, the last of twins winning."""
    return {key.strip().lower(): value for key, value in fields.items()}


def method_of(fields: Mapping[str, bytes]) -> str:
    """The canonical method name (any case accepted), '' when missing or unknown."""
    return METHODS.get(fields.get("method", b"").decode("latin-1").strip().lower(), "")


def charset(method: str, code: bytes | None, declared: str = "") -> str:
    """The charset of a method's parameters: sendUtf8Msg UTF-8, sendGbkMsg GBK;
    sendMsg per ``code`` (utf-8/utf8/gbk/gb2312/gb18030, any case), else per the
    charset ``declared`` by the request's Content-Type, else GBK (the seed's
    default); other methods :data:`AUTO`.  Raise Refused (103) for another ``code``."""
    if method == SEND_UTF8:
        return UTF8
    if method == SEND_GBK:
        return GBK
    if method != SEND_MSG:
        return AUTO
    word = (code or b"").decode("latin-1").strip().lower()
    if word:
        if word not in _CODES:
            raise Refused(200, BAD_PARAMS, f"code {word[:20]!r} is neither utf-8 nor gbk")
        return _CODES[word]
    return _CODES.get(declared.strip().lower(), GBK)


def decode(raw: bytes, charset_name: str) -> str:
    """Decode a value strictly (UnicodeDecodeError when the bytes are not
    valid); :data:`AUTO` tries UTF-8, then GBK."""
    if charset_name == AUTO:
        try:
            return raw.decode(UTF8)
        except UnicodeDecodeError:
            return raw.decode(GBK)
    return raw.decode(charset_name)


def parse_mobiles(text: str) -> list[str]:
    """The recipients of ``mobile`` (see the module notes).  Raise Refused (106)."""
    items = [item.strip() for item in text.split(",")]
    items = [item for item in items if item]
    if not items:
        raise Refused(200, BAD_MOBILE, "no mobile")
    if len(items) > MAX_MOBILES:
        raise Refused(200, BAD_MOBILE, f"{len(items)} mobiles, at most {MAX_MOBILES}")
    for item in items:
        if not _NUMBER.fullmatch(item):
            raise Refused(200, BAD_MOBILE, f"bad mobile {item[:30]!r}")
    return list(dict.fromkeys(items))


def template_values(content: str) -> dict[int, str]:
    """The variables of a template message's ``content``.  Raise Refused (103)."""
    if not content.strip():
        return {}
    values: dict[int, list[str]] = {}
    current: int | None = None
    for item in content.split(","):
        match = _ITEM.fullmatch(item)
        if match:
            current = int(match.group(1))
            if current in values:
                raise Refused(200, BAD_PARAMS, f"template variable @{current}@ given twice")
            values[current] = [match.group(2)]
        elif current is None:
            raise Refused(200, BAD_PARAMS, "template content is not @1@=value,@2@=value...")
        else:
            values[current].append(item)
    return {name: ",".join(parts).strip() for name, parts in values.items()}


def fill_template(template: str, content: str) -> str:
    """The text of a template message: ``template`` with each ``@N@`` replaced by
    its value from ``content``.  Raise Refused (103) for a missing variable."""
    values = template_values(content)
    missing = sorted({int(n) for n in _VARIABLE.findall(template)} - set(values))
    if missing:
        raise Refused(200, BAD_PARAMS, "template variable(s) missing: " + ",".join(f"@{n}@" for n in missing))
    return _VARIABLE.sub(lambda m: values[int(m.group(1))], template)


def parse_sendtime(text: str, now: datetime) -> datetime | None:
    """The schedule of ``sendtime`` as a naive local datetime, None for now
    (empty, or not after ``now``, naive local).  Raise Refused (103)."""
    text = text.strip()
    if not text:
        return None
    if not _SENDTIME.fullmatch(text):
        raise Refused(200, BAD_PARAMS, "sendtime is yyyyMMddHHmmss")
    try:
        when = datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        raise Refused(200, BAD_PARAMS, f"sendtime {text} is not a date") from None
    return when if when > now else None


def parse_extcode(text: str) -> str:
    """``extcode``: up to 4 digits ('' none).  Raise Refused (103)."""
    text = text.strip()
    if not _EXTCODE.fullmatch(text):
        raise Refused(200, BAD_PARAMS, "extcode is at most 4 digits")
    return text


def signature(configured: str, signtag: str, signtext: str) -> str:
    """The signature to prefix: the configured one, else ``signtext`` in 【】, else ''.
    Raise Refused (103 malformed, 115 a signtag other than 1)."""
    signtag, signtext = signtag.strip(), signtext.strip()
    if signtag:
        if not _SIGNTAG.fullmatch(signtag):
            raise Refused(200, BAD_PARAMS, "signtag is a number")
        if int(signtag) != 1:
            raise Refused(200, NO_SIGNATURE, f"no signature {signtag}: the box has one")
    if len(signtext) > MAX_SIGNTEXT:
        raise Refused(200, BAD_PARAMS, f"signtext longer than {MAX_SIGNTEXT} characters")
    if configured or not signtext:
        return configured
    return signtext if signtext.startswith("【") and signtext.endswith("】") else f"【{signtext}】"


# --- reports --------------------------------------------------------------------------------

def report_status(kind: str, payload: Mapping[str, Any]) -> str | None:
    """The ``status`` word of a journal item, None when it is not a report to give.

    A ``receipt``: DELIVRD when delivered, else EXPIRED (TP-Status 0x46),
    DELETED (0x47, 0x48) or UNDELIV.  A failed ``result``: ``CMS:<code>`` (4
    digits, like the seed's ``MA:0006``) when the modem gave a +CMS ERROR,
    else the failure cause (EXPIRED, NO_ROUTE, BAD_NUMBER...); a sent result
    is no report (its receipt will be)."""
    if kind == "receipt":
        if payload.get("delivered"):
            return "DELIVRD"
        status = payload.get("status")
        if status == 0x46:
            return "EXPIRED"
        return "DELETED" if status in (0x47, 0x48) else "UNDELIV"
    if kind == "result" and payload.get("status") != "sent":
        code = payload.get("error_code")
        if isinstance(code, int) and not isinstance(code, bool) and 0 <= code <= 9999:
            return f"CMS:{code:04d}"
        return str(payload.get("failure_cause") or "UNDELIV")
    return None


# --- replies --------------------------------------------------------------------------------

def xml_text(value: Any) -> str:
    """Escaped element text; characters XML 1.0 forbids become U+FFFD, a CR is
    written ``&#13;`` so that XML parsers keep it (a literal one reads as LF)."""
    return escape(_NOT_XML.sub("\ufffd", str(value)), {"\r": "&#13;"})


def _elements(fields: Iterable[tuple[str, Any]]) -> str:
    return "".join(f"<{name}>{xml_text(value)}</{name}>" for name, value in fields)


def status_reply(status: int, *, query: bool = False, **fields: Any) -> str:
    """``<sms><mt><status>..</status>[fields]</mt></sms>``: every reply of getAmount
    and the send methods, and the errors of the query methods (``query``: their
    declaration)."""
    return f"{DECL_QUERY if query else DECL}\n<sms><mt><status>{status}</status>{_elements(fields.items())}</mt></sms>\n"


def report_document(rows: Iterable[Mapping[str, Any]]) -> str:
    """queryReport's items: one ``<rpt>`` line each."""
    lines = [f"<rpt>{_elements((name, row[name]) for name in REPORT_FIELDS)}</rpt>" for row in rows]
    return "\n".join([DECL, "<sms>", *lines, "</sms>"]) + "\n"


def mo_document(rows: Iterable[Mapping[str, Any]]) -> str:
    """queryMo's items: one ``<mo>`` line each."""
    lines = [f"<mo>{_elements((name, row[name]) for name in MO_FIELDS)}</mo>" for row in rows]
    return "\n".join([DECL_QUERY, "<sms>", *lines, "</sms>"]) + "\n"


def local_now(tz: tzinfo | None) -> datetime:
    """Now as naive local time in ``tz`` (None: the system's)."""
    return datetime.now(tz).replace(tzinfo=None) if tz is not None else datetime.now()
