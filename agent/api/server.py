"""The HTTP server: one explicit Bottle app with every dialect on its own paths.

:func:`create_app` builds the app from the core and the config; each dialect
module contributes its routes through ``mount(app, core, config)``.
:class:`HttpServer` serves it with waitress, a production-grade threaded WSGI
server (pure Python, maintained by the Pylons project): HTTP/1.1 keep-alive,
a bounded request body, idle-connection timeouts and a fixed pool of worker
threads, so a slow client never holds up another.  It stops cleanly from
another thread.  Clients that put raw bytes >= 0x80 in the request target
(Chinese text not percent-encoded, as some vendor examples show) are served:
those bytes are read as if they had been percent-encoded, where waitress
alone answers 400 "Bad URI".  ``Expect: 100-continue`` on a request without
a body (no Content-Length, ``Content-Length: 0``) or refused at its headers
(413) gets its final response at once: waitress 3.0.2 sent ``100 Continue``
and then waited for a body that never comes, until the idle timeout
(:class:`_Parser`, installed through the server's channel class).

Bad input never reaches a handler as an exception: header values that are
not UTF-8 (which bottle's ``get_header`` cannot decode) are replaced with
their U+FFFD-repaired text before routing (:func:`raw_header` still gives
the bytes sent); a multipart form bottle cannot read is an empty form
(:func:`unreadable_form` says why); :func:`request_id` refuses an
``X-Request-Id`` that is not UTF-8; credentials with lone surrogates (JSON
``"\\ud800"``) simply do not match.  Safe methods are safe: bottle answers
HEAD with the GET handler, so a route that changes something (a send, a read
cursor) is mounted with ``changes=True`` and a HEAD on it is refused with
405 and an ``Allow`` header, before its handler runs.

Shared helpers for dialects: :func:`credentials_ok` (constant-time; secrets
are never logged), :func:`request_id`, :func:`raw_header`, :func:`raw_fields`,
:func:`unreadable_form` and :func:`params` (query string and form fields as
one dict, decoded as UTF-8).
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
from typing import TYPE_CHECKING, Any

import bottle
import waitress.channel
import waitress.parser
from waitress.server import create_server

from ..config import Config, Credentials

if TYPE_CHECKING:
    from ..core import Core

log = logging.getLogger(__name__)


def credentials_ok(username: str | None, password: str | None, expected: Credentials) -> bool:
    """True when the pair matches ``expected``; compared in constant time.

    With no password configured every request is accepted (the API is then
    open to whoever reaches the port: README says to bind it to 127.0.0.1).
    """
    if not expected.configured:
        return True
    user_ok = hmac.compare_digest(_utf8(username), _utf8(expected.username))
    pass_ok = hmac.compare_digest(_utf8(password), _utf8(expected.password))
    return user_ok and pass_ok


def password_ok(password: str | None, expected: str) -> bool:
    """Constant-time check of a lone password ('' configured: open)."""
    return not expected or hmac.compare_digest(_utf8(password), _utf8(expected))


def _utf8(text: str | None) -> bytes:
    # surrogatepass: a lone surrogate (JSON "\ud800") gives bytes no configured secret has.
    return (text or "").encode("utf-8", "surrogatepass")


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
    from . import forms

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


def create_app(core: Core, config: Config) -> bottle.Bottle:
    """The agent's WSGI app: every dialect mounted on its own paths, and the
    simulator's controls under ``/sim/`` when the agent runs on the simulated bank,
    and the status page, /status.json, /metrics and /healthz.  Every request
    is counted by dialect and status code for /metrics."""
    from . import batchsend, goip, httpinterface, jindi, metrics, somp, status

    app = bottle.Bottle(catchall=True)
    app.config["json.enable"] = False  # each dialect writes its own bodies
    app.add_hook("before_request", _prepare_request)
    app.install(_SafeMethods(app))
    requests = metrics.RequestCounter()
    _count_requests(app, requests)
    status.mount(app, core, config, requests=requests)
    goip.mount(app, core, config.goip)
    jindi.mount(app, core, config.jindi, tz=config.agent.tz)
    somp.mount(app, core, config.somp, tz=config.agent.tz, max_parts=config.modems.max_parts)
    batchsend.mount(app, core, config.batchsend, tz=config.agent.tz, max_parts=config.modems.max_parts)
    httpinterface.mount(app, core, config.httpinterface, tz=config.agent.tz, max_parts=config.modems.max_parts)
    if core.sim is not None:
        from . import simctl

        simctl.mount(app, core)

    @app.error(404)
    def _not_found(err: bottle.HTTPError) -> str:
        bottle.response.content_type = "text/plain; charset=utf-8"
        return f"no such endpoint: {bottle.request.method} {bottle.request.path}\n"

    @app.error(405)
    def _bad_method(err: bottle.HTTPError) -> str:
        bottle.response.content_type = "text/plain; charset=utf-8"
        return f"method {bottle.request.method} not allowed on {bottle.request.path}\n"

    @app.error(500)
    def _crash(err: bottle.HTTPError) -> str:
        log.error("HTTP %s %s failed: %s\n%s", bottle.request.method, bottle.request.path, err.exception,
                  err.traceback)
        bottle.response.content_type = "text/plain; charset=utf-8"
        return "internal error\n"

    return app


def _count_requests(app: bottle.Bottle, counter: Any) -> None:
    """Count every answered request in ``counter`` (a metrics.RequestCounter) by
    dialect and status code.  The dialect is the route's ``dialect`` config, else
    the module that defined its callback (``goip``, ``jindi``...); ``none`` when
    no route matched (404)."""

    def dialect() -> str:
        route = bottle.request.environ.get("bottle.route")
        if route is None:
            return "none"
        return str(route.config.get("dialect") or getattr(route.callback, "__module__", "").rpartition(".")[2])

    @app.hook("after_request")
    def _count() -> None:
        counter.count(dialect(), bottle.response.status_code)

    def crashes_are_500(callback: Any) -> Any:
        # after_request runs before bottle turns an uncaught exception into its
        # 500 page: mark the response so the hook counts a 500, not a 200.
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return callback(*args, **kwargs)
            except bottle.HTTPResponse:
                raise
            except Exception:
                bottle.response.status = 500
                raise
        return wrapper

    app.install(crashes_are_500)


_ORIGINALS = "agent.original_headers"  # environ key: the header values that were not UTF-8, as sent
_UNREADABLE = "agent.unreadable_form"  # environ key: why bottle could not read the multipart form


def _prepare_request() -> None:
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


class _SafeMethods:
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


_RAW_BYTE = re.compile(rb"[\x80-\xff]")
_split_uri = waitress.parser.split_uri


def _split_raw_uri(uri: bytes) -> Any:
    """waitress's URI split, after percent-encoding raw non-ASCII bytes."""
    return _split_uri(_RAW_BYTE.sub(lambda m: b"%%%02X" % m.group()[0], uri))


