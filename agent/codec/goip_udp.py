"""The server side of a GoIP box's UDP "SMS interface": read what a line sends, build what we send.

Pure, no I/O.  Each GoIP channel (line) is its own client with its own ``id``
and password; :func:`parse` turns one datagram into a :class:`Keepalive`,
an :class:`Event` or a :class:`Reply`, :func:`ack` answers an event, and
the other functions tell what a reply means.  The packets that start
exchanges (reg, MSG/PASSWORD/SEND/DONE, USSD, commands) are built by
:mod:`goip_udp_out`, whose builders this module re-exports.

Reading a datagram (:func:`parse`):

* Longer than :data:`MAX_DATAGRAM` bytes: refused (receive with a buffer of
  ``MAX_DATAGRAM + 1`` so that an oversize datagram is seen, not cut).
  Surrounding ASCII whitespace, CR, LF and NUL are stripped first, so an SMS
  text loses its trailing whitespace.
* ``name:value;key:value;...`` (a ``:`` ends the first word): ``req`` is a
  keepalive, ``GSM`` the answer to the GSM command (a Reply whose values are
  in ``fields``), any other name an event (known or not).  Pairs split on
  their *first* ``:`` (``CELLINFO:LAC:7E5,CELL ID:5E5B``, ``STATE`` values
  like ``INCOMING:123``), keys and values lose surrounding whitespace, empty
  pairs are skipped, a pair without ``:`` is refused.  ``(null)`` and
  ``<NULL>`` values read as ``""``.  The first occurrence of a key counts;
  two different ids or passwords are refused.
* ``VERB <sid> ...`` (whitespace ends the first word): a reply.
* The framing must be valid UTF-8: the name (letters, digits, ``_``), the
  counter, keys, ``id``, password, a reply's verb and sid.  Other values are
  UTF-8 with invalid bytes replaced by U+FFFD.
* An event's id and counter, a keepalive's count and a reply's sid are
  opaque text (a recvid can be negative); ``id``, the count, the recvid and
  the sid must pass :func:`token_ok` since acks and replies echo them.

Decisions where devices and documents differ:

* Event password key: ``password``, or ``pass`` as keepalives use.
* ``RECEIVE`` and ``USSN``: ``msg`` is everything after the first ``;msg:``,
  verbatim (it may hold ``;`` and ``:``); ``AT``: ``receive`` likewise after
  the first ``;receive:`` (an AT line can hold ``;``).  ``HANGUP``'s
  ``num:<n>,cause:<text>`` gives the fields ``num`` and ``cause``.
* ``OK <sid> <telid> <sms_no>`` and the older ``OK <sid> <telid>``: both read,
  :func:`sms_no` is None for the latter.
* USSD replies: trailing ``@`` (GSM 7-bit NUL padding) is cut, so a reply
  truly ending in ``@`` loses it; ``USSD <sid> USSD send failed!`` is a
  failure like ``USSDERROR`` (:func:`ussd_failed`).
* Replies echo whatever command name was sent (``get_gsm_num`` or
  ``get_gsm_number``); any name of letters, digits and ``_`` is read.
* :func:`ack` follows the manual: ``\\n`` after the verbs of
  :data:`ACK_NEWLINE`, ``HANGUP`` acked as ``HANGUP``, no ack for ``AT``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import DatagramError
from ..model import TEMPORARY_CMS
from .goip_udp_out import (MAX_TEXT_BYTES, WORD_RE, command, done, msg, password, reg, send, token_ok, ussd,
                           ussd_exit)

__all__ = [
    "MAX_DATAGRAM", "MAX_TEXT_BYTES", "ACK_NEWLINE", "USSD_SEND_FAILED", "RETRY_SESSION", "LINE_DOWN", "TEMPORARY",
    "PERMANENT", "Keepalive", "Event", "Reply", "parse", "ack", "sms_no", "error_status", "classify_error",
    "ussd_failed", "token_ok", "reg", "msg", "password", "send", "done", "ussd", "ussd_exit", "command",
]

MAX_DATAGRAM = 4096

#: Verbs whose OK / error ack ends in a newline.
ACK_NEWLINE = frozenset({"RECEIVE", "DELIVER", "CELLS", "CELLINFO", "BCCH", "CGATT", "HANGUP", "USSN"})
#: Verbs whose error ack has no ``ERROR`` keyword: ``<VERB> <recvid> <text>``.
_BARE_ERROR = frozenset({"STATE", "RECORD", "REMAIN"})
#: Events whose last field is taken whole: verb -> the key.
_TAIL_KEY = {"RECEIVE": "msg", "USSN": "msg", "AT": "receive"}
_NULLS = frozenset({"(null)", "<NULL>"})
USSD_SEND_FAILED = "USSD send failed!"

# classify_error() results
RETRY_SESSION = "retry_session"
LINE_DOWN = "line_down"
TEMPORARY = "temporary"
PERMANENT = "permanent"

_HEAD_RE = re.compile(r"[^:;\s]*")
_REPLY_RE = re.compile(r"(\S+)\s+(\S+)(?:\s(.*))?", re.S)
_INT_RE = re.compile(r"-?[0-9]{1,18}")
_ESCAPED_RE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)
_STRIP = b" \t\r\n\x0b\x0c\x00"


@dataclass(frozen=True)
class Keepalive:
    """``req:<count>;id:<id>;pass:<password>;num:..;signal:..;gsm_status:LOGIN;...;``

    ``fields`` holds the pairs other than ``req``, ``id`` and the password, in
    order, keys as sent."""

    count: str
    id: str
    password: str = field(repr=False)
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def signal(self) -> int | None:
        """The AT+CSQ value 0..31; None when unknown (99), empty or not a number."""
        n = _int(self.fields.get("signal", ""))
        return n if n is not None and 0 <= n <= 31 else None

    @property
    def gsm_login(self) -> bool:
        """True when the line is registered on the GSM network (``gsm_status:LOGIN``)."""
        return self.fields.get("gsm_status", "").upper() == "LOGIN"

    @property
    def num(self) -> str:
        return self.fields.get("num", "")

    @property
    def imei(self) -> str:
        return self.fields.get("imei", "")

    @property
    def imsi(self) -> str:
        return self.fields.get("imsi", "")

    @property
    def iccid(self) -> str:
        return self.fields.get("iccid", "")

    @property
    def operator(self) -> str:
        """The carrier name (``pro``), may hold spaces."""
        return self.fields.get("pro", "")


@dataclass(frozen=True)
class Event:
    """``VERB:<recvid>;id:<id>;password:<password>;key:value;...``, acked with :func:`ack`.

    ``fields`` holds the pairs other than the first, ``id`` and the password."""

    verb: str
    recvid: str
    id: str
    password: str = field(repr=False)
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def sms_no(self) -> int | None:
        """DELIVER: the device's SMS counter, as in ``OK <sid> <telid> <sms_no>``."""
        return _int(self.fields.get("sms_no", ""))

    @property
    def state(self) -> int | None:
        """DELIVER: the report's state, 0 = delivered; None when absent or not a number."""
        return _int(self.fields.get("state", ""))

    @property
    def num(self) -> str:
        return self.fields.get("num", "")


