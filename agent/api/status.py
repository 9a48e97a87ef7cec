"""The field technician's page, /status.json, /metrics and /healthz.

=============================================  =============================================
``GET  /``                                     the status page (HTML, refreshes itself)
``GET  /status.json``                          the same model as JSON (:data:`status_data.SCHEMA`)
``GET  /metrics``                              Prometheus text (:mod:`agent.api.metrics`)
``GET  /healthz``                              200 ``ok`` when serving with a writable
                                               database, else 503 and the reason
``POST /status/login``                         form ``username, password, csrf``
``POST /status/logout``                        form ``csrf``
``POST /status/lines/<line>/<action>``         form ``csrf``, ``confirm``; action ``enable``,
                                               ``disable``, ``reset`` (restart the modem),
                                               ``reset-daily``
=============================================  =============================================

The disruptive actions (``disable``, ``reset``, ``reset-daily``) take two
steps, without any script: a POST without ``confirm=yes`` answers a page
that says what the action does, with a form that posts it again with
``confirm=yes`` and a link back.

Without a login the page is read-only: numbers are partly masked and texts
hidden.  With ``[status] admin_password`` set, a technician may log in; the
session lives in this process's memory (a restart logs everyone out) and is
named by a random cookie (HttpOnly, SameSite=Strict).  Every POST form
carries a CSRF token, an HMAC of the browser's cookie under a secret made at
start: a session's for the actions, a pre-login cookie's for the login form.
Credentials are compared in constant time.  ``/status.json`` also accepts
the admin credentials by HTTP Basic auth, for scripts (wrong ones: the masked
document, as without any).  The form and Basic auth share one
:class:`LoginThrottle`: a client address that failed five times within five
minutes, by either way, is locked out of both until the oldest of those
failures is five minutes old: the form answers ``msg=throttled``, Basic auth
``429 Too Many Requests`` with ``Retry-After``, even for the right password.
``/metrics`` and ``/healthz`` are open: they carry no numbers or texts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import secrets
import threading
import time
from collections import deque
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlencode

import bottle

from ..config import StatusConfig, weak_credentials
from ..errors import LineOffline, ModemError
from ..metrics_recorder import Recorder
from . import metrics, status_data
from .i18n import Translator

if TYPE_CHECKING:
    from ..config import Config
    from ..core import Core

log = logging.getLogger(__name__)

VIEWS = Path(__file__).resolve().parent / "views"
SESSION_COOKIE = "sms_agent_session"
PRE_COOKIE = "sms_agent_pre"
SESSION_SECONDS = 12 * 3600
MAX_SESSIONS = 64
FAILS_ALLOWED, FAIL_WINDOW = 5, 300.0
RESET_TIMEOUT = 30.0  # a technician waits for the modem to come back, but not forever
ACTIONS = ("enable", "disable", "reset", "reset-daily")
CONFIRMED = ("disable", "reset", "reset-daily")  # asked again before they are done
MESSAGES = ("login_failed", "throttled", "logged_in", "logged_out", "enabled", "disabled", "reset", "reset_failed",
            "reset_daily", "sim_unknown", "offline")


class LoginThrottle:
    """Failed logins by client address, shared by the login form and HTTP Basic
    auth.  An address with ``allowed`` failures within ``window`` seconds is
    locked out until the oldest of them is ``window`` seconds old (one more
    failure then locks it again); a success forgets its failures.  ``clock``
    gives seconds (monotonic).  At most ``max_addresses`` addresses are
    remembered: past that the one that failed least recently is forgotten
    first, so a scan from many addresses cannot unlock the others.
    Thread-safe."""

    def __init__(self, *, allowed: int = FAILS_ALLOWED, window: float = FAIL_WINDOW,
                 clock: Callable[[], float] = time.monotonic, max_addresses: int = 1000) -> None:
        self.allowed = allowed
        self.window = window
        self._clock = clock
        self._max = max_addresses
        self._lock = threading.Lock()
        self._fails: dict[str, deque[float]] = {}  # in order of the latest failure, oldest first

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 when it is not locked out."""
        with self._lock:
            fails = self._fails.get(address)
            if fails is None or len(fails) < self.allowed:
                return 0.0
            return max(0.0, fails[0] + self.window - self._clock())

    def failed(self, address: str) -> None:
        """Record a failed login from ``address``."""
        with self._lock:
            fails = self._fails.pop(address, None) or deque(maxlen=self.allowed)
            fails.append(self._clock())
            self._fails[address] = fails
            while len(self._fails) > self._max:
                del self._fails[next(iter(self._fails))]

    def succeeded(self, address: str) -> None:
        """Forget the failures of ``address`` (its client knows the password)."""
        with self._lock:
            self._fails.pop(address, None)


