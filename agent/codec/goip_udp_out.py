"""The packets the server sends to a GoIP line over UDP (apart from acks): the
keepalive answer, the send session, USSD and the control commands.

Pure, no I/O.  Every builder returns the bytes of one datagram and raises
ValueError for a value that would break the framing: ids (sid, telid,
sendid) are positive 31-bit ints, passwords, numbers, codes and arguments
pass :func:`token_ok`.  Error messages never quote a password.

Decisions where devices and documents differ:

* :func:`reg` answers ``reg:`` (never ``req:``) with status 200 by default;
  the device acts on no status value, only on the count coming back.
* ``MSG`` counts the text in UTF-8 bytes, never in characters.
* The send-session packets end in ``\\n``; USSD and the control commands do
  not (a newline would join the USSD code).
* Commands put the password last (:func:`command`); for ``module_ctl_i``
  send 1 to enable and 0 to disable (some firmware reads 2 as disable).
* The single-packet ``SMS <sid> <telid> <pw> <number> <text>`` form is not
  built: its replies are unconfirmed; the MSG/PASSWORD/SEND session is.
"""

from __future__ import annotations

import re

MAX_TEXT_BYTES = 3000

#: A verb or command name: letters, digits and ``_``.
WORD_RE = re.compile(r"[A-Za-z0-9_]+")


def token_ok(value: str) -> bool:
    """True when ``value`` can be an id, password, number or counter in a packet:
    not empty, UTF-8 encodable, no ``;``, ``:``, whitespace or NUL."""
    return (isinstance(value, str) and bool(value)
            and not any(c in ";:\x00" or c.isspace() or "\ud800" <= c <= "\udfff" for c in value))


def reg(count: str, status: int = 200) -> bytes:
    """The answer to a keepalive: ``reg:<count>;status:<status>;`` (200 = accepted)."""
    _need_token("count", count)
    if type(status) is not int:
        raise ValueError(f"status must be an int, got {status!r}")
    return f"reg:{count};status:{status};".encode()


def msg(sid: int, text: str) -> bytes:
    """``MSG <sid> <length> <text>\\n``, the length in UTF-8 bytes: opens a send
    session.  The text may hold newlines (it is length-delimited).  Raise
    ValueError when ``sid`` is not a positive 31-bit int, or ``text`` is longer
    than MAX_TEXT_BYTES in UTF-8, holds NUL or a lone surrogate."""
    _need_id("sid", sid)
    if not isinstance(text, str) or "\x00" in text:
        raise ValueError("the text must be a str without NUL")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the text holds a lone surrogate") from None
    if len(data) > MAX_TEXT_BYTES:
        raise ValueError(f"text of {len(data)} UTF-8 bytes, the device takes {MAX_TEXT_BYTES} at most")
    return f"MSG {sid} {len(data)} ".encode() + data + b"\n"


def password(sid: int, pw: str) -> bytes:
    """``PASSWORD <sid> <pw>\\n``, the answer to the line's ``PASSWORD <sid>``."""
    _need_id("sid", sid)
    _need_token("password", pw, quote=False)
    return f"PASSWORD {sid} {pw}\n".encode()


def send(sid: int, telid: int, number: str) -> bytes:
    """``SEND <sid> <telid> <number>\\n``.  Resending (to poll after WAIT, or after
    a lost reply) reuses the telid, which the device answers from its outcome
    cache; a new number in the session takes a new telid."""
    _need_id("sid", sid)
    _need_id("telid", telid)
    _need_token("number", number)
    return f"SEND {sid} {telid} {number}\n".encode()


def done(sid: int) -> bytes:
    """``DONE <sid>\\n``: ends a send session (or a command's exchange)."""
    _need_id("sid", sid)
    return f"DONE {sid}\n".encode()


def ussd(sendid: int, pw: str, code: str) -> bytes:
    """``USSD <sendid> <pw> <code>``, no newline (it would join the code).  A new
    USSD needs a sendid larger than the line's last one (the device answers a
    smaller or equal one from its cache); a resend reuses its sendid."""
    _need_id("sendid", sendid)
    _need_token("password", pw, quote=False)
    _need_token("code", code)
    return f"USSD {sendid} {pw} {code}".encode()


def ussd_exit(sendid: int, pw: str) -> bytes:
    """``USSDEXIT <sendid> <pw>``, no newline: closes the line's USSD session."""
    _need_id("sendid", sendid)
    _need_token("password", pw, quote=False)
    return f"USSDEXIT {sendid} {pw}".encode()


def command(name: str, sendid: int, pw: str, *args: str) -> bytes:
    """``<name> <sendid> <args...> <pw>``, no newline: ``svr_reboot_module``,
    ``get_gsm_num``, ``module_ctl_i`` and the other control commands.  Raise
    ValueError for a name not made of letters, digits and ``_``, or an argument
    or password that fails token_ok."""
    if not isinstance(name, str) or not WORD_RE.fullmatch(name):
        raise ValueError(f"command name {name!r} is not letters, digits and '_'")
    _need_id("sendid", sendid)
    for arg in args:
        _need_token("argument", arg)
    _need_token("password", pw, quote=False)
    return " ".join((name, str(sendid), *args, pw)).encode()


def _need_id(what: str, value: int) -> None:
    if type(value) is not int or not 0 < value < 2**31:
        raise ValueError(f"{what} must be a positive 31-bit int, got {value!r}")


def _need_token(what: str, value: str, *, quote: bool = True) -> None:
    if not token_ok(value):
        shown = f" {value!r}" if quote else ""
        raise ValueError(f"{what}{shown} cannot go in a packet (empty, or holds ';', ':', whitespace or NUL)")
