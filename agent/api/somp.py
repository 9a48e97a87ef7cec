"""The SOMP (Tornado SMS gateway) HTTP dialect: ``/mt`` sends, ``/mo`` returns
the received SMS and the status reports not returned before.

This module checks the caller and translates requests into
:class:`~agent.core.Core` calls; the wire format (parameters, content
decoding, batches) is :mod:`agent.api.somp_wire`, the replies :mod:`agent.api.somp_replies`.

Both endpoints take GET parameters and/or a POST body (a form: url-encoded
or multipart; the body wins; a body that cannot be read is 9002).  Parameters
are taken as raw bytes (:func:`agent.api.request.raw_fields`), not through
bottle's text decoding, because ``sm`` with ``tf=2`` is raw bytes (GBK,
UTF-16BE...).  The reply format is ``rf`` (0 text, 1 XML, 2 JSON;
anything else 0), always HTTP 200, also for refusals (``r=<code>``,
``<r>code</r>``, ``{"r": "code"}``), but for a HEAD, which is HTTP 405 with
``Allow`` (bottle would run the GET handler: /mt would send and /mo would
hand out records the HEAD reply cannot carry).  Bad bytes are refused with
the code of the parameter they spoil (9002, 9012, 9025...), one log line.
/mt takes no request id (``ex`` names each message in its reports, not the
submission), so it has no idempotency and no conflict.  Checks, in this
order: the client address (9104, with ``allow``), the user (9102 no ``un``,
9103 not the configured one), the password (9101), the submit rate (9032,
/mt only, with ``max_rate``), then the parameters.  With no password configured the API is
open and ``un``/``pw``/``ts`` are not looked at.

Passwords: plain, or with ``ts`` (``yyyyMMddHHmmss``, local time of the box)
``Base64(MD5(un + password + ts + content))``, content being the raw bytes
of ``sm`` after undoing ``tf`` (what the seed calls the original message
bytes; none on /mo).  A ``ts`` further than ``timestamp_window`` seconds
from now, or a (un, ts, pw) already accepted, is 9101; accepted ones are
remembered until their ``ts`` is stale (at most 100,000, then 9032).
Because the digest covers the content, a content that cannot be decoded is
answered with its own code (9012/9025) before the password is checked.

/mt: one request is one submission (one task, all recipients in one durable
transaction, after the whole request is valid; a refused request stores
nothing); success answers ``id=<task id>``.  ``rd=1`` asks for a report;
``ex`` is each message's client reference (echoed in its reports); ``sa``
the originator column; ``pr`` -128..127 the priority; ``st`` schedules;
``vp`` sets the expiry (past: 9408; not after ``st``: 9018); the text must fit
``max_parts`` SMS parts (9014; GSM 7-bit when it can, else UCS-2); no
enabled line at all is 9016; a store failure 9502 (so is any internal
error: nothing was stored).  ``ec``, ``pi``, ``ld``, ``mu``, ``rl`` are ignored.

/mo (consumer ``somp`` of the journal): up to ``fs`` records (1..500; absent,
invalid or larger: 500), oldest first, each returned once; MOs of every
line, and the reports of every message that asked for one (``rd=1``), whichever
dialect queued it.  A report is ``DELIVRD`` (rp 0) or ``UNDELIV`` (rp the
TP-Status) from the network's status report, or for a send that failed
``UNDELIV`` / ``REJECTD`` (bad number or text) / ``EXPIRED`` with rp the
``+CMS ERROR`` code, else SOMP's own code (9408 expired, 9015 no route,
9501 bad number, 9012 bad text, 9909 any other).  Successful sends
without a report yet are not records.  ``tf`` (0..3, else 9025) is the form
of the MO content (UTF-16BE, ``dc=8``).  Field values: see :func:`somp_replies.mo_record`
and :func:`somp_replies.dr_record`.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING, Any

import bottle

from ..codec.parts import split
from ..errors import EncodeError, Refused, StoreError, TooManyParts
from ..model import NewMessage
from . import somp_replies as replies
from . import somp_wire as wire
from .access import AllowList, RateLimit
from .forms import UnreadableBody
from .request import client_address, raw_fields

if TYPE_CHECKING:
    from ..config_dialects import SompConfig
    from ..core import Core

log = logging.getLogger(__name__)

SOURCE = "somp"  # the submissions' source and the journal consumer
KINDS = ("mo", "receipt", "result")
FETCH_SIZE = 500  # /mo records per request at most (the seed's "server configuration")
MAX_REMEMBERED = 100_000  # MD5 passwords remembered against replay


class Guard:
    """Who may call: the address allow-list, the credentials (plain, or MD5 with
    a timestamp and a replay memory), and the submit rate."""

    def __init__(self, config: SompConfig, tz: tzinfo | None, clock: Callable[[], float] = time.time) -> None:
        self._credentials = config.credentials
        self._window = config.timestamp_window
        self._allow = AllowList(config.allow)
        self._rate = RateLimit(config.max_rate)
        self._tz = tz
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str, str]] = set()
        self._expiry: list[tuple[float, tuple[str, str, str]]] = []  # heap: (stale after, key)

    @property
    def remembered(self) -> int:
        """Timestamped passwords remembered against replay."""
        with self._lock:
            return len(self._seen)

    def address(self, address: str) -> None:
        if not self._allow.allows(address):
            raise Refused(200, wire.IP_REFUSED, f"address {address} not allowed")

    def throttle(self) -> None:
        if not self._rate.take():
            raise Refused(200, wire.TOO_FAST, "max_rate exceeded")

    def authenticate(self, params: dict[str, bytes], content: Callable[[], bytes | None]) -> None:
        """Raise Refused unless ``un``/``pw``(/``ts``) are right; ``content`` gives
        the bytes the MD5 digest covers (called only with ``ts``)."""
        expected = self._credentials
        if not expected.configured:
            return
        user = wire.text(params.get("un"))
        if not user:
            raise Refused(200, wire.NO_USER, "no un")
        if expected.username and not wire.same(user, expected.username):
            raise Refused(200, wire.USER_NOT_FOUND, "unknown un")
        password = wire.text(params.get("pw"))
        stamp = wire.text(params.get("ts")).strip()
        if not stamp:
            if not wire.same(password, expected.password):
                raise Refused(200, wire.AUTH_FAILED, "wrong pw")
            return
        digest = wire.digest_password(user, expected.password, stamp, content())
        # A Base64 '+' sent unencoded in a query string arrives as a blank.
        if not wire.same(password.replace(" ", "+").strip(), digest):
            raise Refused(200, wire.AUTH_FAILED, "wrong pw digest")
        when = wire.local_time(stamp.encode(), self._tz, wire.AUTH_FAILED, "ts")
        if when is None:  # not reached: the stamp is not blank
            raise Refused(200, wire.AUTH_FAILED, "no ts")
        now, stale_after = self._clock(), when.timestamp() + self._window
        if abs(now - when.timestamp()) > self._window:
            raise Refused(200, wire.AUTH_FAILED, f"ts {stamp} outside the window")
        key = (user, stamp, digest)
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                self._seen.discard(heapq.heappop(self._expiry)[1])
            if key in self._seen:
                raise Refused(200, wire.AUTH_FAILED, f"ts {stamp} replayed")
            if len(self._seen) >= MAX_REMEMBERED:
                raise Refused(200, wire.TOO_FAST, "too many timestamped requests to remember")
            self._seen.add(key)
            heapq.heappush(self._expiry, (stale_after, key))


def mount(app: bottle.Bottle, core: Core, config: SompConfig, *, tz: tzinfo | None = None) -> None:
    """Add /mt and /mo (GET and POST) to ``app``.  ``tz``: the box's time zone
    (None: the system's) for ``ts``, ``st``, ``vp`` and the report times;
    texts of at most ``core.max_parts`` SMS parts."""
    max_parts = core.max_parts
    guard = Guard(config, tz)

    def endpoint(handler: Callable[[dict[str, bytes], int], str]) -> Callable[[], bytes]:
        def route() -> bytes:
            rf = 0
            try:
                try:
                    params = raw_fields(bottle.request)
                except UnreadableBody as exc:
                    rf = wire.reply_format(exc.fields.get("rf"))
                    raise Refused(200, wire.UNKNOWN_COMMAND, str(exc)) from None
                rf = wire.reply_format(params.get("rf"))
                guard.address(client_address(bottle.request))
                body = handler(params, rf)
            except Refused as refusal:
                log.debug("somp %s refused %d: %s", bottle.request.path, refusal.reason, refusal)
                body = replies.refused(int(refusal.reason), rf)
            except Exception:  # the client gets the dialect's "cannot queue", the log the traceback
                log.exception("somp %s failed", bottle.request.path)
                body = replies.refused(wire.CANNOT_QUEUE, rf)
            bottle.response.content_type = replies.CONTENT_TYPES[rf]
            return body.encode("utf-8")

        return route

    app.route("/mt", ["GET", "POST"], endpoint(lambda p, rf: _mt(core, guard, p, rf, tz=tz, max_parts=max_parts)),
              changes=True, sends=True)
    app.route("/mo", ["GET", "POST"], endpoint(lambda p, rf: _mo(core, guard, p, rf)), changes=True)


# --- requests ---------------------------------------------------------------------------------

# --- /mt ----------------------------------------------------------------------------------------

def _mt(core: Core, guard: Guard, params: dict[str, bytes], rf: int, *, tz: tzinfo | None, max_parts: int) -> str:
    tf = wire.integer(params.get("tf"), low=0, high=3, code=wire.BAD_CODING, name="tf")
    decoded: list[bytes] = []

    def content() -> bytes | None:
        if "sm" not in params:
            return None
        if not decoded:
            decoded.append(wire.undo_transfer(params["sm"], tf))
        return decoded[0]

    guard.authenticate(params, content)
    guard.throttle()
    dc = wire.integer(params.get("dc"), low=-2**31, high=2**31 - 1, code=wire.BAD_CODING, name="dc")
    encoding = wire.charset(tf, dc)
    rd = wire.integer(params.get("rd"), low=-128, high=255, code=wire.UNKNOWN_COMMAND, name="rd")
    pr = wire.integer(params.get("pr"), low=-128, high=127, code=wire.UNKNOWN_COMMAND, name="pr")
    ex = wire.external_id(params.get("ex"))
    originator = wire.originator(params.get("sa"))
    scheduled = wire.local_time(params.get("st"), tz, wire.BAD_SCHEDULE, "st")
    expires = wire.local_time(params.get("vp"), tz, wire.BAD_VALIDITY, "vp")
    if expires is not None:
        if expires <= datetime.now(timezone.utc):
            raise Refused(200, wire.EXPIRED, "vp has passed")
        if scheduled is not None and expires <= scheduled:
            raise Refused(200, wire.BAD_VALIDITY, "vp is not after st")
    data = content()
    if not data:
        raise Refused(200, wire.BAD_CONTENT, "no sm")
    da = params.get("da")
    separator = wire.batch_separator(None if da is None else wire.text(da))
    if separator is None:
        text = wire.decode(data, encoding)
        items = [wire.Item(number, ex, text) for number in wire.recipients(wire.text(da))]
    else:
        items = wire.batch(data, encoding, separator, ex)
    for item in items:
        if not item.text:
            raise Refused(200, wire.BAD_CONTENT, f"empty text for {item.phone}")
        try:
            split(item.text, max_parts=max_parts)
        except TooManyParts as exc:
            raise Refused(200, wire.TOO_LONG, str(exc)) from None
        except EncodeError as exc:
            raise Refused(200, wire.BAD_CONTENT, str(exc)) from None
    if not any(core.lines[name].enabled for name in core.line_names()):
        raise Refused(200, wire.NO_GATEWAY, "no enabled line")
    messages = [NewMessage(recipient=item.phone, text=item.text, encoding="7", priority=pr, status_report=rd == 1,
                           scheduled=scheduled, expires=expires, client_ref=item.ex, originator=originator)
                for item in items]
    try:
        accepted = core.submit(messages, task=True, source=SOURCE)
    except StoreError as exc:
        raise Refused(200, wire.CANNOT_QUEUE, str(exc)) from None
    return replies.accepted(accepted.task_id if accepted.task_id is not None else accepted.ids[0], rf)


# --- /mo ----------------------------------------------------------------------------------------

def _mo(core: Core, guard: Guard, params: dict[str, bytes], rf: int) -> str:
    guard.authenticate(params, lambda: None)
    try:
        fs = wire.integer(params.get("fs"), low=0, high=FETCH_SIZE, code=wire.UNKNOWN_COMMAND, name="fs")
    except Refused:
        fs = 0
    fs = fs or FETCH_SIZE
    tf = wire.integer(params.get("tf"), low=0, high=3, code=wire.BAD_CODING, name="tf")
    out: list[replies.Record] = []
    tasks: dict[int, list[dict[str, Any]]] = {}
    while len(out) < fs:
        items = core.read_journal(SOURCE, KINDS, limit=fs - len(out), sent_results=False)
        if not items:
            break
        for item in items:
            if item.kind == "mo":
                out.append(replies.mo_record(item.payload, tf))
            elif replies.is_report(item.kind, item.payload):
                submitted, index = _origin(core, item.payload, tasks)
                out.append(replies.dr_record(item.kind, item.payload, submitted, index))
    return replies.records(out, rf, encoded=("sm",) if tf in (2, 3) else ())


def _origin(core: Core, payload: dict[str, Any], tasks: dict[int, list[dict[str, Any]]]) -> tuple[Any, int]:
    """(submit time, 1-based position among its submission's numbers) of a reported
    message: its sent date, else its creation date (None once purged)."""
    msg_id, task_id = payload.get("message_id"), payload.get("task_id")
    try:
        if isinstance(task_id, int):
            if task_id not in tasks:
                tasks[task_id] = core.messages_by_task(task_id)
            for index, row in enumerate(tasks[task_id], start=1):
                if row.get("id") == msg_id:
                    return row.get("sent_date") or row.get("create_date"), index
        elif isinstance(msg_id, int):
            found = core.message(msg_id)
            if found is not None:
                return found.get("sent_date") or found.get("create_date"), 1
    except StoreError:
        log.warning("somp /mo: message %s unreadable, its report goes without submit time", msg_id)
    return None, 1
