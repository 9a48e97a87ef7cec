"""The HttpBatchSendSM cloud API: ``/msg/HttpBatchSendSM``, ``/msg/QueryBalance``
and its two GET pushes (status reports, received SMS).

This module only translates the wire format (:mod:`agent.api.batchsend_wire`,
where the parameter rules are) into :class:`~agent.core.Core` calls.

Every endpoint takes GET parameters or the same fields as a POST form and
always answers HTTP 200 ``text/plain; charset=utf-8``; the outcome is the
status code on the first line, ``<yyyyMMddHHmmss>,<code>`` (local time of the
box).  Checks, in this order: the client address (117, when ``allow`` is
set), ``account`` (101) and ``pswd`` (102) compared in constant time (no
password configured: open), the request rate (103, one bucket per endpoint
when ``max_rate`` is set), then the parameters.  An internal failure (the
queue cannot be written) is 104 and stores nothing.  ``resptype=json`` is
ignored: the seed documents no JSON reply.  Bad bytes (a value neither UTF-8
nor GB18030, a body that cannot be read) are the code of the field they
spoil, with one log line.  A HEAD on the two send paths (bottle would run
the GET handler and send) is HTTP 405 with ``Allow``; QueryBalance answers HEAD.

HttpBatchSendSM
    ``mobile`` (108), ``msg`` (106), ``extno`` (113), ``product`` (112), then
    quota: 109 when the chosen group (the whole box without ``product``) has
    no part left today; a batch bigger than what is left is accepted and
    waits.  The request becomes one task (all numbers in one durable
    transaction; no per-number database work on the way); the second reply
    line, only for ``needstatus=true``, is the task id: the ``msgid`` of the
    reports, and the GoIP ``taskID`` of the same messages.  An
    ``X-Request-Id`` header makes a retry idempotent: the same id with the
    same numbers, text and options answers the original task and queues
    nothing; with anything else it is refused with HTTP 409 and code 115
    (the seed's "automatic review rejected", the closest of its codes: this
    submission, not the account, is refused, and resending it cannot help),
    nothing queued.
QueryBalance
    ``<time>,0``, one ``<group>,<remaining>`` line per named provider group
    (-1 unlimited), and last ``all,<remaining of the whole box>``.

Pushes (:func:`formatters`): ``batch-report`` (to ``report_url``) for the
delivery report or the failure of every message that asked for a report,
whichever dialect queued it; ``batch-mo`` (to ``mo_url``) for every received
SMS, reassembled (never ``isems``).  ``receiver``/``pswd`` are the configured
``receiver``/``push_password``, else the username/password.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import bottle

from ..errors import DuplicateRequest, Refused, StoreError
from ..model import NewMessage
from ..model import Formatter, PushRequest
from . import batchsend_wire as wire
from .access import AllowList, RateLimit
from .forms import UnreadableBody
from .request import client_address, raw_fields, raw_header

if TYPE_CHECKING:
    from ..config_dialects import BatchSendConfig
    from ..core import Core

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; charset=utf-8"
SOURCE = "batchsend"
REPORT_DESTINATION = "batch-report"
MO_DESTINATION = "batch-mo"
SEND_PATH = "/msg/HttpBatchSendSM"
SINGLE_SEND_PATH = "/msg/HttpSendSM"  # the platform's older send: same parameters and reply
BALANCE_PATH = "/msg/QueryBalance"


class _Gate:
    """Who may call an endpoint, and how often (117, 101, 102, 103)."""

    def __init__(self, config: BatchSendConfig) -> None:
        self._allow = AllowList(config.allow)
        self._credentials = config.credentials
        self._rate = RateLimit(config.max_rate)

    def check(self, fields: wire.Fields, address: str) -> None:
        """Raise Refused with the first code that applies to this request."""
        if not self._allow.allows(address):
            raise Refused(200, wire.IP_REFUSED, f"address {address} not allowed")
        expected = self._credentials
        if expected.configured:
            user_ok = hmac.compare_digest((fields.get("account") or "").encode(), expected.username.encode())
            pass_ok = hmac.compare_digest((fields.get("pswd") or "").encode(), expected.password.encode())
            if not user_ok:
                raise Refused(200, wire.NO_USER, "wrong account")
            if not pass_ok:
                raise Refused(200, wire.BAD_PASSWORD, "wrong pswd")
        if not self._rate.take():
            raise Refused(200, wire.TOO_FAST, "over max_rate")


def mount(app: bottle.Bottle, core: Core, config: BatchSendConfig, *, tz: tzinfo | None = None) -> None:
    """Add ``/msg/HttpBatchSendSM`` (and its older name ``/msg/HttpSendSM``, which
    some clients call: the same parameters, reply and rate bucket) and
    ``/msg/QueryBalance``, GET and POST, to ``app``.  ``tz``: the box's time
    zone for reply times (None: the system's); a ``msg`` may need at most
    ``core.max_parts`` SMS parts."""
    max_parts = core.max_parts
    send_gate, balance_gate = _Gate(config), _Gate(config)

    def send_route() -> bytes:
        msgid: int | None = None
        try:
            fields = _fields()
            send_gate.check(fields, client_address(bottle.request))
            msgid = send(core, fields, max_parts=max_parts,
                         request_id=raw_header(bottle.request, "X-Request-Id") or b"")
            code = wire.OK
        except Refused as refused:
            bottle.response.status = refused.status
            code = _refused(SEND_PATH, refused)
        except StoreError as exc:
            log.error("batchsend %s: the queue cannot be written: %s", SEND_PATH, exc)
            code = wire.BUSY
        except Exception:  # the client gets 104, the log the traceback; nothing was stored
            log.exception("batchsend %s failed", SEND_PATH)
            code = wire.BUSY
        return _reply(wire.send_reply(datetime.now(tz), code, msgid))

    def balance_route() -> bytes:
        try:
            balance_gate.check(_fields(), client_address(bottle.request))
            groups, total = core.quotas_by_provider(), core.quota_left()
            return _reply(wire.balance_reply(datetime.now(tz), groups, total))
        except Refused as refused:
            code = _refused(BALANCE_PATH, refused)
        except Exception:
            log.exception("batchsend %s failed", BALANCE_PATH)
            code = wire.BUSY
        return _reply(wire.send_reply(datetime.now(tz), code))

    app.route(SEND_PATH, ["GET", "POST"], send_route, changes=True, sends=True)
    app.route(SINGLE_SEND_PATH, ["GET", "POST"], send_route, changes=True, sends=True)
    app.route(BALANCE_PATH, ["GET", "POST"], balance_route)


def _fields() -> wire.Fields:
    """The request's fields: the query string and the body (form wins); a body that
    cannot be read is left out (the request is judged on its query alone)."""
    try:
        raw = raw_fields(bottle.request)
    except UnreadableBody as exc:
        log.info("batchsend: request body unreadable (%s)", exc)
        raw = exc.fields
    return wire.decode_fields(raw)


def _refused(path: str, refused: Refused) -> int:
    log.info("batchsend %s from %s refused: %d %s", path, client_address(bottle.request), refused.reason,
             refused.detail[:200])
    return int(refused.reason)


def _reply(text: str) -> bytes:
    bottle.response.content_type = CONTENT_TYPE
    return text.encode("utf-8")


def send(core: Core, fields: wire.Fields, *, max_parts: int = 10, request_id: bytes = b"") -> int | None:
    """Queue one task for every number of ``mobile`` (one durable transaction);
    return the msgid to answer (the task id; None when needstatus is not true).
    A ``request_id`` (the X-Request-Id header's bytes) seen before answers the
    original task and queues nothing, or raises Refused (115, HTTP 409) when
    it came with other content.  Raise Refused (106, 108, 109, 112, 113) with
    nothing stored."""
    numbers = wire.recipients(fields.get("mobile"))
    parts = wire.message_parts(fields.get("msg"), max_parts)
    text = fields.get("msg") or ""
    report = wire.needs_status(fields.get("needstatus"))
    extno = wire.extension(fields.get("extno", ""))
    group = wire.product(fields.get("product", ""), core.providers())
    if core.quota_left(group or None) == 0:
        raise Refused(200, wire.NO_QUOTA, f"no quota left on {group or 'any line'}")
    messages = [NewMessage(recipient=n, text=text, provider=group, status_report=report, originator=extno,
                           parts=parts) for n in numbers]
    try:
        accepted = core.submit(messages, task=True, source=SOURCE, client_ref=wire.request_ref(request_id))
    except DuplicateRequest as exc:
        raise Refused(409, wire.REJECTED, str(exc)) from None
    if accepted.duplicate:
        log.info("batchsend: resubmission of task %s (X-Request-Id)", accepted.task_id)
        return accepted.task_id if report else None
    log.info("batchsend: task %s accepted, %d number(s), %d part(s) each%s", accepted.task_id, len(numbers), parts,
             f", product {group}" if group else "")
    return accepted.task_id if report else None


# --- pushes ------------------------------------------------------------------------------

def formatters(config: BatchSendConfig, *, tz: tzinfo | None = None) -> dict[str, Formatter]:
    """The outbox formatters by destination: ``batch-report`` when
    ``report_url`` is set (fed 'result' and 'receipt' events), ``batch-mo``
    when ``mo_url`` is (fed 'mo').  Each returns a GET of the URL with the
    seed's parameters appended, or None for an event it does not push."""
    receiver = config.receiver or config.credentials.username
    password = config.push_password or config.credentials.password

    def report(kind: str, payload: dict[str, Any]) -> PushRequest | None:
        params = wire.report_params(kind, payload, receiver=receiver, password=password, tz=tz)
        return None if params is None else PushRequest("GET", wire.push_url(config.report_url, params))

    def mo(kind: str, payload: dict[str, Any]) -> PushRequest | None:
        params = wire.mo_params(kind, payload, receiver=receiver, password=password, tz=tz)
        return None if params is None else PushRequest("GET", wire.push_url(config.mo_url, params))

    out: dict[str, Formatter] = {}
    if config.report_url:
        out[REPORT_DESTINATION] = report
    if config.mo_url:
        out[MO_DESTINATION] = mo
    return out
