"""The Jindi (金笛短信中间件 web edition) URL API and its HTTP push of received messages.

Jindi is a rebrand of SMSLib v3 SMSServer; its lines are gateways ``modem<N>``,
N being the line's 1-based position in the configuration, ``*`` any line.
Every endpoint takes GET parameters or the same fields as a POST form (form
wins) and answers HTTP 200 ``text/xml; charset=UTF-8`` (but for the two cases
below); the outcome is the ``<error>`` code: 0 accepted, -9000 invalid
parameter, -9001 missing parameter, -9002 send error, -9003 wrong password,
-9999 aborted (an internal failure: nothing was stored, retry later).  Bad
bytes (parameters or an ``X-Request-Id`` that are not UTF-8, a form bottle
cannot read) are -9000 with one log line.  A HEAD on /send or /read (bottle
would run the GET handler: send, move the read cursor) is HTTP 405 with
``Allow``; /sendstatus answers HEAD.

* ``/send`` password, recipient (comma-separated: a group send, one row per
  recipient in one transaction, consecutive ids), text, encoding ``7``/``8``/``U``
  (absent: ``7``, which falls back to UCS2 when the text needs it), gateway,
  priority, from; ``client_ref`` or the ``X-Request-Id`` header make a retry
  idempotent (the original ids are answered, nothing new is queued).  The
  same ``client_ref`` with other recipients, text or options is HTTP 409 with
  the failure document, -9000 (the seed has no "duplicate" code: the
  client_ref is an invalid parameter for this request) and failure_cause
  UNKNOWN; nothing is queued.
* ``/sendstatus`` msgid -> ``<status>U|Q|S|F</status>``.
* ``/read`` password, gateway -> the received messages not returned to this
  dialect before (its own cursor, consumer ``jindi``), then counted as read.

Decisions where the seed is silent or the SMSLib upstream differs:

* Every request is validated completely before the single :meth:`Core.submit`
  call, so a refused request stores nothing.  Parameters must be UTF-8 (the
  seed says so); a value that is not is refused (-9000) rather than sent as
  mojibake.  Passwords are compared exactly (upstream ignores case).
* A refused /send answers the documented failure document (``<error>``,
  ``<error_description>``, ``message_status`` FAILED, ``failure_cause``,
  ``<ref_no>null</ref_no>``, ``<gateway>*</gateway>``) for every code:
  BAD_NUMBER for a missing or malformed recipient (``+``? and 3 to 20 ASCII
  digits, kept as written: a leading ``+`` or ``0`` is tolerated, not
  stripped; empty items as in ``a,b,`` are dropped; at most 1000), BAD_FORMAT
  for a missing text, a bad encoding/priority/from/client_ref, a text not
  encodable or longer than [modems] max_parts parts; NO_ROUTE for an unknown gateway (-9000),
  a disabled one or no enabled line at all (-9002); UNKNOWN for a wrong
  password; GATEWAY_FAILURE for -9999.
* Success: ``ref_no`` is ``null`` and ``gateway`` the requested one (``*`` or
  ``modem<N>``) for a new submission; a repeated ``client_ref`` answers the
  stored state of its first row (SENT/FAILED with failure_cause, the ref_no,
  the line used).  ``<msg_ids>`` is added only for more than one recipient.
* Gateways: ``modem<N>`` (any case; disabled lines keep their number), or a
  line's own name; an unknown one is refused.  A pinned line that is offline
  is accepted: the message waits for it.
* /sendstatus needs no password (the documented example has none); a
  ``password`` given must be right.  Its errors are ``<status>`` documents with
  ``<error>`` and ``<error_description>``; /read errors are ``<messages>`` ones.
* /read: ``encoding`` ENC7BIT/ENC8BIT/ENCUCS2, the words the real server
  (SMSLib underneath) prints and its clients compare against (the spec's
  ENC7/ENC8 appear nowhere in the original's output); ``message_date``
  ISO-8601 with the offset of the store's time zone; the text in CDATA without padding, ``]]>`` split across two
  sections.  Characters XML 1.0 forbids (control characters, lone surrogates)
  become U+FFFD; a CR inside the text reaches XML parsers as LF (CDATA cannot
  carry a character reference).
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import bottle

from ..codec.parts import split
from ..config import JindiConfig
from ..errors import DuplicateRequest, EncodeError, Refused, TooManyParts
from ..model import NewMessage
from ..model import BAD_FORMAT, BAD_NUMBER, GATEWAY_FAILURE, NO_ROUTE, UNKNOWN
from ..model import Formatter, PushRequest
from .auth import password_ok
from .request import BadHeader, request_id, unreadable_form

if TYPE_CHECKING:
    from ..core import Core

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/xml; charset=UTF-8"
CONSUMER = "jindi"  # this dialect's cursor over the inbox, and the source of its submissions
PUSH_DESTINATION = "jindi-push"
MAX_RECIPIENTS = 1000  # per request: a bigger group is a client bug, not a campaign
MAX_CLIENT_REF = 128

OK, INVALID, MISSING, SEND_ERROR, WRONG_PASSWORD, ABORTED = 0, -9000, -9001, -9002, -9003, -9999

# The seed's documents differ in their XML declarations; each is reproduced as documented.
_DECL_SEND = '<?xml version="1.0" encoding="UTF-8"?>'
_DECL_OTHER = "<?xml version='1.0' encoding=\"UTF-8\"?>"

_NUMBER = re.compile(r"\+?[0-9]{3,20}")
_INT = re.compile(r"[+-]?[0-9]{1,10}")
_MODEM = re.compile(r"modem([1-9][0-9]{0,5})", re.IGNORECASE)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PLACEHOLDER = re.compile(r"%(gatewayId|text|originator|messageDate|encoding)%")
_SPLIT_ENCODING = {"7": None, "8": "8bit", "U": "ucs2"}  # '7': GSM-7 when it fits, else UCS2
_ENCODING_WORD = {"7": "ENC7BIT", "8": "ENC8BIT", "U": "ENCUCS2"}
_TYPE_WORD = {"I": "Inbound", "O": "OUTBOUND", "S": "STATUSREPORT"}
_STATUS_WORD = {"U": "UNSENT", "Q": "UNSENT", "S": "SENT", "F": "FAILED"}


def refuse(code: int, description: str, cause: str = UNKNOWN, *, status: int = 200) -> Refused:
    """The refusal answered with an error document: Jindi ``code`` (its ``reason``),
    the ``description`` (its ``detail``), a failure_cause, and the HTTP ``status``
    (200 but for a conflict)."""
    return Refused(status, code, description, cause=cause)


def gateway_ids(line_names: Sequence[str]) -> dict[str, str]:
    """Given the line names in configuration order, return line name -> ``modem<N>``."""
    return {name: f"modem{i}" for i, name in enumerate(line_names, start=1)}


def resolve_gateway(gateway: str, line_names: Sequence[str]) -> str:
    """Given a Jindi gateway ('' or '*': any, ``modem<N>``, or a line name),
    return '*' or the line name.  Raise Refused (-9000, NO_ROUTE) when unknown."""
    gateway = gateway.strip()
    if gateway in ("", "*"):
        return "*"
    match = _MODEM.fullmatch(gateway)
    if match and int(match.group(1)) <= len(line_names):
        return line_names[int(match.group(1)) - 1]
    if gateway in line_names:
        return gateway
    raise refuse(INVALID, "Unknown gateway.", NO_ROUTE)


def mount(app: bottle.Bottle, core: Core, config: JindiConfig, *, tz: tzinfo | None = None) -> None:
    """Add /send, /sendstatus and /read (GET and POST) to ``app``.  ``tz`` is the
    store's time zone (None: the system's), for the offsets /read shows."""

    def endpoint(handler: Callable[[dict[str, str], set[str]], list[str]],
                 refusal: Callable[[Refused], list[str]]) -> Callable[[], bytes]:
        def route() -> bytes:
            bottle.response.content_type = CONTENT_TYPE
            try:
                values, bad = _params(bottle.request)
                lines = handler(values, bad)
            except Refused as refused:
                bottle.response.status = refused.status
                lines = refusal(refused)
            except Exception:  # the client gets a well-formed -9999, the log the traceback
                log.exception("jindi %s failed", bottle.request.path)
                lines = refusal(refuse(ABORTED, "Sending aborted: internal error.", GATEWAY_FAILURE))
            return ("\n".join(lines) + "\n").encode("utf-8")

        return route

    for path, handler, refusal, changes in (
        ("/send", lambda v, b: _send(core, config, v, b), _send_refused, True),
        ("/sendstatus", lambda v, b: _status(core, config, v, b), _status_refused, False),
        ("/read", lambda v, b: _read(core, config, v, b, tz), _read_refused, True),  # moves the read cursor
    ):
        app.route(path, ["GET", "POST"], endpoint(handler, refusal), changes=changes, sends=path == "/send")


# --- requests ---------------------------------------------------------------------------

def _params(request: bottle.BaseRequest) -> tuple[dict[str, str], set[str]]:
    """Query string and form fields (form wins; the last of a repeated key), and
    the names whose value is not UTF-8.  (bottle hands both over as latin-1 strings.)
    Raise Refused (-9000) for a form bigger than bottle reads (100 kB: a
    thousand recipients and ten parts of text need a fifth of it)."""
    values: dict[str, str] = {}
    bad: set[str] = set()
    try:
        forms = request.forms
    except bottle.HTTPError as exc:
        raise refuse(INVALID, f"Request refused: {exc.body}.", BAD_FORMAT) from None
    if unreadable_form(request):
        raise refuse(INVALID, f"Request refused: {unreadable_form(request)}.", BAD_FORMAT)
    for source in (request.query, forms):
        decoded = source.recode_unicode is False  # a multipart form's values: bottle decoded them (UTF-8)
        for key in source.keys():
            raw = source.get(key) or ""
            try:
                values[key] = raw if decoded else raw.encode("latin-1").decode("utf-8")
                bad.discard(key)
            except UnicodeError:
                values[key] = raw
                bad.add(key)
    return values, bad


def _get(values: dict[str, str], bad: set[str], key: str, cause: str = BAD_FORMAT) -> str | None:
    if key in bad:
        raise refuse(INVALID, f"Parameter {key} is not UTF-8.", cause)
    return values.get(key)


def _check_password(values: dict[str, str], config: JindiConfig) -> None:
    if not password_ok(values.get("password"), config.password):
        raise refuse(WRONG_PASSWORD, "Invalid password.")


def _send(core: Core, config: JindiConfig, values: dict[str, str], bad: set[str]) -> list[str]:
    _check_password(values, config)
    recipients = [r.strip() for r in (_get(values, bad, "recipient", BAD_NUMBER) or "").split(",")]
    recipients = [r for r in recipients if r]
    text = _get(values, bad, "text") or ""
    if not recipients:
        raise refuse(MISSING, "Missing parameter: recipient.", BAD_NUMBER)
    if not text:
        raise refuse(MISSING, "Missing parameter: text.", BAD_FORMAT)
    encoding = (_get(values, bad, "encoding") or "7").strip().upper()
    if encoding not in _SPLIT_ENCODING:
        raise refuse(INVALID, "Invalid encoding requested.", BAD_FORMAT)
    priority_text = (_get(values, bad, "priority") or "0").strip()
    if not _INT.fullmatch(priority_text) or not -2**31 <= int(priority_text) < 2**31:
        raise refuse(INVALID, "Invalid priority requested.", BAD_FORMAT)
    originator = (_get(values, bad, "from") or "").strip()
    if len(originator) > 16 or _NOT_XML.search(originator):
        raise refuse(INVALID, "Invalid sender (from): at most 16 characters.", BAD_FORMAT)
    client_ref = _get(values, bad, "client_ref") or _request_id()
    if len(client_ref) > MAX_CLIENT_REF:
        raise refuse(INVALID, f"client_ref longer than {MAX_CLIENT_REF} characters.", BAD_FORMAT)
    names = core.line_names()
    line = resolve_gateway(_get(values, bad, "gateway", NO_ROUTE) or "", names)
    enabled = [name for name in names if core.lines[name].enabled]
    if line not in enabled and (line != "*" or not enabled):
        raise refuse(SEND_ERROR, "Message not sent: no gateway enabled." if line == "*"
                     else "Message not sent: the gateway is disabled.", NO_ROUTE)
    if len(recipients) > MAX_RECIPIENTS:
        raise refuse(INVALID, f"Too many recipients (at most {MAX_RECIPIENTS}).", BAD_NUMBER)
    for recipient in recipients:
        if not _NUMBER.fullmatch(recipient):
            raise refuse(INVALID, f"Invalid recipient {recipient[:40]!r}.", BAD_NUMBER)
    try:
        split(text, encoding=_SPLIT_ENCODING[encoding], max_parts=core.max_parts)
    except TooManyParts:
        raise refuse(INVALID, f"Text too long: more than {core.max_parts} SMS parts.", BAD_FORMAT) from None
    except EncodeError:
        raise refuse(INVALID, f"Text cannot be sent with encoding {encoding}.", BAD_FORMAT) from None
    messages = [NewMessage(recipient=r, text=text, encoding=encoding, gateway=line, priority=int(priority_text),
                           originator=originator, client_ref=client_ref) for r in recipients]
    # A task like every dialect's, so the rows can be followed with GoIP querysms too.
    try:
        accepted = core.submit(messages, task=True, source=CONSUMER, client_ref=client_ref)
    except DuplicateRequest as exc:
        log.info("jindi /send refused: %s", exc)
        raise refuse(INVALID, f"Duplicate request: client_ref was used for another message (msg_id {exc.ids[0]}).",
                     status=409) from None
    ids = gateway_ids(names)
    status, cause, ref_no, gateway = "U", "", "null", ids.get(line, "*")
    if accepted.duplicate:  # answer what became of the original submission
        row = core.message(accepted.ids[0]) or {}
        status, cause = row.get("status") or "U", row.get("failure_cause") or UNKNOWN
        ref_no = row.get("ref_no") or "null"
        gateway = ids.get(row.get("gateway_id") or "*", "*")
    word = _STATUS_WORD.get(status, "UNSENT")
    out = [_DECL_SEND, "<send>", f"<error>{OK}</error>", f"<message_status>{word}</message_status>"]
    if word == "FAILED":
        out.append(f"<failure_cause>{_xml(cause)}</failure_cause>")
    out += [f"<ref_no>{_xml(ref_no)}</ref_no>", f"<msg_id>{accepted.ids[0]}</msg_id>"]
    if len(accepted.ids) > 1:
        out.append(f"<msg_ids>{','.join(map(str, accepted.ids))}</msg_ids>")
    return out + [f"<gateway>{gateway}</gateway>", "</send>"]


def _request_id() -> str:
    try:
        return request_id(bottle.request)
    except BadHeader:
        raise refuse(INVALID, "Header X-Request-Id is not UTF-8.", BAD_FORMAT) from None


def _send_refused(refused: Refused) -> list[str]:
    return [_DECL_SEND, "<send>", f"<error>{refused.reason}</error>",
            f"<error_description>{_xml(refused.detail)}</error_description>",
            "<message_status>FAILED</message_status>", f"<failure_cause>{refused.cause}</failure_cause>",
            "<ref_no>null</ref_no>", "<gateway>*</gateway>", "</send>"]


def _status(core: Core, config: JindiConfig, values: dict[str, str], bad: set[str]) -> list[str]:
    if "password" in values:
        _check_password(values, config)
    msgid = (_get(values, bad, "msgid") or "").strip()
    if not msgid:
        raise refuse(MISSING, "Missing parameter: msgid.")
    row = core.message(int(msgid)) if msgid.isascii() and msgid.isdigit() and len(msgid) < 19 else None
    if row is None:
        raise refuse(INVALID, "Unknown msgid.")
    return [_DECL_OTHER, f"<status>{_xml(str(row.get('status') or 'U'))}</status>"]


def _status_refused(refused: Refused) -> list[str]:
    return [_DECL_OTHER, "<status>", f"<error>{refused.reason}</error>",
            f"<error_description>{_xml(refused.detail)}</error_description>", "</status>"]


def _read(core: Core, config: JindiConfig, values: dict[str, str], bad: set[str], tz: tzinfo | None) -> list[str]:
    _check_password(values, config)
    names = core.line_names()
    line = resolve_gateway(_get(values, bad, "gateway") or "", names)
    ids = gateway_ids(names)
    out = [_DECL_OTHER, "<messages>", f"<error>{OK}</error>"]
    for row in core.read_inbox(CONSUMER, line=None if line == "*" else line):
        source = row.get("line") or row.get("gateway_id") or ""
        out += ["<message>",
                f"<message_type>{_TYPE_WORD.get(row.get('type') or 'I', 'UNKNOWN')}</message_type>",
                f"<message_date>{_iso(row.get('message_date') or row.get('receive_date'), tz)}</message_date>",
                f"<originator>{_xml(row.get('originator') or '')}</originator>",
                f"<text>{_cdata(row.get('text') or '')}</text>",
                f"<encoding>{_ENCODING_WORD.get(row.get('encoding') or '7', 'ENC7BIT')}</encoding>",
                f"<gateway>{_xml(ids.get(source, source))}</gateway>",
                "</message>"]
    return out + ["</messages>"]


def _read_refused(refused: Refused) -> list[str]:
    return [_DECL_OTHER, "<messages>", f"<error>{refused.reason}</error>",
            f"<error_description>{_xml(refused.detail)}</error_description>", "</messages>"]


# --- XML --------------------------------------------------------------------------------

def _clean(text: str) -> str:
    """Replace what XML 1.0 cannot carry (controls, lone surrogates) with U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _xml(value: Any) -> str:
    return escape(_clean(str(value)))


