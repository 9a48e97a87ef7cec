"""The HttpBatchSendSM / QueryBalance wire format, as pure functions: request
fields, parameter checks, reply lines and the two pushes' parameters.

Status codes are the seed's; an :class:`~agent.errors.Refused` carries the one a
request is answered with (its ``reason``; HTTP status 200, as every reply of the
dialect, but 409 for a conflicting request id).  Nothing here touches the core,
the store or bottle.

Decisions where the seed is silent:

* Fields come from the query string and the body (form wins; the last of a
  repeated key).  A body is read as ``application/x-www-form-urlencoded``
  whatever its Content-Type, except ``multipart/form-data`` (PHP's curl posts
  arrays so).  Each value is decoded as UTF-8, else as GB18030 (PHP clients
  that convert to GB2312/GBK); a value neither decodes is kept as None and
  answered with the code of its field.
* ``mobile``: split on ``,``; blanks around an item and empty items are
  dropped; an item is ``+``? and 3 to 20 ASCII digits, kept as written;
  duplicates are kept (each is one message, as the client asked).  No number,
  more than 50,000, or a malformed one: 108 (the only code about numbers).
* ``msg``: empty, more than 700 characters, more SMS parts than ``[modems]
  max_parts`` (700 Chinese characters need 11), or not encodable: 106.
* ``needstatus``: only ``true`` (any case) asks for reports; anything else,
  or nothing, is false (the seed: no msgid line "when needstatus is not true").
* ``extno``: 1 to 20 ASCII digits, '' when absent; else 113.
* ``product``: '' or ``all`` (any case) is any line; else a provider group.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from datetime import datetime, tzinfo
from typing import Any

from ..codec.parts import split
from ..errors import EncodeError, Refused
from . import forms

OK = 0
NO_USER = 101
BAD_PASSWORD = 102
TOO_FAST = 103
BUSY = 104
BAD_LENGTH = 106
BAD_COUNT = 108
NO_QUOTA = 109
NO_PRODUCT = 112
BAD_EXTNO = 113
REJECTED = 115  # the seed's "automatic review rejected": here, a reused X-Request-Id with other content
IP_REFUSED = 117

MAX_RECIPIENTS = 50_000
MAX_CHARS = 700
MAX_REQUEST_ID = 128
ANY_PRODUCT = "all"  # product=all: any line; also the whole box's line in QueryBalance

NUMBER = re.compile(r"\+?[0-9]{3,20}")
_EXTNO = re.compile(r"[0-9]{1,20}")
_STORE_TIME = re.compile(r"(\d\d)(\d\d)-(\d\d)-(\d\d)[ T](\d\d):(\d\d)")

Fields = dict[str, "str | None"]


# --- request fields ----------------------------------------------------------------------

def decode(raw: bytes) -> str | None:
    """A value's text: UTF-8, else GB18030; None when it is neither."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        return None


def fields(query: str, body: bytes = b"", content_type: str = "") -> Fields:
    """Given the raw query string (latin-1, as WSGI gives it), the body and its
    Content-Type, return every field decoded (body fields win; a multipart body
    that cannot be read is left out)."""
    try:
        raw = forms.fields(query.encode("latin-1"), body, content_type)
    except forms.UnreadableBody as exc:
        raw = exc.fields
    return decode_fields(raw)


def decode_fields(raw: dict[str, bytes]) -> Fields:
    """Given a request's raw fields (:mod:`agent.api.forms`), return each key and
    value decoded (see :func:`decode`; a value neither decodes is None)."""
    return {(decode(k.encode("latin-1")) or k): decode(v) for k, v in raw.items()}


# --- parameters ----------------------------------------------------------------------------

def recipients(value: str | None) -> list[str]:
    """The numbers of ``mobile`` in order, duplicates kept.  Refused(108)
    when none, more than MAX_RECIPIENTS, or one is malformed."""
    numbers = [n for n in (item.strip() for item in (value or "").split(",")) if n]
    if not numbers:
        raise Refused(200, BAD_COUNT, "no number")
    if len(numbers) > MAX_RECIPIENTS:
        raise Refused(200, BAD_COUNT, f"{len(numbers)} numbers, at most {MAX_RECIPIENTS}")
    match = NUMBER.fullmatch
    if not all(map(match, numbers)):
        bad = next(n for n in numbers if not match(n))
        raise Refused(200, BAD_COUNT, f"not a phone number: {bad[:40]!r}")
    return numbers


def message_parts(value: str | None, max_parts: int) -> int:
    """How many SMS parts ``msg`` needs.  Refused(106) when it is missing,
    empty, longer than MAX_CHARS characters, or cannot be sent in ``max_parts`` parts."""
    if not value:
        raise Refused(200, BAD_LENGTH, "empty or undecodable msg")
    if len(value) > MAX_CHARS:
        raise Refused(200, BAD_LENGTH, f"msg of {len(value)} characters, at most {MAX_CHARS}")
    try:
        return len(split(value, max_parts=max_parts))
    except EncodeError as exc:  # TooManyParts included
        raise Refused(200, BAD_LENGTH, f"msg cannot be sent: {exc}") from None


def needs_status(value: str | None) -> bool:
    """``needstatus``: True only for ``true`` (any case, blanks ignored)."""
    return (value or "").strip().lower() == "true"


def extension(value: str | None) -> str:
    """``extno``: '' when absent or empty, else its digits.  Refused(113) otherwise."""
    if value is None:
        raise Refused(200, BAD_EXTNO, "undecodable extno")
    value = value.strip()
    if value and not _EXTNO.fullmatch(value):
        raise Refused(200, BAD_EXTNO, f"extno is 1 to 20 digits, not {value[:40]!r}")
    return value


