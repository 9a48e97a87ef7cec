"""The httpInterface.do cloud API: ``/service/httpService/httpInterface.do?method=...``.

Methods ``getAmount``, ``sendMsg``, ``sendUtf8Msg``, ``sendGbkMsg``,
``queryReport``, ``queryMo`` (any case), GET or POST.  Parameters come from
the query string and a form body (``application/x-www-form-urlencoded``, or
``multipart/form-data`` as PHP's curl posts an array; the body wins).  Every
reply is HTTP 200 ``text/xml; charset=UTF-8``, one of the seed's documents
(:mod:`agent.api.httpinterface_wire`, which also holds the parsing rules).

A HEAD is HTTP 405 with ``Allow`` (bottle would run the GET handler: a
send, or a queryReport/queryMo whose items the HEAD reply cannot carry).
Bad bytes (a value not valid in the request's charset, a body that cannot
be read) are the code of the parameter they spoil, with one log line.  The
seed takes no request id, so there is no idempotency and no conflict.
Checks, in order: the client address (``allow``: 109); the method (missing
or unknown: 117); ``username``/``password`` (101,
constant time; no password configured: open); ``veryCode`` against
``[auth] very_code`` (116 for the send methods, 105 for the others, as the
seed lists; not checked when ``very_code`` is empty; the method comes first
because the veryCode code depends on it); for the send methods the
submit rate (``max_rate``: 100, the seed's "send failed", since it has no
"too fast" code); then the parameters.  Codes 102 (account disabled) and
110 (reserved words) are never answered: the box has no accounts to
disable and no word list.

Sending: the whole request is validated before one :meth:`Core.submit` (a
task; its id is the ``msgid``), so a refused request stores nothing.  The
``content`` parameter and the text (the content, or the template filled in)
are at most 300 characters and the text is not blank, else 105.  The
signature is prefixed unless the text already starts with it; it is not
counted in the 300, but the whole must fit ``[modems] max_parts`` SMS parts
(else 105).  Messages are GSM 7-bit when the text fits, else UCS-2.  A parameter whose bytes are not valid in the request's
charset is 105 for ``content`` and 103 for any other (credentials: 101/116).
108 is answered when the lines have no quota left at all today; a request
needing more parts than are left is accepted and waits.  A store failure is
100.  ``extcode`` is stored as the messages' originator.

Pulls: ``queryReport`` returns, once each (consumer ``httpinterface-report``),
today's status reports and failed sends of messages submitted as a task
(any dialect's: the msgid is the task id), at most 500 per reply;
``queryMo`` returns today's received messages once each (consumer
``httpinterface-mo``), at most 500 per reply.  ``recvcode`` is the receiving
line's own number ('' when unknown).  None waiting: 104.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import bottle

from ..codec.parts import split
from ..config_dialects import HttpInterfaceConfig
from ..errors import EncodeError, Refused, TooManyParts
from ..model import NewMessage
from ..store.times import LocalTime
from . import httpinterface_wire as wire
from .access import AllowList, RateLimit
from .forms import UnreadableBody
from .auth import credentials_ok, password_ok
from .request import client_address, mark_send, raw_fields

if TYPE_CHECKING:
    from datetime import tzinfo

    from ..core import Core

log = logging.getLogger(__name__)

PATH = "/service/httpService/httpInterface.do"
CONTENT_TYPE = "text/xml; charset=UTF-8"
SOURCE = "httpinterface"
REPORT_CONSUMER = "httpinterface-report"
MO_CONSUMER = "httpinterface-mo"
MAX_ITEMS = 500  # per queryReport / queryMo reply
_MAX_READS = 10  # journal reads per queryReport reply (skipped items do not count towards MAX_ITEMS)


class Params:
    """A request's raw parameters, decoded on demand in its charset."""

    def __init__(self, fields: dict[str, bytes], charset: str) -> None:
        self.fields = fields
        self.charset = charset

    def text(self, key: str, bad: int = wire.BAD_PARAMS) -> str:
        """The value of ``key`` ('' when absent); Refused(``bad``) when its bytes are not valid."""
        try:
            return wire.decode(self.fields.get(key, b""), self.charset)
        except UnicodeDecodeError:
            raise Refused(200, bad, f"{key} is not valid {self.charset}") from None

    def secret(self, key: str) -> str | None:
        """A credential; None when absent or undecodable (so it matches nothing)."""
        try:
            return wire.decode(self.fields[key], self.charset)
        except (KeyError, UnicodeDecodeError):
            return None