@dataclass(frozen=True)
class Reply:
    """``<verb> <sid> <args...>``: a line's answer to one of our commands.

    ``text`` is, for USSD and USSDERROR, everything after ``<verb> <sid> ``
    verbatim but for trailing ``@``/CR/LF/NUL.  ``fields`` holds the values of
    the colon-form answer to the GSM command (``GSM:<sid>;get_gsm_num:..;..``)."""

    verb: str
    sid: str
    args: tuple[str, ...] = ()
    text: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)


# --- reading ------------------------------------------------------------------------------


def parse(datagram: bytes) -> Keepalive | Event | Reply:
    """Return what one datagram from a line is (see the module doc for the rules).

    Raise DatagramError when it is empty, longer than MAX_DATAGRAM, has no
    verb, bad framing (not UTF-8, a pair without ':'), no usable id, or two
    different ids or passwords.  Raise TypeError when it is not bytes.
    """
    if not isinstance(datagram, (bytes, bytearray, memoryview)):
        raise TypeError(f"a datagram is bytes, not {type(datagram).__name__}")
    if len(datagram) > MAX_DATAGRAM:
        raise DatagramError(f"datagram of {len(datagram)} bytes, more than {MAX_DATAGRAM}")
    text = bytes(datagram).strip(_STRIP).decode("utf-8", "surrogateescape")
    if not text:
        raise DatagramError("empty datagram")
    head = _HEAD_RE.match(text)
    after = text[head.end():head.end() + 1] if head else ""
    if after == ":":
        return _parse_pairs(text)
    if after.isspace():
        return _parse_reply(text)
    raise DatagramError("no verb: the first word ends neither in ':' nor in a space")