class _Sessions:
    """Logged-in sessions, in memory: id -> (user, expiry).  Thread-safe."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, float]] = {}

    def open(self, user: str) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
            while len(self._sessions) >= MAX_SESSIONS:  # the oldest goes: memory stays bounded
                self._sessions.pop(min(self._sessions, key=lambda k: self._sessions[k][1]))
            self._sessions[sid] = (user, now + SESSION_SECONDS)
        return sid

    def user(self, sid: str | None) -> str | None:
        if not sid:
            return None
        with self._lock:
            entry = self._sessions.get(sid)
            return entry[0] if entry and entry[1] > self._clock() else None

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)


class StatusPage:
    """The routes' state: the Core, the settings, the sessions, the login
    throttle (a new one unless given) and the CSRF secret."""

    def __init__(self, core: Core, config: Config, recorder: Recorder | None,
                 clock: Callable[[], float] = time.time, throttle: LoginThrottle | None = None) -> None:
        self.core = core
        self.settings: StatusConfig = config.status
        self.modems = config.modems  # its timings say when a modem that does not answer is tried again
        self.weak = weak_credentials(config)  # shown in a banner on every page until changed
        self.tr = Translator(self.settings.language)
        self.box_id = config.agent.id
        self.tz = config.agent.tz
        self.tz_name = config.agent.timezone or datetime.now().astimezone().tzname() or "local"
        self.clock = clock
        self.registry = metrics.registry(core, recorder or Recorder(), box_id=self.box_id, clock=clock)
        self.started = clock()
        self.sessions = _Sessions(clock)
        self.throttle = throttle or LoginThrottle()
        self._secret = secrets.token_bytes(32)
        self._template = bottle.SimpleTemplate(name="status", lookup=[str(VIEWS)])
        self._confirm = bottle.SimpleTemplate(name="confirm", lookup=[str(VIEWS)])

    # --- who is asking ------------------------------------------------------------

    @property
    def login_enabled(self) -> bool:
        return bool(self.settings.admin_password)

    def credentials_ok(self, username: str, password: str) -> bool:
        """Constant-time check of the admin pair; False when no password is configured."""
        if not self.login_enabled:
            return False
        user_ok = hmac.compare_digest(username.encode(), self.settings.admin_username.encode())
        pass_ok = hmac.compare_digest(password.encode(), self.settings.admin_password.encode())
        return user_ok and pass_ok

    def user(self) -> str | None:
        return self.sessions.user(bottle.request.get_cookie(SESSION_COOKIE))

    def basic_user(self) -> str | None:
        """The admin user when the request carries the right HTTP Basic
        credentials; None without any, with wrong ones (counted as a failed
        login of the client's address) or when login is off.  Raise a 429
        response when the address is locked out (see :class:`LoginThrottle`),
        whatever the credentials."""
        header = bottle.request.get_header("Authorization") or ""
        if not header.lower().startswith("basic ") or not self.login_enabled:
            return None
        address = _client_address()
        wait = self.throttle.retry_after(address)
        if wait > 0:
            log.warning("status page: HTTP Basic auth from %s refused, too many failures", address)
            seconds = math.ceil(wait)
            raise bottle.HTTPResponse(
                f"429 Too Many Requests: too many failed logins from this address; try again in {seconds} s\n",
                status=429, headers={"Content-Type": "text/plain; charset=utf-8", "Retry-After": str(seconds),
                                     "Cache-Control": "no-store"})
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            user, password = "", ""
        if not self.credentials_ok(user, password):
            self.throttle.failed(address)
            log.warning("status page: failed HTTP Basic auth from %s", address)
            return None
        self.throttle.succeeded(address)
        return user

    def token(self, cookie: str) -> str:
        return hmac.new(self._secret, b"csrf|" + cookie.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, cookie_name: str) -> bool:
        cookie = bottle.request.get_cookie(cookie_name) or ""
        sent = bottle.request.forms.get("csrf") or ""
        return bool(cookie) and hmac.compare_digest(sent.encode(), self.token(cookie).encode())

    def form_token(self) -> str:
        """The CSRF token for this browser's forms (a pre-login cookie is set when missing)."""
        sid = bottle.request.get_cookie(SESSION_COOKIE)
        if self.sessions.user(sid):
            return self.token(sid or "")
        pre = bottle.request.get_cookie(PRE_COOKIE) or ""
        if len(pre) < 20:
            pre = secrets.token_urlsafe(24)
            _set_cookie(PRE_COOKIE, pre)
        return self.token(pre)

    # --- the model ------------------------------------------------------------------

    def model(self, unmasked: bool) -> dict[str, Any]:
        ctx = status_data.Context(box_id=self.box_id, tz=self.tz, tz_name=self.tz_name, started=self.started,
                                  now=self.clock(), language=self.settings.language, unmasked=unmasked)
        return status_data.build(self.core, ctx)

    # --- routes -----------------------------------------------------------------------

    def page(self) -> str:
        user = self.user()
        m = self.model(unmasked=user is not None)
        nonce = secrets.token_urlsafe(12)
        _headers(nonce)
        msg = bottle.request.query.get("msg") or ""
        line = bottle.request.query.getunicode("line") or ""
        flash = self.tr(f"msg_{msg}", line=line if line in self.core.lines else "?") if msg in MESSAGES else ""
        return self._template.render(
            m=m, tr=self.tr, user=user, login_enabled=self.login_enabled, csrf=self.form_token(), flash=flash,
            refresh=self.settings.refresh, nonce=nonce, when=_When(m["box"]["now"]), bytes=status_data.human_bytes,
            badge=lambda line: status_data.badge(line, self.tr), weak=self.weak,
            recovery=lambda step: status_data.recovery_text(step, self.tr, self.modems),
            lang="zh-CN" if self.settings.language == "zh" else "en")

    def json(self) -> str:
        unmasked = self.user() is not None or self.basic_user() is not None
        bottle.response.content_type = "application/json; charset=utf-8"
        bottle.response.set_header("Cache-Control", "no-store")
        return json.dumps(self.model(unmasked=unmasked), ensure_ascii=False, separators=(",", ":"))

    def metrics(self) -> bytes:
        body, bottle.response.content_type = metrics.exposition(self.registry, bottle.request.get_header("Accept"))
        return body

    def healthz(self) -> str:
        bottle.response.content_type = "text/plain; charset=utf-8"
        bottle.response.set_header("Cache-Control", "no-store")
        error = self.core.check_database()
        if error:
            bottle.response.status = 503
            return f"database not writable: {error}\n"
        return "ok\n"

    def login(self) -> None:
        if not self.login_enabled:
            _forbidden("login is off: no [status] admin_password is configured")
        if not self.csrf_ok(PRE_COOKIE):
            _forbidden("missing or wrong CSRF token: reload the page and try again")
        address = _client_address()
        if self.throttle.retry_after(address) > 0:
            log.warning("status page: login from %s refused, too many failures", address)
            _back(msg="throttled")
        username = bottle.request.forms.getunicode("username") or ""
        password = bottle.request.forms.getunicode("password") or ""
        if not self.credentials_ok(username, password):
            self.throttle.failed(address)
            log.warning("status page: failed login from %s", address)
            _back(msg="login_failed")
        self.throttle.succeeded(address)
        self.sessions.close(bottle.request.get_cookie(SESSION_COOKIE))
        _set_cookie(SESSION_COOKIE, self.sessions.open(username), max_age=SESSION_SECONDS)
        log.info("status page: %s logged in from %s", username, address)
        _back(msg="logged_in")

    def logout(self) -> None:
        if not self.csrf_ok(SESSION_COOKIE):
            _forbidden("missing or wrong CSRF token: reload the page and try again")
        self.sessions.close(bottle.request.get_cookie(SESSION_COOKIE))
        bottle.response.delete_cookie(SESSION_COOKIE, path="/")
        _back(msg="logged_out")

    def action(self, line: str, action: str) -> str | None:
        """Do ``action`` on ``line`` and answer 303 back to the page with its
        outcome; a disruptive action without ``confirm=yes`` is not done: the
        answer is the page that asks (see the module doc)."""
        user = self.user()
        if user is None:
            _forbidden("log in first")
        if not self.csrf_ok(SESSION_COOKIE):
            _forbidden("missing or wrong CSRF token: reload the page and try again")
        if line not in self.core.lines or action not in ACTIONS:
            bottle.abort(404, f"no line {line!r} or action {action!r}")
        if action in CONFIRMED and bottle.request.forms.get("confirm") != "yes":
            return self.confirm(line, action)
        log.info("status page: %s asks %s on line %s", user, action, line)
        try:
            if action in ("enable", "disable"):
                self.core.set_line_enabled(line, action == "enable")
                msg = action + "d"
            elif action == "reset":
                self.core.reset_modem(line, timeout=RESET_TIMEOUT)
                msg = "reset"
            else:
                self.core.set_quota(line, reset_daily=True)
                msg = "reset_daily"
        except LineOffline as exc:
            log.warning("status page: %s on %s: %s", action, line, exc)
            msg = "sim_unknown" if action == "reset-daily" else "offline"
        except (ModemError, FutureTimeout) as exc:
            log.warning("status page: %s on %s failed: %s", action, line, exc or "timed out")
            msg = "reset_failed"
        _back(msg=msg, line=line)


    def confirm(self, line: str, action: str) -> str:
        """The page that asks before ``action`` on ``line``: what it does, a
        button that does it, a link back."""
        _headers(secrets.token_urlsafe(12))
        key = action.replace("-", "_")
        return self._confirm.render(
            tr=self.tr, line=line, action=action, key=key, csrf=self.form_token(),
            wait=self.tr.duration(self.modems.reset_wait), lang="zh-CN" if self.settings.language == "zh" else "en")


def mount(app: bottle.Bottle, core: Core, config: Config, *,
          recorder: Recorder | None = None, throttle: LoginThrottle | None = None) -> StatusPage:
    """Add the page, /status.json, /metrics, /healthz and the POST actions to
    ``app`` (see the module doc); settings from ``config.status`` when the
    config has that section, else :class:`StatusConfig` defaults.  ``recorder``
    holds the app's measurements, shown in /metrics; ``throttle`` the failed
    logins' memory (a new :class:`LoginThrottle` when not given).  Return the
    page object."""
    page = StatusPage(core, config, recorder, throttle=throttle)
    app.route("/", "GET", page.page, dialect="status")
    app.route("/status.json", "GET", page.json, dialect="status")
    app.route("/metrics", "GET", page.metrics, dialect="metrics")
    app.route("/healthz", "GET", page.healthz, dialect="healthz")
    app.route("/status/login", "POST", page.login, dialect="status")
    app.route("/status/logout", "POST", page.logout, dialect="status")
    app.route("/status/lines/<line>/<action>", "POST", page.action, dialect="status")
    return page


class _When:
    """Formats the model's ISO times for people: the time alone when it is
    today on the box, else the date too."""

    def __init__(self, now_iso: str) -> None:
        self.today = now_iso[:10]

    def __call__(self, iso: str | None, never: str = "") -> str:
        if not iso:
            return never
        return iso[11:19] if iso[:10] == self.today else f"{iso[:10]} {iso[11:16]}"


def _client_address() -> str:
    """The socket's peer, never a header a client could make up."""
    return str(bottle.request.environ.get("REMOTE_ADDR") or "?")


def _set_cookie(name: str, value: str, max_age: int | None = None) -> None:
    # Plain HTTP on the LAN: no Secure flag; Strict keeps other sites' forms out.
    kw: dict[str, Any] = {"max_age": max_age} if max_age else {}
    bottle.response.set_cookie(name, value, path="/", httponly=True, samesite="strict", **kw)


def _headers(nonce: str) -> None:
    r = bottle.response
    r.content_type = "text/html; charset=utf-8"
    r.set_header("Cache-Control", "no-store")
    r.set_header("X-Content-Type-Options", "nosniff")
    r.set_header("Referrer-Policy", "no-referrer")
    r.set_header("X-Frame-Options", "DENY")
    r.set_header("Content-Security-Policy",
                 f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; connect-src 'self';"
                 " img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _back(**query: str) -> None:
    """Answer 303 See Other to the page, with a message for it (never returns);
    cookies set on this response go with it (bottle.redirect copies them)."""
    bottle.redirect("/?" + urlencode(query), 303)


def _forbidden(reason: str) -> None:
    raise bottle.HTTPResponse(f"403 Forbidden: {reason}\n", status=403,
                              headers={"Content-Type": "text/plain; charset=utf-8"})