def _cdata(text: str) -> str:
    # ']]>' would end the section: close it after ']]' and reopen for the '>'.
    return "<![CDATA[" + _clean(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _iso(value: Any, tz: tzinfo | None) -> str:
    """A stored DATETIME (naive: local time in ``tz``, None the system's) as
    ISO-8601 with its offset, e.g. 2012-03-22T14:45:11+08:00; '' when unreadable."""
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz) if tz is not None else when.astimezone()
    return when.isoformat(timespec="seconds")


# --- HTTP push --------------------------------------------------------------------------

def formatters(config: JindiConfig, gateway_ids: Mapping[str, str]) -> dict[str, Formatter]:
    """Given the Jindi config and line name -> ``modem<N>``, return the outbox
    formatters: ``jindi-push`` when ``push_url`` is set, else none.

    For kind 'mo' it substitutes the URL-encoded (UTF-8) ``%gatewayId%``,
    ``%text%``, ``%originator%``, ``%messageDate%`` (as stored) and
    ``%encoding%`` (ENC7BIT/ENC8BIT/ENCUCS2, as /read) into ``push_url``.  GET
    requests that URL.  POST sends its query string as an
    ``application/x-www-form-urlencoded`` body to the URL without the query (a
    template without a query posts all five fields).  Other kinds: None."""
    if not config.push_url:
        return {}
    template, method = config.push_url, config.push_method.upper()

    def push_mo(kind: str, payload: dict[str, Any]) -> PushRequest | None:
        if kind != "mo":
            return None
        line = str(payload.get("line") or "")
        date = payload.get("message_date")
        fields = {"gatewayId": gateway_ids.get(line, line), "text": str(payload.get("text") or ""),
                  "originator": str(payload.get("originator") or ""),
                  "messageDate": date.isoformat() if isinstance(date, datetime) else str(date or ""),
                  "encoding": _ENCODING_WORD.get(str(payload.get("encoding") or "7"), "ENC7BIT")}
        encoded = {key: urllib.parse.quote(value, safe="") for key, value in fields.items()}
        url = _PLACEHOLDER.sub(lambda m: encoded[m.group(1)], template)  # one pass: values never re-substituted
        if method != "POST":
            return PushRequest(method="GET", url=url, body=None, headers={})
        base, _, query = url.partition("?")
        body = query or "&".join(f"{key}={value}" for key, value in encoded.items())
        return PushRequest(method="POST", url=base, body=body.encode("utf-8"),
                           headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})

    return {PUSH_DESTINATION: push_mo}
