"""What the dialects read from a request, and the hooks that keep bad bytes out of their handlers.

Bad input never reaches a handler as an exception: :func:`prepare_request`
(run before routing) replaces header values that are not UTF-8 (which
bottle's ``get_header`` cannot decode) with their U+FFFD-repaired text
(:func:`raw_header` still gives the bytes sent), and reads a multipart form
once, an unreadable one counting as empty (:func:`unreadable_form` says
why); :func:`request_id` refuses an ``X-Request-Id`` that is not UTF-8.
Safe methods are safe: bottle answers HEAD with the GET handler, so a route
that changes something (a send, a read cursor) is mounted with
``changes=True`` and :class:`SafeMethods` refuses a HEAD on it with 405 and
an ``Allow`` header, before its handler runs.  A route that sends is
mounted with ``sends=True`` (or, where one path serves sends and queries,
its handler calls :func:`mark_send`): /metrics times its replies.

Helpers: :func:`request_id`, :func:`raw_header`, :func:`client_address`,
:func:`raw_fields` (the fields' raw bytes, see :mod:`agent.api.forms`),
:func:`unreadable_form` and :func:`params` (query string and form fields as
one dict, decoded as UTF-8).
"""

from __future__ import annotations

import logging
from typing import Any

import bottle

from . import forms

log = logging.getLogger(__name__)

_ORIGINALS = "agent.original_headers"  # environ key: the header values that were not UTF-8, as sent
_UNREADABLE = "agent.unreadable_form"  # environ key: why bottle could not read the multipart form
SENDS = "agent.sends"  # environ key: set when the request is a send (see mark_send)


def mark_send() -> None:
    """Mark the request being served as a send (its reply is timed for /metrics),
    for a route whose path serves sends and other requests."""
    bottle.request.environ[SENDS] = True


def prepare_request() -> None:
    """Before routing, so that no handler meets bad bytes as an exception: make
    every header value valid UTF-8 (bottle decodes them strictly), keeping the
    originals; and read a multipart form once (bottle's parser raises on a
    part's unknown charset or header bytes that are not in it): an unreadable
    one counts as an empty form, its reason kept for :func:`unreadable_form`."""
    environ = bottle.request.environ
    originals = {}
    for key, value in list(environ.items()):
        if (key.startswith("HTTP_") or key == "CONTENT_TYPE") and isinstance(value, str) and not value.isascii():
            raw = value.encode("latin-1", "replace")  # WSGI strings carry bytes as latin-1
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                originals[key] = value
                environ[key] = raw.decode("utf-8", "replace").encode("utf-8").decode("latin-1")
    environ[_ORIGINALS] = originals
    if str(environ.get("CONTENT_TYPE") or "").lower().lstrip().startswith("multipart/"):
        try:
            bottle.request.POST  # parsed and cached in the environ (the body stays readable)
        except (bottle.HTTPError, UnicodeError, LookupError, ValueError) as exc:
            reason = exc.body if isinstance(exc, bottle.HTTPError) else str(exc)
            log.info("%s %s: unreadable multipart form: %s", bottle.request.method, bottle.request.path, reason)
            environ["bottle.request.post"] = bottle.FormsDict()
            environ[_UNREADABLE] = str(reason)[:200]


def unreadable_form(request: bottle.BaseRequest) -> str | None:
    """Why the request's multipart form could not be read (its fields then look
    empty to ``request.forms``); None when it was read or is no multipart form."""
    return request.environ.get(_UNREADABLE)


class SafeMethods:
    """A bottle plugin: on a route mounted with ``changes=True``, HEAD (which
    bottle serves with the GET handler) is refused with 405 and ``Allow`` naming
    the route's methods, before the handler runs: a link checker or monitoring
    probe must not send an SMS or move a read cursor."""

    name = "safe_methods"
    api = 2

    def __init__(self, app: bottle.Bottle) -> None:
        self._app = app

    def apply(self, callback: Any, route: bottle.Route) -> Any:
        if not route.config.get("changes"):
            return callback

        def refuse_head(*args: Any, **kwargs: Any) -> Any:
            if bottle.request.method == "HEAD":
                allow = ", ".join(sorted({r.method for r in self._app.routes if r.rule == route.rule}))
                log.info("HEAD %s refused: it would change something", bottle.request.path)
                raise bottle.HTTPError(405, f"HEAD would change something on {route.rule}", Allow=allow)
            return callback(*args, **kwargs)

        return refuse_head


class BadHeader(ValueError):
    """A request header a dialect needs is not valid UTF-8 (``name`` says which)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"header {name} is not UTF-8")
        self.name = name


def raw_header(request: bottle.BaseRequest, name: str) -> bytes | None:
    """The bytes of header ``name`` as the client sent them (None when absent)."""
    key = "HTTP_" + name.upper().replace("-", "_")
    value = request.environ.get(_ORIGINALS, {}).get(key, request.environ.get(key))
    return None if value is None else str(value).encode("latin-1", "replace")  # WSGI: bytes as latin-1


def request_id(request: bottle.BaseRequest) -> str:
    """The ``X-Request-Id`` header, blanks around it dropped ('' when absent).
    Raise :class:`BadHeader` when its bytes are not UTF-8 (repaired, it would
    name another request than the client meant)."""
    try:
        return (raw_header(request, "X-Request-Id") or b"").decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadHeader("X-Request-Id") from None


def client_address(request: bottle.BaseRequest) -> str:
    """The peer address of the connection (never a client-supplied forwarding header)."""
    return str(request.environ.get("REMOTE_ADDR") or "")


def raw_fields(request: bottle.BaseRequest) -> dict[str, bytes]:
    """The query string's and the body's fields with their values' raw bytes (see
    :mod:`agent.api.forms`; the body wins).  Raise :class:`forms.UnreadableBody`
    for a body that cannot be read (a broken chunked or multipart body)."""
    query_string = str(request.environ.get("QUERY_STRING") or "")
    try:
        query = query_string.encode("latin-1")  # WSGI strings carry bytes as latin-1
    except UnicodeEncodeError:
        query = query_string.encode("utf-8", "surrogateescape")
    try:
        body = request.body.read()
    except bottle.HTTPError as exc:
        raise forms.UnreadableBody(f"unreadable body: {exc.body}", forms.urlencoded(query)) from None
    return forms.fields(query, body, str(request.environ.get("CONTENT_TYPE") or ""))


def params(request: bottle.BaseRequest) -> dict[str, str]:
    """Query string and form fields (form wins), decoded as UTF-8 (latin-1 bytes kept as such)."""
    out: dict[str, str] = {}
    for source in (request.query, request.forms):
        for key in source.keys():
            out[key] = source.getunicode(key, default=None) or source.get(key) or ""
    return out
