"""The GoIP SMS Server JSON API's requests and replies, as pure functions (no
bottle, no core): the body, its fields, recipients, content, and the JSON
written back.  :mod:`agent.api.goip` serves them; the MQTT commands
(:mod:`agent.api.mqtt_commands`) read their requests with the same rules.

Every refusal is an :class:`~agent.errors.Refused` carrying the HTTP status
and the ``reason`` of the ``{"result":"REJECT",...}`` reply (:func:`reject`).
Texts are refused when they hold a lone surrogate (a JSON ``"\\ud800"``
escape): such a string has no UTF-8, cannot be sent as an SMS and cannot be
stored.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..codec.parts import split
from ..errors import EncodeError, Refused, TooManyParts

MAX_RECIPIENTS = 9999
MAX_CLIENT_REF = 128

_NUMBER = re.compile(r"\+?[0-9]{3,20}")


def reject(refused: Refused) -> dict[str, str]:
    """The ``{"result":"REJECT","reason":...}`` reply of ``refused`` (its ``detail`` too, when it has one)."""
    body = {"result": "REJECT", "reason": str(refused.reason)}
    if refused.detail:
        body["detail"] = refused.detail
    return body


def bad(detail: str) -> Refused:
    """A 400 refusal with reason ``unknown`` and ``detail``."""
    return Refused(400, "unknown", detail)


def to_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON; texts with lone surrogates (broken UCS-2) fall back to ``\\u`` escapes."""
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode("ascii")


def parse_body(raw: bytes) -> dict[str, Any]:
    """Given a request body, return the JSON object it holds; raise Refused (400)
    when it is not UTF-8, not JSON (NaN/Infinity included) or not an object."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad(f"body is not UTF-8 (byte {exc.start})") from None

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        body = json.loads(text, parse_constant=no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; so is a 5000-digit integer
        raise bad(f"body is not JSON: {str(exc)[:100]}") from None
    if not isinstance(body, dict):
        raise bad(f"body must be a JSON object, not {kind(body)}")
    return body


def kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def show(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def text(body: dict[str, Any], key: str, *, required: bool = False) -> str:
    """The string (or non-negative integer, as its digits) at ``key``; '' when
    absent or null.  Raise Refused (400) for another type, or when required and empty."""
    value = body.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    elif value is None:
        value = ""
    elif not isinstance(value, str):
        raise bad(f"{key} must be a string, not {kind(value)}")
    if required and not value:
        raise bad(f"{key} is required")
    return value


def recipients(number: str) -> list[str]:
    """Given ``number`` as sent, return its distinct recipients in first-seen
    order.  Raise Refused (400) naming the first invalid one, when there is
    none, or when there are more than MAX_RECIPIENTS."""
    found: dict[str, None] = {}
    for item in number.split(","):
        item = item.strip(" \t\r\n")
        if not item:
            continue
        if not _NUMBER.fullmatch(item):
            raise bad(f"number: {show(item)} is not a phone number (3 to 20 digits, optionally after '+')")
        found[item] = None
    if not found:
        raise bad("number: no recipient")
    if len(found) > MAX_RECIPIENTS:
        raise bad(f"number: {len(found)} distinct recipients, at most {MAX_RECIPIENTS} per request")
    return list(found)


def unicode_ok(text: str) -> bool:
    """False for a text with a lone surrogate (a JSON ``"\\ud800"``): no UTF-8, no SMS, no SQLite row."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def parts(content: str, max_parts: int) -> int:
    """How many SMS parts ``content`` needs; Refused (400) when it cannot be sent."""
    if not unicode_ok(content):
        raise bad("content is not valid Unicode (a lone surrogate)")
    try:
        return len(split(content, max_parts=max_parts))
    except TooManyParts as exc:
        raise bad(f"content needs {exc.needed} SMS parts, at most {exc.maximum} allowed") from None
    except EncodeError as exc:
        raise bad(f"content cannot be sent: {exc}") from None