def _parse_pairs(text: str) -> Keepalive | Event | Reply:
    name, _, rest = text.partition(":")
    counter, _, rest = rest.partition(";")
    _strict(name, "verb")
    if not WORD_RE.fullmatch(name):
        raise DatagramError("verb is not letters, digits and '_'")
    counter = counter.strip()
    _strict(counter, "counter")
    if not token_ok(counter):
        raise DatagramError(f"{name}: counter is empty or not a token")
    upper = name.upper()
    tail_key = _TAIL_KEY.get(upper)
    tail = None
    if tail_key is not None:
        marker = ";" + tail_key + ":"
        cut = (";" + rest).find(marker)
        if cut >= 0:
            tail = _clean((";" + rest)[cut + len(marker):])
            rest = rest[:max(cut - 1, 0)]
    pairs = _pairs(rest)
    if upper == "GSM":
        answer: dict[str, str] = {}
        for key, value in pairs:
            answer.setdefault(key, _clean(value))
        return Reply(name, counter, fields=answer)
    ident = password = None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key == "id":
            _strict(value, "id")
            if ident is not None and value != ident:
                raise DatagramError(f"{name}: two different ids")
            ident = value
        elif key in ("password", "pass"):
            _strict(value, "password")
            if password is not None and value != password:
                raise DatagramError(f"{name}: two different passwords")
            password = value
        elif key not in fields:
            fields[key] = _clean(value)
    if ident is None or not token_ok(ident):
        raise DatagramError(f"{name}: missing or unusable id")
    if tail is not None:
        fields.setdefault(tail_key, tail)
    if upper == "REQ":
        return Keepalive(counter, ident, password or "", fields)
    if upper == "HANGUP" and "cause" not in fields:
        num, comma, cause = fields.get("num", "").partition(",cause:")
        if comma:
            fields["num"], fields["cause"] = num.strip(), cause.strip()
    return Event(name, counter, ident, password or "", fields)


def _pairs(rest: str) -> list[tuple[str, str]]:
    """The ``key:value`` pairs of ``rest``; values as decoded (not yet cleaned), ``(null)`` as ""."""
    out = []
    for segment in rest.split(";"):
        if not segment.strip():
            continue
        key, colon, value = segment.partition(":")
        key, value = key.strip(), value.strip()
        if not colon or not key:
            raise DatagramError("a pair without a key and ':'")
        _strict(key, "key")
        out.append((key, "" if value in _NULLS else value))
    return out


def _parse_reply(text: str) -> Reply:
    m = _REPLY_RE.fullmatch(text)
    if m is None:
        raise DatagramError("reply without a sid")
    verb, sid, rest = m.group(1), m.group(2), _clean(m.group(3) or "")
    _strict(verb, "verb")
    _strict(sid, "sid")
    if not WORD_RE.fullmatch(verb):
        raise DatagramError("verb is not letters, digits and '_'")
    if not token_ok(sid):
        raise DatagramError(f"{verb}: sid holds ';' or ':'")
    body = rest.rstrip("@\r\n\x00") if verb.upper() in ("USSD", "USSDERROR") else ""
    return Reply(verb, sid, tuple(rest.split()), body)


