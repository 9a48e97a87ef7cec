"""The agent's WSGI app: one explicit Bottle app with every dialect on its own paths.

:func:`create_app` builds it from the core and the config; each dialect
module contributes its routes through ``mount(app, core, config...)``; the
status page, /status.json, /metrics and /healthz too, and the simulator's
controls under ``/sim/`` when the agent runs on the simulated bank.
:class:`agent.api.server.HttpServer` serves it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import bottle

from ..metrics_recorder import Recorder
from . import batchsend, goip, httpinterface, jindi, simctl, somp, status
from .request import SENDS, SafeMethods, prepare_request

if TYPE_CHECKING:
    from ..config import Config
    from ..core import Core

log = logging.getLogger(__name__)

_STARTED = "sms_agent.started"  # environ key: time.monotonic() when the request reached the app


def create_app(core: Core, config: Config, *, recorder: Recorder | None = None) -> bottle.Bottle:
    """The agent's WSGI app: every dialect mounted on its own paths, and the
    simulator's controls under ``/sim/`` when the agent runs on the simulated bank,
    and the status page, /status.json, /metrics and /healthz.  Texts may need
    at most ``core.max_parts`` SMS parts in every dialect.  Every request
    is counted by dialect and status code in ``recorder`` (a new one when not
    given), and a request to a sending endpoint timed, for /metrics."""
    app = bottle.Bottle(catchall=True)
    app.config["json.enable"] = False  # each dialect writes its own bodies
    app.add_hook("before_request", _arrived)  # first: a request refused while being prepared is timed too
    app.add_hook("before_request", prepare_request)
    app.install(SafeMethods(app))
    recorder = recorder or Recorder()
    _measure_requests(app, recorder)
    status.mount(app, core, config, recorder=recorder)
    goip.mount(app, core, config.goip)
    jindi.mount(app, core, config.jindi, tz=config.agent.tz)
    somp.mount(app, core, config.somp, tz=config.agent.tz)
    batchsend.mount(app, core, config.batchsend, tz=config.agent.tz)
    httpinterface.mount(app, core, config.httpinterface, tz=config.agent.tz)
    if core.sim is not None:
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


def _arrived() -> None:
    bottle.request.environ[_STARTED] = time.monotonic()


def _measure_requests(app: bottle.Bottle, recorder: Recorder) -> None:
    """Count every answered request in ``recorder.http_requests`` by dialect and
    status code, and time those to a sending endpoint (a route mounted with
    ``sends=True``, or a request its handler marked with
    :func:`agent.api.request.mark_send`) in ``recorder.http_accept``, from the
    request's arrival in the app to its reply.  The dialect is the route's
    ``dialect`` config, else the module that defined its callback (``goip``,
    ``jindi``...); ``none`` when no route matched (404)."""

    def dialect() -> str:
        route = bottle.request.environ.get("bottle.route")
        if route is None:
            return "none"
        return str(route.config.get("dialect") or getattr(route.callback, "__module__", "").rpartition(".")[2])

    @app.hook("after_request")
    def _count() -> None:
        environ = bottle.request.environ
        name = dialect()
        recorder.http_requests.inc(name, str(bottle.response.status_code))
        route = environ.get("bottle.route")
        started = environ.get(_STARTED)
        if started is not None and ((route is not None and route.config.get("sends")) or environ.get(SENDS)):
            recorder.http_accept.observe(time.monotonic() - started, name)

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