waitress.parser.split_uri = _split_raw_uri  # looked up as a module global by the request parser


class _Parser(waitress.parser.HTTPRequestParser):
    """waitress's request parser, except that a request already complete at the
    end of its headers (no body to wait for, or refused: 413, 400) does not ask
    for ``100 Continue``: waitress's channel sent it and marked the request
    incomplete again, so it was never served.  RFC 9110 10.1.1: a server may
    omit 100 when the framing says there is no content, and should answer a
    request it refuses with the final status at once."""

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.completed:
            self.expect_continue = False
        return int(consumed)


class _Channel(waitress.channel.HTTPChannel):  # type: ignore[misc]
    parser_class = _Parser


class HttpServer:
    """Serves a WSGI app on ``host:port`` (port 0: any free port) in a named thread."""

    def __init__(self, app: Any, *, host: str, port: int, threads: int = 8, max_body: int = 4_194_304,
                 timeout: float = 30.0) -> None:
        self._server = create_server(app, host=host, port=port, threads=threads, max_request_body_size=max_body,
                                     channel_timeout=int(timeout), ident="sms-agent", clear_untrusted_proxy_headers=True)
        self._server.channel_class = _Channel  # type: ignore[union-attr]  # read at each accept
        self.host = host
        self.port: int = self._server.effective_port  # type: ignore[union-attr]
        self._thread = threading.Thread(target=self._serve, name="http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        log.info("HTTP APIs on %s", self.url)

    def _serve(self) -> None:
        try:
            self._server.run()
        except Exception:
            log.exception("HTTP server failed")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in progress finish (bounded), join the thread."""
        server: Any = self._server
        server.task_dispatcher.shutdown(timeout=timeout)
        # The serving loop runs while its socket map is not empty: empty the
        # map, pull the wake-up trigger so the loop notices at once, and
        # close the listener and the connections once the loop has ended.
        channels = list(server._map.values())
        server._map.clear()
        server.trigger.pull_trigger()
        self._thread.join(timeout)
        for channel in channels:
            channel.close()