def _strict(value: str, what: str) -> None:
    if _ESCAPED_RE.search(value):
        raise DatagramError(f"{what} is not UTF-8")


def _clean(value: str) -> str:
    """``value`` with the bytes that were not UTF-8 replaced by U+FFFD."""
    if _ESCAPED_RE.search(value):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def _int(value: str) -> int | None:
    return int(value) if _INT_RE.fullmatch(value) else None


# --- what a reply means -------------------------------------------------------------------


def sms_no(reply: Reply) -> int | None:
    """The device's SMS counter of ``OK <sid> <telid> <sms_no>``, which a DELIVER
    names later; None for ``OK <sid> <telid>`` (older firmware) or another reply."""
    if reply.verb.upper() != "OK" or len(reply.args) < 2:
        return None
    return _int(reply.args[1])


def error_status(reply: Reply) -> int | None:
    """``n`` of ``ERROR <sid> <telid> errorstatus:<n>`` (``errorstatus: <n>`` too);
    None for any other reply or when ``n`` is not a number."""
    if reply.verb.upper() != "ERROR":
        return None
    for i, arg in enumerate(reply.args):
        if arg.lower().startswith("errorstatus:"):
            value = arg[len("errorstatus:"):] or (reply.args[i + 1] if i + 1 < len(reply.args) else "")
            return _int(value)
    return None


def classify_error(reply: Reply) -> str:
    """What the sender should do after an ERROR reply in a send session.

    * ``line_down``: ``GSM_LOGOUT`` (the line has no network; park it).
    * ``temporary``: ``errorstatus:<n>`` with ``n`` in TEMPORARY_CMS (read as
      +CMS codes), or ``n`` = 1, the device's "module failed to send", which
      covers radio trouble as much as bad numbers: retry, preferably on another
      line, and let the message's attempt limit end it; also an ERROR for a
      telid that gives no status.
    * ``permanent``: any other ``errorstatus`` value.
    * ``retry_session``: an error about the session, not a number (``SENDID``,
      ``PASSWORD``, ``too_many_sends_in_server``, any text where a telid
      would be): end it (DONE) and start a new one later.

    Raise ValueError for a reply that is not an ERROR.
    """
    if reply.verb.upper() != "ERROR":
        raise ValueError(f"not an ERROR reply: {reply.verb}")
    words = [arg.upper() for arg in reply.args]
    if "GSM_LOGOUT" in words:
        return LINE_DOWN
    status = error_status(reply)
    if status is not None:
        return TEMPORARY if status == 1 or status in TEMPORARY_CMS else PERMANENT
    if not (words and words[0].isascii() and words[0].isdigit()):
        return RETRY_SESSION
    return TEMPORARY


def ussd_failed(reply: Reply) -> bool:
    """True for USSDERROR, and for a USSD reply that says the code could not be sent."""
    verb = reply.verb.upper()
    return verb == "USSDERROR" or (verb == "USSD" and reply.text.strip() == USSD_SEND_FAILED)


# --- answering an event -------------------------------------------------------------------


def ack(event: Event, *, error: str = "") -> bytes:
    """The ack of ``event``: ``<VERB> <recvid> OK``, or with ``error``
    ``<VERB> <recvid> ERROR <error>`` (``<VERB> <recvid> <error>`` for STATE,
    RECORD, REMAIN); a newline follows for the verbs of ACK_NEWLINE.  b"" for
    AT, which is never acked.  Raise ValueError when ``error`` holds CR, LF or NUL."""
    upper = event.verb.upper()
    if upper == "AT":
        return b""
    if any(c in error for c in "\r\n\x00"):
        raise ValueError("an ack's error text cannot hold CR, LF or NUL")
    if not error:
        line = f"{event.verb} {event.recvid} OK"
    elif upper in _BARE_ERROR:
        line = f"{event.verb} {event.recvid} {error}"
    else:
        line = f"{event.verb} {event.recvid} ERROR {error}"
    return (line + "\n" if upper in ACK_NEWLINE else line).encode("utf-8", "replace")