def mount(app: bottle.Bottle, core: Core, config: HttpInterfaceConfig, *, tz: tzinfo | None = None) -> None:
    """Add the endpoint (GET and POST) to ``app``.  ``tz``: the time zone of the
    box (None: the system's), for ``sendtime`` and "today"; the longest
    message is ``core.max_parts`` SMS parts."""
    max_parts = core.max_parts
    allow = AllowList(config.allow)
    rate = RateLimit(config.max_rate)
    times = LocalTime(tz)

    def handle(method: str, fields: dict[str, bytes], unreadable: Refused | None) -> str:
        request = bottle.request
        if not allow.allows(client_address(request)):
            raise Refused(200, wire.BAD_ADDRESS, f"address {client_address(request)} not allowed")
        if not method:
            raise Refused(200, wire.NOT_ENABLED, "no such method")
        late: Refused | None = unreadable
        try:
            charset = wire.charset(method, fields.get("code"), _declared_charset(request))
        except Refused as refused:
            charset, late = wire.AUTO, late or refused
        params = Params(fields, charset)
        if not credentials_ok(params.secret("username"), params.secret("password"), config.credentials):
            raise Refused(200, wire.BAD_LOGIN, "bad username or password")
        if not password_ok(params.secret("verycode"), config.very_code):
            raise Refused(200, wire.BAD_VERY_CODE if method in wire.SEND_METHODS else wire.BAD_CONTENT, "bad veryCode")
        if method in wire.SEND_METHODS and not rate.take():
            raise Refused(200, wire.FAILED, "max_rate exceeded")
        if late is not None:
            raise late
        if method in wire.SEND_METHODS:
            return _send(core, config, params, tz, max_parts)
        if method == wire.GET_AMOUNT:
            left = core.quota_left()
            return wire.status_reply(wire.OK, account=-1 if left is None else left // 10)
        if method == wire.QUERY_REPORT:
            return _query_report(core, times.midnight())
        return _query_mo(core, times.midnight())

    def route() -> bytes:
        bottle.response.content_type = CONTENT_TYPE
        method = ""
        try:
            fields, unreadable = _fields(bottle.request)
            method = wire.method_of(fields)
            if method in wire.SEND_METHODS:
                mark_send()
            text = handle(method, fields, unreadable)
        except Refused as refused:
            if refused.reason not in (wire.NONE_WAITING, wire.BAD_LOGIN):
                log.info("httpInterface %s refused with %d: %s", method or "?", refused.reason, refused)
            text = wire.status_reply(int(refused.reason), query=method in wire.QUERY_METHODS)
        except Exception:  # the client gets a well-formed 100, the log the traceback
            log.exception("httpInterface %s failed", method or "?")
            text = wire.status_reply(wire.FAILED, query=method in wire.QUERY_METHODS)
        return text.encode("utf-8")

    app.route(PATH, ["GET", "POST"], route, changes=True)


# --- requests ---------------------------------------------------------------------------

def _fields(request: bottle.BaseRequest) -> tuple[dict[str, bytes], Refused | None]:
    """The raw parameters (keys lower-cased): the query string, then the body's
    fields over them; and Refused (103) when the body cannot be read as a form
    (the query's fields are still returned, so the method and credentials can
    be checked)."""
    try:
        return wire.lower_keys(raw_fields(request)), None
    except UnreadableBody as exc:
        return wire.lower_keys(exc.fields), Refused(200, wire.BAD_PARAMS, str(exc))


def _declared_charset(request: bottle.BaseRequest) -> str:
    """The charset parameter of the Content-Type header ('' when none)."""
    for param in (request.content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"')
    return ""


# --- methods ----------------------------------------------------------------------------

def _send(core: Core, config: HttpInterfaceConfig, params: Params, tz: tzinfo | None, max_parts: int) -> str:
    msgtype = params.text("msgtype").strip() or "1"
    if msgtype not in ("1", "2"):
        raise Refused(200, wire.BAD_PARAMS, "msgtype is 1 or 2")
    mobiles = wire.parse_mobiles(params.text("mobile"))
    content = params.text("content", bad=wire.BAD_CONTENT)
    if len(content) > wire.MAX_CONTENT:
        raise Refused(200, wire.BAD_CONTENT, f"content longer than {wire.MAX_CONTENT} characters")
    if msgtype == "2":
        template = config.templates.get(params.text("tempid").strip().lower())
        if not template:
            raise Refused(200, wire.NO_TEMPLATE, "no such template")
        text = wire.fill_template(template, content)
    else:
        text = content
    if not text.strip():
        raise Refused(200, wire.BAD_CONTENT, "empty content")
    if len(text) > wire.MAX_CONTENT:
        raise Refused(200, wire.BAD_CONTENT, f"text longer than {wire.MAX_CONTENT} characters")
    scheduled = wire.parse_sendtime(params.text("sendtime"), wire.local_now(tz))
    extcode = wire.parse_extcode(params.text("extcode"))
    sign = wire.signature(config.signature, params.text("signtag"), params.text("signtext"))
    if sign and not text.startswith(sign):
        text = sign + text
    try:
        split(text, max_parts=max_parts)
    except TooManyParts:
        raise Refused(200, wire.BAD_CONTENT, f"text longer than {max_parts} SMS parts") from None
    except EncodeError:
        raise Refused(200, wire.BAD_CONTENT, "text cannot be encoded") from None
    if core.quota_left() == 0:
        raise Refused(200, wire.NO_QUOTA, "no quota left today")
    messages = [NewMessage(recipient=mobile, text=text, scheduled=scheduled, originator=extcode)
                for mobile in mobiles]
    accepted = core.submit(messages, task=True, source=SOURCE)
    return wire.status_reply(wire.OK, msgid=str(accepted.task_id))


def _query_report(core: Core, since: float) -> str:
    """Today's reports not given before.  Reads on past items that are no report
    (sent results, messages without a task), up to :data:`_MAX_READS` reads."""
    rows: list[dict[str, Any]] = []
    extno: dict[int, str] = {}
    for _ in range(_MAX_READS):
        wanted = MAX_ITEMS - len(rows)
        items = core.read_journal(REPORT_CONSUMER, ("receipt", "result"), limit=wanted, since=since,
                                  sent_results=False)
        for item in items:
            payload = item.payload
            status = wire.report_status(item.kind, payload)
            task_id, message_id = payload.get("task_id"), payload.get("message_id")
            if status is None or not isinstance(task_id, int) or not isinstance(message_id, int):
                continue
            if message_id not in extno:
                extno[message_id] = str((core.message(message_id) or {}).get("originator") or "")
            rows.append({"mobile": payload.get("recipient") or "", "msgid": task_id, "status": status,
                         "time": payload.get("at") or "", "extno": extno[message_id]})
        if len(items) < wanted or len(rows) >= MAX_ITEMS:
            break
    if not rows:
        raise Refused(200, wire.NONE_WAITING)
    return wire.report_document(rows)


def _query_mo(core: Core, since: float) -> str:
    items = core.read_journal(MO_CONSUMER, ("mo",), limit=MAX_ITEMS, since=since)
    if not items:
        raise Refused(200, wire.NONE_WAITING)
    return wire.mo_document({"mobile": p.get("originator") or "", "recvcode": p.get("number") or "",
                             "content": p.get("text") or "", "time": p.get("receive_date") or ""}
                            for p in (item.payload for item in items))
