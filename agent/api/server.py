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
alone answers 400 "Bad URI".

Shared helpers for dialects: :func:`credentials_ok` (constant-time; secrets
are never logged) and :func:`params` (query string and form fields as one
dict, decoded as UTF-8).
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
from typing import TYPE_CHECKING, Any

import bottle
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
    user_ok = hmac.compare_digest((username or "").encode(), expected.username.encode())
    pass_ok = hmac.compare_digest((password or "").encode(), expected.password.encode())
    return user_ok and pass_ok


def password_ok(password: str | None, expected: str) -> bool:
    """Constant-time check of a lone password ('' configured: open)."""
    return not expected or hmac.compare_digest((password or "").encode(), expected.encode())


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


_RAW_BYTE = re.compile(rb"[\x80-\xff]")
_split_uri = waitress.parser.split_uri


def _split_raw_uri(uri: bytes) -> Any:
    """waitress's URI split, after percent-encoding raw non-ASCII bytes."""
    return _split_uri(_RAW_BYTE.sub(lambda m: b"%%%02X" % m.group()[0], uri))


waitress.parser.split_uri = _split_raw_uri  # looked up as a module global by the request parser


class HttpServer:
    """Serves a WSGI app on ``host:port`` (port 0: any free port) in a named thread."""

    def __init__(self, app: Any, *, host: str, port: int, threads: int = 8, max_body: int = 4_194_304,
                 timeout: float = 30.0) -> None:
        self._server = create_server(app, host=host, port=port, threads=threads, max_request_body_size=max_body,
                                     channel_timeout=int(timeout), ident="sms-agent", clear_untrusted_proxy_headers=True)
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
