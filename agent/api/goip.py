"""The GoIP / DBL "SMS Server" JSON API: ``POST /goip/sendsms/``, ``/goip/querysms/``,
``/goip/querylines/``, and the two JSON pushes (send results, received SMS).

This module only translates JSON <-> :class:`~agent.core.Core` calls; it never
touches SQL or a modem.  Wire format: seed ``002_eb35f989f988bcc0.txt`` and
``spec/goip-json.md``.  Each path is served with and without its trailing
``/`` (never redirected: a redirected POST loses its body).

Requests
--------
The body is read as UTF-8 JSON whatever the Content-Type (PHP clients post
JSON as a form); a UTF-8 BOM is tolerated.  It must be a JSON object carrying
``"auth": {"username": ..., "password": ...}`` (checked in constant time; a
body that is not a JSON object is a 400 before credentials can be looked at).

Replies
-------
Success: HTTP 200 with the seed's JSON.  ``sendsms`` refusals the seed names
are HTTP 200 too, as a GoIP server sends them (a client resends without the
line on ``none_line``): ``{"result":"REJECT","reason":"none_line"}`` (no
enabled line configured, or ``goip_line`` names no enabled line) and
``{"result":"REJECT","reason":"none_provider"}``.  Every other refusal, on
every endpoint, is ``{"result":"REJECT","reason":"unknown","detail":"<why>"}``
with HTTP 401 (missing or wrong ``auth``), 400 (not UTF-8, not JSON, not an
object, a missing key, a wrong type, a bad number, a string with a lone
surrogate escape such as ``"\\ud800"``, content that cannot be sent, an
``X-Request-Id`` that is not UTF-8) or 503 (the queue cannot be written);
nothing is stored then, and the log has one line, no traceback.  A reused
request id with other content is HTTP 409
``{"result":"REJECT","reason":"duplicate_request"}``.

sendsms
-------
``number``: a string (or a JSON integer) of recipients separated by ``,``;
blanks around each are dropped, as are empty items (``"a,b,"``), nothing else
separates (``;`` makes the item invalid).  A recipient is ``+``? and 3 to 20
ASCII digits, kept as written (``+8613...`` and ``8613...`` are two
recipients).  Duplicates are merged keeping the first occurrence's order;
at most 9999 distinct recipients.  ``content``: a non-empty string that fits
``max_parts`` SMS parts (GSM 7-bit, else UCS-2).  ``goip_line`` (wins) and
``provider``: strings (or integers); ``""`` or ``null`` mean not given.  When
lines exist but none can send now (offline, at quota) the task is still
ACCEPTed and waits (``unsend``).  Idempotency: a ``client_ref`` string key,
else an ``X-Request-Id`` header (at most 128 characters), names the
submission: sending it again with the same recipients, content and routing
returns the original ``taskID`` and stores nothing; with anything else it
is refused with 409 ``duplicate_request`` (and stores nothing).

querysms
--------
``taskID``: a task id or a sub-task id ``<task>.<number>`` (string or integer).
Reply: one ``{"taskID","goip_line","send"}`` object per recipient, in the
order submitted; ``goip_line`` is ``"null"`` while unsend (even for a retry:
the next try may use another line); ``err_code`` only on ``failed`` (the
``+CMS ERROR`` code; ``"500"``, 27.005's "unknown error", when the failure has
none, e.g. expired before any line took it); ``"receipt":"1"`` on a
succeeded message whose delivery report said delivered.  An unknown or
malformed id gives ``[]``, and so does ``"*"`` ("all"): the core offers no
task listing, and an unbounded reply could be huge.

querylines
----------
One object per configured line, all values strings: ``online`` "1" when the
modem answers; ``reg`` "LOGIN"/"LOGOUT", "" when offline (unknown; the seed
shows offline lines so); ``remain_sms``/``day_remain_sms`` parts left, "-1"
unlimited.

Pushes
------
:func:`formatters` builds the outbox formatters: ``goip-result`` (send
results and delivery receipts of GoIP tasks, to ``result_url``) and
``goip-mo`` (received SMS, to ``mo_url``).  Messages without a sub-task
(queued through another dialect) are not pushed here, nor are failed
delivery reports (the seed has no form for them).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

import bottle

from ..errors import DuplicateRequest, Refused, StoreError
from ..model import NewMessage
from ..model import Formatter, PushRequest
from . import goip_wire as wire
from .goip_wire import parse_body, reject, to_json
from .auth import credentials_ok
from .request import BadHeader, request_id

if TYPE_CHECKING:
    from ..config import Credentials, GoipConfig
    from ..core import Core

log = logging.getLogger(__name__)

DEFAULT_MAX_PARTS = 10
NO_CODE = "500"  # err_code of a failure without a +CMS ERROR code (27.005: "unknown error")

_TASK = re.compile(r"[1-9][0-9]{0,17}")  # fits SQLite's 64-bit integer
_SEND = {"U": "unsend", "Q": "sending", "S": "succeeded", "F": "failed"}
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")

Handler = Callable[[dict[str, Any]], Any]


def mount(app: bottle.Bottle, core: Core, config: GoipConfig) -> None:
    """Add ``POST /goip/{sendsms,querysms,querylines}`` (each with and without
    the trailing ``/``) to ``app``, answering from ``core``; credentials from
    ``config``; ``content`` may need at most ``core.max_parts`` SMS parts."""
    max_parts = core.max_parts
    handlers: dict[str, Handler] = {
        "sendsms": lambda body: send_sms(core, body, max_parts=max_parts, request_id=_request_id()),
        "querysms": lambda body: query_sms(core, body),
        "querylines": lambda body: query_lines(core),
    }
    for name, handler in handlers.items():
        endpoint = _endpoint(name, handler, config.credentials)
        for path in (f"/goip/{name}/", f"/goip/{name}"):
            app.route(path, "POST", endpoint, sends=name == "sendsms")


def _endpoint(name: str, handler: Handler, credentials: Credentials) -> Callable[[], bytes]:
    def serve() -> bytes:
        try:
            body = parse_body(bottle.request.body.read())
            if not authorised(body, credentials):
                log.info("goip %s: refused, wrong or missing credentials from %s", name, bottle.request.remote_addr)
                raise Refused(401, "unknown", "wrong or missing auth.username / auth.password")
            return _json_reply(200, handler(body))
        except Refused as refused:
            return _json_reply(refused.status, reject(refused))
        except StoreError as exc:
            log.error("goip %s: the queue is unavailable: %s", name, exc)
            return _json_reply(503, reject(Refused(503, "unknown", "the queue is unavailable, try again")))
        except UnicodeError as exc:  # a value no check caught (the store cannot keep a lone surrogate)
            log.info("goip %s: refused, not valid Unicode: %s", name, exc.reason)
            return _json_reply(400, reject(wire.bad("a value is not valid Unicode (a lone surrogate?)")))
    return serve


def _request_id() -> str:
    try:
        return request_id(bottle.request)
    except BadHeader as exc:
        raise wire.bad(str(exc)) from None


def authorised(body: dict[str, Any], credentials: Credentials) -> bool:
    """True when the body's ``auth`` object holds the configured credentials
    (anything else where strings are expected counts as missing)."""
    auth = body.get("auth")
    user, password = (auth.get("username"), auth.get("password")) if isinstance(auth, dict) else (None, None)
    return (isinstance(user, (str, type(None))) and isinstance(password, (str, type(None)))
            and credentials_ok(user, password, credentials))


def _json_reply(status: int, obj: Any) -> bytes:
    bottle.response.status = status
    bottle.response.content_type = "application/json; charset=utf-8"
    return to_json(obj)


# --- sendsms -------------------------------------------------------------------------------


def send_sms(core: Core, body: dict[str, Any], *, max_parts: int = DEFAULT_MAX_PARTS,
             request_id: str = "") -> dict[str, str]:
    """Queue one GoIP task: one message per distinct recipient, all in one
    durable transaction.  Return the ACCEPT reply (the original task's on a
    resubmission).  Raise Refused: 400 for a malformed body (nothing stored),
    200 none_line / none_provider as the seed says, 409 duplicate_request for
    a client_ref used before with other content (nothing stored)."""
    numbers = wire.recipients(wire.text(body, "number", required=True))
    content = wire.text(body, "content", required=True)
    parts = wire.parts(content, max_parts)
    line, provider = wire.text(body, "goip_line"), wire.text(body, "provider")
    client_ref = body.get("client_ref") or request_id
    if not isinstance(client_ref, str) or len(client_ref) > wire.MAX_CLIENT_REF or not wire.unicode_ok(client_ref):
        raise wire.bad(f"client_ref (or X-Request-Id): a string of at most {wire.MAX_CLIENT_REF} characters")

    # A disabled line never sends: it does not count as a line to send on.
    enabled = {name: cfg for name, cfg in core.lines.items() if cfg.enabled}
    if not enabled:
        raise Refused(200, "none_line")
    if line:
        if line not in enabled:
            raise Refused(200, "none_line")
        provider = ""  # goip_line wins
    elif provider and provider not in {cfg.provider for cfg in enabled.values()}:
        raise Refused(200, "none_provider")

    messages = [NewMessage(recipient=n, text=content, encoding="7", gateway=line or "*", provider=provider,
                           client_ref=client_ref, parts=parts) for n in numbers]
    try:
        accepted = core.submit(messages, task=True, source="goip", client_ref=client_ref)
    except DuplicateRequest as exc:
        log.info("goip sendsms: refused, %s", exc)
        raise Refused(409, "duplicate_request") from None
    if accepted.duplicate:
        log.info("goip sendsms: resubmission of task %s (client_ref %s)", accepted.task_id, wire.show(client_ref))
    else:
        log.info("goip sendsms: task %s accepted, %d recipient(s), %d part(s) each%s", accepted.task_id,
                 len(numbers), parts, f", line {line}" if line else f", provider {provider}" if provider else "")
    return {"result": "ACCEPT", "taskID": str(accepted.task_id)}


# --- querysms / querylines -----------------------------------------------------------------


def query_sms(core: Core, body: dict[str, Any]) -> list[dict[str, str]]:
    """The status of every message of a task, or of one sub-task (a list of
    one); [] for an unknown or malformed id.  Raise Refused (400) when
    ``taskID`` is missing or not a string / integer."""
    wanted = wire.text(body, "taskID", required=True)
    task, dot, _ = wanted.partition(".")
    if not _TASK.fullmatch(task):
        return []
    rows = core.messages_by_task(int(task))
    if dot:
        rows = [row for row in rows if row.get("sub_task") == wanted]
    return [status_of(row) for row in rows if row.get("sub_task")]


def status_of(row: dict[str, Any]) -> dict[str, str]:
    """Given an ``smsserver_out`` row of a task, return its GoIP status object."""
    send = _SEND.get(row.get("status") or "U", "unsend")
    line = row.get("line") if send != "unsend" else None
    out = {"taskID": str(row["sub_task"]), "goip_line": line or "null", "send": send}
    if send == "failed":
        out["err_code"] = _code(row.get("error_code"))
    elif send == "succeeded" and row.get("delivery") == "delivered":
        out["receipt"] = "1"
    return out


def _code(error_code: Any) -> str:
    return str(error_code) if isinstance(error_code, int) and not isinstance(error_code, bool) else NO_CODE


def query_lines(core: Core) -> list[dict[str, str]]:
    """Every configured line as the seed's querylines object (all values strings)."""
    out = []
    for line in core.lines_view(counts_today=False):
        reg = ("LOGIN" if line.registered else "LOGOUT") if line.online else ""
        out.append({"goip_line": line.name, "online": "1" if line.online else "0", "reg": reg,
                    "remain_sms": str(-1 if line.total_left is None else line.total_left),
                    "day_remain_sms": str(-1 if line.daily_left is None else line.daily_left)})
    return out


