"""Request parameters as raw bytes, for dialects whose clients send GBK,
UTF-16 or URL-encoded binary (pure: no bottle, no sockets).

Bottle decodes parameters as UTF-8 text, which loses what such clients send;
these functions keep each value's bytes, and the dialect decodes them in the
charset its own rules name.  Keys are the latin-1 text of their bytes (keys
are ASCII in practice); ``+`` is a blank; the last of a repeated key wins; a
key without ``=`` has an empty value.
"""

from __future__ import annotations

import email.errors
import urllib.parse
from email import policy
from email.parser import BytesParser
from typing import Any


class UnreadableBody(ValueError):
    """A request body that cannot be read as a form; ``fields`` holds the query
    string's fields (so that a dialect can still answer in the asked format)."""

    def __init__(self, reason: str, fields: dict[str, bytes]) -> None:
        super().__init__(reason)
        self.fields = fields


def urlencoded(data: bytes) -> dict[str, bytes]:
    """``k=v&k=v`` (a query string or an ``application/x-www-form-urlencoded``
    body) as key -> raw value bytes."""
    out: dict[str, bytes] = {}
    for pair in data.split(b"&"):
        if pair:
            key, _, value = pair.partition(b"=")
            out[urllib.parse.unquote_to_bytes(key.replace(b"+", b" ")).decode("latin-1")] = \
                urllib.parse.unquote_to_bytes(value.replace(b"+", b" "))
    return out


def multipart(body: bytes, content_type: str) -> dict[str, bytes]:
    """The fields (not the files) of a ``multipart/form-data`` body, as raw bytes.
    ``content_type`` is the header as sent (its boundary is case-sensitive).
    Raise ValueError when the body is not such a form."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    try:
        message: Any = BytesParser(policy=policy.HTTP).parsebytes(head + body)
        if not message.is_multipart():
            raise ValueError("not a multipart/form-data body")
        out: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str) or part.get_param("filename", header="content-disposition"):
                continue
            payload = part.get_payload(decode=True)
            # As a query string's keys: the latin-1 text of the name's bytes (the parser keeps
            # raw bytes as surrogate escapes; a name in RFC 2231 form is UTF-8 text).
            out[name.encode("utf-8", "surrogateescape").decode("latin-1")] = \
                payload if isinstance(payload, bytes) else b""
        return out
    except (LookupError, email.errors.MessageError) as exc:
        raise ValueError(f"unreadable multipart body: {exc}") from None


def fields(query: bytes, body: bytes = b"", content_type: str = "") -> dict[str, bytes]:
    """The query string's fields, then the body's over them: a multipart form when
    the Content-Type says so, else URL-encoded whatever it says.  Raise
    :class:`UnreadableBody` for a multipart body that cannot be read."""
    out = urlencoded(query)
    if body:
        if content_type.split(";", 1)[0].strip().lower() == "multipart/form-data":
            try:
                out.update(multipart(body, content_type))
            except ValueError as exc:
                raise UnreadableBody(str(exc), out) from None
        else:
            out.update(urlencoded(body))
    return out
