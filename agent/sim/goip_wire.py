"""The device side of the GoIP UDP "SMS interface": what a simulated box sends and how it reads.

Pure, no I/O.  Written from ``/work/shared/spec/goip-udp.md`` alone and kept
apart from the agent's own GoIP codec on purpose: the simulator is the
second reading of the spec that checks the first.

Two syntaxes (spec §1): the box's keepalives and events are
``VERB:<n>;key:value;...``; commands, replies and acks are space-separated
``VERB <id> ...``.  Bulk-SMS replies (PASSWORD, SEND, WAIT, OK, ERROR, DONE)
end in ``\\n``; other command replies and events have no terminator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_TEXT = 3000  # bytes of UTF-8 a MSG may carry (spec §1, §4)
ACKED_EVENTS = frozenset({"RECEIVE", "DELIVER", "STATE", "RECORD", "REMAIN", "EXPIRY", "HANGUP", "USSN",
                          "CELLS", "CELLINFO", "BCCH", "CGATT", "NUMRECORD"})
CELLINFO = "LAC:7E5,CELL ID:5E5B"  # the value of the CELLINFO pair in captured keepalives


@dataclass(frozen=True)
class KeepaliveFields:
    """What one keepalive tells: the line's identity and state at that moment."""

    count: int
    id: str
    password: str
    num: str
    signal: int
    gsm_login: bool
    imei: str
    imsi: str
    iccid: str
    operator: str
    sms_login: bool


def pairs(items: Iterable[tuple[str, object]]) -> str:
    """Return ``key:value;`` for each item, concatenated (every pair ends in ';')."""
    return "".join(f"{key}:{value};" for key, value in items)


def keepalive(k: KeepaliveFields) -> bytes:
    """Return the ``req:`` packet of a current firmware (the full capture of spec §2)."""
    return pairs([
        ("req", k.count), ("id", k.id), ("pass", k.password), ("num", k.num), ("signal", k.signal),
        ("gsm_status", "LOGIN" if k.gsm_login else "LOGOUT"), ("voip_status", "LOGOUT"), ("voip_state", "IDLE"),
        ("remain_time", -1), ("imei", k.imei), ("imsi", k.imsi), ("iccid", k.iccid), ("pro", k.operator),
        ("idle", 0), ("disable_status", 0), ("SMS_LOGIN", "Y" if k.sms_login else "N"), ("SMB_LOGIN", ""),
        ("CELLINFO", CELLINFO), ("CGATT", "Y"),
    ]).encode()


def event(verb: str, recvid: int, channel_id: str, password: str, fields: Iterable[tuple[str, str]]) -> bytes:
    """Return an event ``VERB:<recvid>;id:..;password:..;k:v;...;k:v`` (no ';' after the last value).

    The last value is written raw, so a RECEIVE's ``msg`` may hold ';' and ':'.
    """
    body = [f"{verb}:{recvid}", f"id:{channel_id}", f"password:{password}"]
    body += [f"{key}:{value}" for key, value in fields]
    return ";".join(body).encode()


def bulk(*tokens: object) -> bytes:
    """Return a bulk-SMS reply: the tokens joined by spaces, then ``\\n``."""
    return (" ".join(str(t) for t in tokens) + "\n").encode()


def reply(*tokens: object) -> bytes:
    """Return a control-command reply: the tokens joined by spaces, no terminator."""
    return " ".join(str(t) for t in tokens).encode()


def parse_pairs(text: str) -> dict[str, str]:
    """Given ``k:v;k:v;...``, return the pairs, each split on its first ':' (a trailing ';' is optional)."""
    out: dict[str, str] = {}
    for item in text.split(";"):
        if item:
            key, _, value = item.partition(":")
            out[key] = value
    return out


def parse_reg(data: bytes) -> tuple[int, str] | None:
    """Given a datagram, return ``(count, status)`` of a ``reg:<count>;status:<n>;`` answer, else None.

    Trailing CR/LF/NUL/blanks are ignored; a missing status is ''.  A count
    that is not an integer makes it no reg.
    """
    text = data.decode("utf-8", "replace").rstrip("\r\n\0 \t")
    if not text.startswith("reg:"):
        return None
    fields = parse_pairs(text)
    try:
        count = int(fields["reg"])
    except ValueError:
        return None
    return count, fields.get("status", "")


@dataclass(frozen=True)
class Msg:
    """A parsed ``MSG <sid> <len> <text>``: ``text`` None when it is refused, with ``why``."""

    sid: int
    text: str | None
    why: str = ""


def parse_msg(data: bytes) -> Msg | None:
    """Given a datagram starting ``MSG ``, return its session id and text, or None when malformed.

    ``len`` counts the text's UTF-8 bytes.  The text may itself contain
    spaces and newlines; one trailing ``\\n`` (or ``\\r\\n``) is the packet's
    terminator unless ``len`` says it belongs to the text.  A text over
    3000 bytes is refused ``too_long``; a length that does not match,
    ``length_mismatch``; bytes that are not UTF-8, ``encoding``.
    """
    parts = data.split(b" ", 3)
    if len(parts) < 3 or parts[0] != b"MSG":
        return None
    try:
        sid = int(parts[1])
        length = int(parts[2].rstrip(b"\r\n"))
    except ValueError:
        return None
    body = parts[3] if len(parts) == 4 else b""
    for cut in (body, body.removesuffix(b"\n"), body.removesuffix(b"\r\n")):
        if len(cut) == length:
            body = cut
            break
    else:
        if length > MAX_TEXT or len(body.rstrip(b"\r\n")) > MAX_TEXT:
            return Msg(sid, None, "too_long")
        return Msg(sid, None, "length_mismatch")
    if length > MAX_TEXT:
        return Msg(sid, None, "too_long")
    try:
        return Msg(sid, body.decode("utf-8"))
    except UnicodeDecodeError:
        return Msg(sid, None, "encoding")


def words(data: bytes) -> list[str]:
    """Return the space-separated tokens of a command with trailing CR/LF/NUL/blanks removed."""
    return data.decode("utf-8", "replace").rstrip("\r\n\0 \t").split(" ")
