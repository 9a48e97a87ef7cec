"""The SOMP HTTP replies, pure: ``/mt``'s ``id=``/``r=`` in the three ``rf``
formats, and ``/mo``'s records (``op=mo`` / ``op=dr``) made from journal
payloads (:mod:`agent.store.outbox`).

Decisions where the seed is silent: ``/mo`` in XML is
``<list><item><op>..</op>...</item></list>`` and in JSON
``{"success": true, "list": [{...}]}`` with every value a string; a report
covers every part of its message (``bi`` 1); ``ex`` is 0 when the client
gave none; a failed send without a ``+CMS ERROR`` code reports SOMP's own
code as ``rp`` (9408 expired, 9015 no route, 9501 bad number, 9012 bad
text, 9909 any other).
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Collection, Sequence
from datetime import datetime
from xml.sax.saxutils import escape

from .somp_wire import BAD_CONTENT, EXPIRED, TIME_FORMAT

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# --- replies --------------------------------------------------------------------------------

CONTENT_TYPES = ("text/plain; charset=utf-8", "text/xml; charset=utf-8", "application/json; charset=utf-8")
XML_DECLARATION = '<?xml version="1.0"?>'


def accepted(msg_id: int, rf: int) -> str:
    """The /mt success reply."""
    if rf == 1:
        return f"{XML_DECLARATION}\n<id>{msg_id}</id>"
    if rf == 2:
        return json.dumps({"success": True, "id": str(msg_id)})
    return f"id={msg_id}"


def refused(code: int, rf: int) -> str:
    """The failure reply of both endpoints."""
    if rf == 1:
        return f"{XML_DECLARATION}\n<r>{code}</r>"
    if rf == 2:
        return json.dumps({"r": str(code)})
    return f"r={code}"


Record = Sequence[tuple[str, str]]


def records(items: Sequence[Record], rf: int, *, encoded: Collection[str] = ()) -> str:
    """The /mo reply: rf=0 one ``k=v&k=v`` line per record joined with CRLF (values
    URL-encoded, but for the ``encoded`` keys, which are already; nothing when
    empty); rf=1 ``<list><item><op>..</op>...</item></list>``;
    rf=2 ``{"success": true, "list": [{"op": "..", ...}]}`` (values as strings)."""
    if rf == 1:
        body = "".join("<item>" + "".join(f"<{k}>{_xml(v)}</{k}>" for k, v in item) + "</item>\n" for item in items)
        return f"{XML_DECLARATION}\n<list>\n{body}</list>"
    if rf == 2:
        return json.dumps({"success": True, "list": [dict(item) for item in items]})
    return "\r\n".join("&".join(f"{k}={v if k in encoded else urllib.parse.quote(v, safe='')}" for k, v in item)
                       for item in items)


def _xml(value: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", value))


# --- /mo records ------------------------------------------------------------------------------

def stamp(value: object) -> str:
    """A stored local time ('YYYY-MM-DD HH:MM:SS' or a datetime) as yyyyMMddHHmmss; '' if unreadable."""
    if isinstance(value, datetime):
        return value.strftime(TIME_FORMAT)
    try:
        return datetime.fromisoformat(str(value).strip()).strftime(TIME_FORMAT)
    except ValueError:
        return ""


def encode_content(content: str, tf: int) -> str:
    """A received text for ``sm``: UTF-16BE (``dc=8``) as hex (tf 0) or Base64 (tf 1),
    or the bytes themselves for tf 2 (UTF-16BE) and 3 (UTF-8), which the reply
    URL-encodes (:func:`records` in the line form; here for XML and JSON)."""
    if tf == 3:
        return urllib.parse.quote_from_bytes(content.encode("utf-8", "replace"), safe="")
    data = content.encode("utf-16-be", "surrogatepass")
    if tf == 1:
        return base64.b64encode(data).decode("ascii")
    if tf == 2:
        return urllib.parse.quote_from_bytes(data, safe="")
    return data.hex().upper()


def mo_record(payload: dict[str, object], tf: int) -> list[tuple[str, str]]:
    """The fields of an ``op=mo`` line for a journal 'mo' payload."""
    return [("op", "mo"), ("dc", "8"), ("pi", "0"), ("ec", "0"),
            ("sa", str(payload.get("originator") or "")), ("da", str(payload.get("number") or "")),
            ("mu", str(payload.get("line") or "")), ("sm", encode_content(str(payload.get("text") or ""), tf)),
            ("sd", stamp(payload.get("receive_date") or payload.get("message_date")))]


# failure_cause -> rp of a failure without a +CMS ERROR code (SOMP's own codes)
_FAILURE_RP = {"EXPIRED": EXPIRED, "NO_ROUTE": 9015, "BAD_NUMBER": 9501, "BAD_FORMAT": BAD_CONTENT}
NO_REPLY_RP = 9909  # "the gateway did not answer": any other failure without a code
_REJECTED = {"BAD_NUMBER", "BAD_FORMAT"}


def is_report(kind: str, payload: dict[str, object]) -> bool:
    """True for a journal 'receipt', or a failed 'result', of a message that asked for a report."""
    if payload.get("status_report") is False:
        return False
    return kind == "receipt" or (kind == "result" and payload.get("status") == "failed")


def dr_record(kind: str, payload: dict[str, object], submitted: object, index: int) -> list[tuple[str, str]]:
    """The fields of an ``op=dr`` line for a payload :func:`is_report` accepts.
    ``submitted``: the row's sent (else created) date; ``index`` its 1-based
    position among the numbers of its submission."""
    if kind == "receipt":
        delivered = payload.get("delivered") is True
        word = "DELIVRD" if delivered else "UNDELIV"
        rp = 0 if delivered else _int(payload.get("status"), NO_REPLY_RP)
    else:
        cause = str(payload.get("failure_cause") or "")
        word = "EXPIRED" if cause == "EXPIRED" else "REJECTD" if cause in _REJECTED else "UNDELIV"
        code = payload.get("error_code")
        rp = _int(code, NO_REPLY_RP) if code is not None else _FAILURE_RP.get(cause, NO_REPLY_RP)
    msg_id = payload.get("task_id") if payload.get("task_id") is not None else payload.get("message_id")
    return [("op", "dr"), ("sa", str(payload.get("recipient") or "")), ("id", str(msg_id or "")),
            ("ex", str(payload.get("client_ref") or "0")), ("su", word), ("sd", stamp(submitted)),
            ("dd", stamp(payload.get("at"))), ("rp", str(rp)), ("bi", "1"), ("di", str(index))]


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default