# --- pushes --------------------------------------------------------------------------------


def formatters(config: GoipConfig) -> dict[str, Formatter]:
    """The outbox formatters of this dialect by destination: ``goip-result``
    when ``result_url`` is set, ``goip-mo`` when ``mo_url`` is.  Each returns
    the POST of one JSON object, or None for an event it does not push."""
    def post(url: str, obj: dict[str, str]) -> PushRequest:
        return PushRequest("POST", url, body=to_json(obj), headers={"Content-Type": "application/json; charset=utf-8"})

    def result(kind: str, payload: dict[str, Any]) -> PushRequest | None:
        obj = result_push(kind, payload)
        return None if obj is None else post(config.result_url, obj)

    def mo(kind: str, payload: dict[str, Any]) -> PushRequest | None:
        obj = mo_push(kind, payload)
        return None if obj is None else post(config.mo_url, obj)

    out: dict[str, Formatter] = {}
    if config.result_url:
        out["goip-result"] = result
    if config.mo_url:
        out["goip-mo"] = mo
    return out


def result_push(kind: str, payload: dict[str, Any]) -> dict[str, str] | None:
    """The seed's send-status push for a 'result' or 'receipt' event of a GoIP
    sub-task; None for other kinds, messages without a sub-task, results other
    than sent/failed, and delivery reports that do not say delivered."""
    sub_task = payload.get("sub_task")
    if not sub_task or kind not in ("result", "receipt"):
        return None
    obj = {"taskID": str(sub_task), "goip_line": payload.get("line") or "null"}
    if kind == "receipt":
        return {**obj, "send": "succeeded", "receipt": "1"} if payload.get("delivered") is True else None
    if payload.get("status") == "sent":
        return {**obj, "send": "succeeded"}
    if payload.get("status") == "failed":
        return {**obj, "send": "failed", "err_code": _code(payload.get("error_code"))}
    return None


def mo_push(kind: str, payload: dict[str, Any]) -> dict[str, str] | None:
    """The seed's received-SMS push for an 'mo' event; None for other kinds."""
    if kind != "mo":
        return None
    return {"goip_line": payload.get("line") or "", "from_number": payload.get("originator") or "",
            "content": payload.get("text") or "",
            "recv_time": local_time(payload.get("receive_date") or payload.get("message_date"))}


def local_time(value: Any) -> str:
    """``YYYY-MM-DD hh:mm:ss`` of a datetime or of the store's local-time text; '' if neither."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str) and _TIME.match(value):
        return value[:19].replace("T", " ")
    return ""
