"""Remote management: a command's name and JSON request -> its JSON reply, over Core.

No MQTT here (:mod:`agent.uplink.mqtt` carries requests and replies); the
same handlers could serve another transport.  :meth:`Commands.execute` never
raises: every outcome is a reply.

Request: a JSON object (UTF-8).  ``id`` (a string, or an integer, of 1 to
128 characters without ``/``, ``+``, ``#``) names the request: the reply
echoes it, MQTT 3.1.1 clients get the reply on ``reply/<id>``, and it makes
state-changing commands idempotent.  Other keys per command:

==========  =====================================================================
sendsms     GoIP sendsms: ``number`` (comma-separated), ``content``, optional
            ``goip_line`` (wins) or ``provider``, optional ``client_ref``
            (else ``id``) -> ``{"result":"ACCEPT","taskID":"..."}``
querysms    ``taskID`` (task or sub-task) -> GoIP querysms array
querylines  -> GoIP querylines array
set_quota   ``line``, optional ``daily`` / ``total`` (SMS parts, -1 unlimited,
            null keeps), ``reset_daily`` / ``reset_total`` (booleans: zero the
            SIM's counters) -> ``{"line","daily","total","daily_left","total_left"}``
line        ``line``, ``action``: ``enable``, ``disable``, ``reset`` (restart the
            modem, wait until it is back), ``provider`` (with ``provider``:
            the line's provider group, "" for none) -> the line's object
ussd        ``line``, ``code`` (e.g. ``*100#``) -> ``{"line","code","status","text"}``
status      -> the ``status`` object
config      -> the configuration, secrets masked
==========  =====================================================================

Reply: ``{"id": <id or null>, "command": <name>, "ok": true, "result": ...}``
or ``{"id", "command", "ok": false, "error": <code>, "detail": <why>}``; codes:
``bad_json`` (not UTF-8 JSON, or not an object), ``bad_request`` (a missing
or invalid field), ``conflict`` (the request's id was used before for
another request), ``unknown_command``, ``not_found`` (no such line),
``none_line`` / ``none_provider`` (GoIP's sendsms refusals), ``unavailable``
(the line is offline, the queue cannot be written), ``failed`` (the modem
answered an error, or no answer in time), ``unsupported``, ``busy``,
``internal``.  An error reply means nothing was done, except ``failed``,
after which the modem may have acted.

Idempotency: the successful reply of ``sendsms``, ``set_quota``, ``line`` and
``ussd`` is remembered by (command, id) with a digest of the request, in
memory, for the last :data:`REMEMBER` requests: the same request again gets
the same reply and nothing is done twice; a twin arriving while the first
still runs waits for its reply; the same id with another request (any key
but ``id`` differs) is refused with ``conflict`` and nothing is done.
``sendsms`` is also idempotent across restarts: its ``client_ref`` (else
``id``) is the submission's key in the queue, which refuses other content
under the same key (``conflict``) too.  Errors are not remembered (the
client may correct and resend).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable

from . import goip, goip_wire
from ..errors import LineOffline, ModemError, Refused, StoreError, UnknownLine

if TYPE_CHECKING:
    from ..core import Core

log = logging.getLogger(__name__)

REMEMBER = 1000
MAX_ID = 128
STATE_CHANGING = frozenset({"sendsms", "set_quota", "line", "ussd"})
NAMES = ("sendsms", "querysms", "querylines", "set_quota", "line", "ussd", "status", "config")
_ID = re.compile(r"[^/+#\x00-\x1f]{1,%d}" % MAX_ID)
SETTLE = 5.0  # seconds an enable/disable waits for the line to show it
_TWIN_WAIT = 300.0  # seconds a duplicate waits for its twin's reply (a modem reset may take long)

Reply = dict[str, Any]


class Commands:
    """The handlers over ``core``.  ``status`` and ``config`` return the objects
    of the commands of those names; ``max_parts`` bounds a sendsms text;
    ``ussd_timeout`` / ``reset_timeout`` (seconds) bound the waits on a modem."""

    def __init__(self, core: Core, *, status: Callable[[], dict[str, Any]], config: Callable[[], dict[str, Any]],
                 lines: Callable[[], dict[str, dict[str, Any]]], max_parts: int = goip.DEFAULT_MAX_PARTS,
                 ussd_timeout: float = 30.0, reset_timeout: float = 90.0, remember: int = REMEMBER) -> None:
        self._core = core
        self._status = status
        self._config = config
        self._lines = lines
        self._max_parts = max_parts
        self._ussd_timeout = ussd_timeout
        self._reset_timeout = reset_timeout
        self._remember = remember
        # (command, id) -> (digest of the request, its reply once known)
        self._recent: OrderedDict[tuple[str, str], tuple[str, concurrent.futures.Future[Reply]]] = OrderedDict()
        self._lock = threading.Lock()
        self._handlers: dict[str, Callable[[dict[str, Any], str], Any]] = {
            "sendsms": self._sendsms, "querysms": lambda body, _id: goip.query_sms(core, body),
            "querylines": lambda body, _id: goip.query_lines(core), "set_quota": self._set_quota,
            "line": self._line, "ussd": self._ussd, "status": lambda body, _id: self._status(),
            "config": lambda body, _id: self._config()}

    def execute(self, command: str, raw: bytes) -> Reply:
        """Run the request ``raw`` of ``command``; return its reply (see the module doc)."""
        request_id: str | None = None
        try:
            body = _parse(raw)
            request_id = _request_id(body)
            if command not in self._handlers:
                raise Refused(0, "unknown_command", f"no command {command[:40]!r}; known: {', '.join(NAMES)}")
            if command in STATE_CHANGING and request_id:
                return self._once(command, request_id, body)
            return _ok(command, request_id, self._run(command, body, request_id or ""))
        except Refused as exc:
            return _error(command, request_id, exc)

    def _once(self, command: str, request_id: str, body: dict[str, Any]) -> Reply:
        key, digest = (command, request_id), _digest(body)
        with self._lock:
            seen = self._recent.get(key)
            if seen is None:
                mine: concurrent.futures.Future[Reply] = concurrent.futures.Future()
                self._recent[key] = (digest, mine)
                while len(self._recent) > self._remember:
                    self._recent.popitem(last=False)
        if seen is not None:
            twin_digest, twin = seen
            if twin_digest != digest:
                log.info("command %s %r refused: the id was used before for another request", command, request_id)
                raise Refused(0, "conflict", f"id {request_id[:40]!r} was used before for another {command} request")
            log.info("command %s %r seen before: answered with its first reply", command, request_id)
            try:
                return twin.result(_TWIN_WAIT)
            except concurrent.futures.TimeoutError:
                raise Refused(0, "busy", "the same request is still running") from None
        try:
            reply = _ok(command, request_id, self._run(command, body, request_id))
        except Refused as exc:
            reply = _error(command, request_id, exc)
            with self._lock:  # not remembered: a corrected request may come with the same id
                if self._recent.get(key, (None, None))[1] is mine:
                    del self._recent[key]
        mine.set_result(reply)
        return reply

    def _run(self, command: str, body: dict[str, Any], request_id: str) -> Any:
        """The result of one command; raise Refused (status 0) for every refusal or failure."""
        try:
            return self._handlers[command](body, request_id)
        except Refused as exc:
            raise _command_refusal(exc) from None
        except UnknownLine as exc:
            raise Refused(0, "not_found", str(exc)) from None
        except LineOffline as exc:
            raise Refused(0, "unavailable", str(exc)) from None
        except ModemError as exc:
            raise Refused(0, "failed", str(exc)) from None
        except (TimeoutError, concurrent.futures.TimeoutError):
            raise Refused(0, "failed", "the modem did not answer in time") from None
        except StoreError as exc:
            log.error("command %s: the queue is unavailable: %s", command, exc)
            raise Refused(0, "unavailable", "the queue is unavailable, try again") from None
        except ValueError as exc:
            raise Refused(0, "bad_request", str(exc)) from None
        except Exception:
            log.exception("command %s failed", command)
            raise Refused(0, "internal", "the agent failed to run it (see its log)") from None

    # --- handlers -----------------------------------------------------------------------

    def _sendsms(self, body: dict[str, Any], request_id: str) -> dict[str, str]:
        return goip.send_sms(self._core, body, max_parts=self._max_parts, request_id=request_id)

    def _set_quota(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        name = self._line_name(body)
        daily, total = _limit(body, "daily"), _limit(body, "total")
        reset_daily, reset_total = _flag(body, "reset_daily"), _flag(body, "reset_total")
        if daily is None and total is None and not (reset_daily or reset_total):
            raise Refused(0, "bad_request", "nothing to do: give daily, total, reset_daily or reset_total")
        limits = self._core.set_quota(name, daily=daily, total=total, reset_daily=reset_daily,
                                      reset_total=reset_total)
        log.info("command set_quota %s: limits now %s (reset daily %s, total %s)", name, limits, reset_daily,
                 reset_total)
        line = self._lines().get(name, {})
        return {"line": name, "daily": limits[0], "total": limits[1], "daily_left": line.get("daily_left"),
                "total_left": line.get("total_left")}

    def _line(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        name = self._line_name(body)
        action = _string(body, "action", required=True)
        if action in ("enable", "disable"):
            self._core.set_line_enabled(name, action == "enable")
            # The line's own thread acts on it: wait (briefly) so the reply shows the outcome.
            self._settle(name, lambda state: (state == "disabled") == (action == "disable"))
        elif action == "reset":
            self._core.reset_modem(name, timeout=self._reset_timeout)
        elif action == "provider":
            if "provider" not in body:
                raise Refused(0, "bad_request", "provider is required (\"\" for none)")
            provider = _string(body, "provider")
            self._core.set_line_provider(name, provider)
        else:
            raise Refused(0, "bad_request", f"action must be enable, disable, reset or provider, not {action[:40]!r}")
        log.info("command line %s: %s done", name, action)
        return self._lines().get(name, {"line": name})

    def _settle(self, name: str, done: Callable[[str], bool]) -> None:
        deadline = time.monotonic() + SETTLE
        pause = threading.Event()
        while not done(self._core.line_state(name)) and time.monotonic() < deadline:
            pause.wait(0.02)

    def _ussd(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        name = self._line_name(body)
        code = _string(body, "code", required=True)
        answer = self._core.ussd(name, code, timeout=self._ussd_timeout)
        return {"line": answer.line, "code": answer.code, "status": answer.status, "text": answer.text}

    def _line_name(self, body: dict[str, Any]) -> str:
        name = _string(body, "line", required=True)
        if name not in self._core.lines:
            raise Refused(0, "not_found", f"no line {name[:40]!r}")
        return name


# --- request parsing ------------------------------------------------------------------------


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        return goip_wire.parse_body(raw)
    except Refused as exc:
        raise Refused(0, "bad_json", exc.detail) from None


def _command_refusal(refused: Refused) -> Refused:
    """``refused`` as a command's error: a GoIP refusal (sendsms, querysms: it has an
    HTTP status) with its reason in the commands' codes (``unknown`` is ``bad_request``,
    ``duplicate_request`` is ``conflict``), status 0; a command's own one as it is."""
    if refused.status == 0:
        return refused
    if refused.reason == "duplicate_request":
        return Refused(0, "conflict", "the client_ref (or id) was used before for another message")
    return Refused(0, "bad_request" if refused.reason == "unknown" else refused.reason, refused.detail)


def _digest(body: dict[str, Any]) -> str:
    """What a request asks, whatever the order of its keys (lone surrogates JSON-escaped)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=True).encode("ascii")).hexdigest()


def _request_id(body: dict[str, Any]) -> str | None:
    value = body.get("id")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise Refused(0, "bad_request", f"id must be a string of 1 to {MAX_ID} characters without '/', '+', '#'")
    return value


def _string(body: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Refused(0, "bad_request", f"{key} must be a string")
    if required and not value:
        raise Refused(0, "bad_request", f"{key} is required")
    return value


def _limit(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,12}", value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < -1:
        raise Refused(0, "bad_request", f"{key} must be a number of SMS parts, -1 for unlimited")
    return value


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value in (0, 1) and not isinstance(value, float):
        return bool(value)
    raise Refused(0, "bad_request", f"{key} must be true or false")


def _ok(command: str, request_id: str | None, result: Any) -> Reply:
    return {"id": request_id, "command": command, "ok": True, "result": result}


def _error(command: str, request_id: str | None, exc: Refused) -> Reply:
    return {"id": request_id, "command": command, "ok": False, "error": exc.reason, "detail": exc.detail}