def product(value: str | None, groups: set[str]) -> str:
    """``product``: '' for any line, else the provider group it names.  Refused(112) for an unknown one."""
    if value is None:
        raise Refused(200, NO_PRODUCT, "undecodable product")
    value = value.strip()
    if not value or value.lower() == ANY_PRODUCT:
        return ""
    if value in groups:
        return value
    raise Refused(200, NO_PRODUCT, f"no provider group {value[:40]!r}")


def request_ref(request_id: bytes) -> str:
    """The submission's idempotency key from the bytes of an X-Request-Id header
    (blanks around them dropped): their UTF-8 text up to MAX_REQUEST_ID
    characters, else (longer, or not UTF-8: the header is no parameter of the
    seed, so it is an opaque key, never refused) ``sha256:`` and their digest."""
    request_id = request_id.strip(b" \t")
    try:
        text = request_id.decode("utf-8")
        if len(text) <= MAX_REQUEST_ID:
            return text
    except UnicodeDecodeError:
        pass
    return "sha256:" + hashlib.sha256(request_id).hexdigest()


# --- replies -------------------------------------------------------------------------------

def stamp(at: datetime) -> str:
    """``yyyyMMddHHmmss``."""
    return at.strftime("%Y%m%d%H%M%S")


def send_reply(at: datetime, code: int, msgid: int | None = None) -> str:
    """``<resptime>,<code>``, and ``\\n<msgid>`` when given (accepted with needstatus=true)."""
    first = f"{stamp(at)},{code}"
    return first if msgid is None else f"{first}\n{msgid}"


def balance_reply(at: datetime, groups: dict[str, int | None], total: int | None) -> str:
    """``<time>,0``; a ``<group>,<remaining>`` line per named provider group
    (-1: unlimited); last ``all,<remaining of the whole box>``."""
    lines = [f"{stamp(at)},{OK}"]
    lines += [f"{name},{-1 if left is None else left}" for name, left in groups.items() if name]
    lines.append(f"{ANY_PRODUCT},{-1 if total is None else total}")
    return "\n".join(lines)


# --- pushes --------------------------------------------------------------------------------

def short_time(value: Any, tz: tzinfo | None = None) -> str:
    """``YYMMDDhhmm`` of a stored local time ``YYYY-MM-DD hh:mm:ss`` (or a
    datetime); now in ``tz`` when it is neither."""
    if isinstance(value, datetime):
        return value.strftime("%y%m%d%H%M")
    match = _STORE_TIME.match(value) if isinstance(value, str) else None
    if match:
        return "".join(match.groups()[1:])
    return datetime.now(tz).strftime("%y%m%d%H%M")


# TP-Status (3GPP TS 23.040 9.2.3.15) of a final report that is not "delivered", as the
# gateway status words Chinese SMS gateways (CMPP) report; anything else is UNDELIV.
_TP_STATUS_WORD = {0x46: "EXPIRED", 0x47: "DELETED", 0x48: "DELETED", 0x42: "REJECTD", 0x63: "REJECTD"}


def report_status(kind: str, payload: dict[str, Any]) -> str | None:
    """The ``status`` of a report push: DELIVRD, a gateway word for a failed
    delivery report, ``CMS:<code>`` (or the failure cause) for a failed send;
    None when the event is not reported (sent results, other kinds)."""
    if kind == "receipt":
        if payload.get("delivered") is True:
            return "DELIVRD"
        status = payload.get("status")
        return _TP_STATUS_WORD.get(status, "UNDELIV") if isinstance(status, int) else "UNDELIV"
    if kind == "result" and payload.get("status") == "failed":
        code = payload.get("error_code")
        if isinstance(code, int) and not isinstance(code, bool):
            return f"CMS:{code}"
        return str(payload.get("failure_cause") or "UNKNOWN")
    return None


def report_params(kind: str, payload: dict[str, Any], *, receiver: str, password: str,
                  tz: tzinfo | None = None) -> dict[str, str] | None:
    """The seed's status-report parameters, in its order, for a message whose
    report was asked for (``status_report`` true); None when nothing is pushed."""
    if payload.get("status_report") is not True:
        return None
    status = report_status(kind, payload)
    if status is None:
        return None
    msgid = payload.get("task_id") or payload.get("message_id")
    return {"receiver": receiver, "pswd": password, "msgid": "" if msgid is None else str(msgid),
            "reportTime": short_time(payload.get("at"), tz), "mobile": str(payload.get("recipient") or ""),
            "status": status}


def mo_params(kind: str, payload: dict[str, Any], *, receiver: str, password: str,
              tz: tzinfo | None = None) -> dict[str, str] | None:
    """The seed's MO parameters (a whole message: no ``isems``); None for other kinds."""
    if kind != "mo":
        return None
    return {"receiver": receiver, "pswd": password,
            "moTime": short_time(payload.get("receive_date") or payload.get("message_date"), tz),
            "destcode": str(payload.get("number") or ""), "mobile": str(payload.get("originator") or ""),
            "msg": str(payload.get("text") or "")}


def push_url(base: str, params: dict[str, str]) -> str:
    """``base`` with ``params`` appended (UTF-8, percent-encoded, ``%20`` for a
    space) after ``?``, or ``&`` when it has a query already."""
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote, safe="", encoding="utf-8",
                                   errors="replace")
    joiner = "" if base.endswith(("?", "&")) else "&" if "?" in base else "?"
    return f"{base}{joiner}{query}"
