"""AT syntax of the simulated modem: command parsing, handler results, error finals.

A handler is ``handler(machine, op, args)`` with op one of ``exec``, ``read``
(``AT+X?``), ``test`` (``AT+X=?``) and ``set`` (``AT+X=args``).  It returns its
information lines (a list of str) or a :class:`Reply`, or raises
:class:`AtError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


class AtError(Exception):
    """A command fails. ``kind``: 'ERROR', 'CME', 'CMS', or 'RAW' (``code`` is the final line)."""

    def __init__(self, kind: str, code: int | str | None = None) -> None:
        super().__init__(f"{kind} {code}")
        self.kind = kind
        self.code = code


@dataclass
class Reply:
    """A handler's answer when a list of lines is not enough.

    ``final`` None sends no final result (old Wavecom +CPIN?). ``prompt`` makes
    the machine send the '> ' prompt and collect a PDU. ``then`` runs after the
    reply is written (e.g. a reboot after AT+CFUN=1,1).
    """

    lines: list[str] = field(default_factory=list)
    final: str | None = "OK"
    prompt: bool = False
    then: Callable[[], None] | None = None


@dataclass(frozen=True)
class CommandSet:
    """The commands a machine answers: ``handlers`` maps a command name (``+CMGS``,
    ``H``, ``^USSDMODE``) to its handler; those in ``vendor_only`` are answered only
    by a profile that has them (its ICCID command, its vendor commands)."""

    handlers: Mapping[str, Callable[..., Reply | list[str]]]
    vendor_only: frozenset[str] = frozenset()


# Modes of the machine: powered off (input dropped), reading command lines,
# collecting a PDU after the '> ' prompt, waiting for the network after Ctrl-Z.
OFF, CMD, PDU, SENDING = "off", "command", "pdu", "sending"

_EXTENDED_START = "+^$%*#"

_CME_TEXT = {
    3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
    11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure", 14: "SIM busy",
    16: "incorrect password", 21: "invalid index", 30: "no network service", 100: "unknown",
}
_CMS_TEXT = {
    300: "ME failure", 302: "operation not allowed", 303: "operation not supported",
    304: "invalid PDU mode parameter", 310: "SIM not inserted", 311: "SIM PIN required",
    313: "SIM failure", 314: "SIM busy", 316: "SIM PUK required", 321: "invalid memory index",
    322: "memory full", 330: "SMSC address unknown", 331: "no network service",
    332: "network timeout", 500: "unknown error",
}



def error_text(exc: AtError, cmee: int) -> str:
    """The final line for ``exc`` under AT+CMEE=``cmee`` (0 plain, 1 numeric, 2 verbose)."""
    if exc.kind == "RAW":
        return str(exc.code)
    if exc.kind == "ERROR" or cmee == 0:
        return "ERROR"
    if cmee == 2:
        table = _CME_TEXT if exc.kind == "CME" else _CMS_TEXT
        return f"+{exc.kind} ERROR: {table.get(exc.code, 'unknown error')}"  # type: ignore[arg-type]
    return f"+{exc.kind} ERROR: {exc.code}"


def parse(body: str) -> list[tuple[str, str, str]]:
    """Split the text after 'AT' into ``(name, op, args)`` triples.

    Basic commands are one letter (or '&' + letter) with digits (``E0``,
    ``&F``, ``I``); extended ones start with '+' or '^' and end at ';'.  Names
    are upper-cased; op is exec/read/test/set.  Raise AtError('ERROR') on junk.
    """
    out: list[tuple[str, str, str]] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch in " ;":
            i += 1
        elif ch in _EXTENDED_START:
            j = i + 1
            while j < n and (body[j].isalnum() or body[j] in "_"):
                j += 1
            name = body[i:j].upper()
            if body.startswith("=?", j):
                op, args, j = "test", "", j + 2
            elif body.startswith("?", j):
                op, args, j = "read", "", j + 1
            elif body.startswith("=", j):
                k, quoted = j + 1, False
                while k < n and (quoted or body[k] != ";"):
                    quoted ^= body[k] == '"'
                    k += 1
                op, args, j = "set", body[j + 1 : k], k
            else:
                op, args = "exec", ""
            out.append((name, op, args))
            i = j
        elif ch.isalpha() or ch == "&":
            j = i + (2 if ch == "&" else 1)
            name = body[i:j].upper()
            if name == "D":  # dial string runs to the end of the line
                out.append((name, "set", body[j:]))
                return out
            if name == "S":
                k = j
                while k < n and body[k] in "0123456789=?":
                    k += 1
                out.append((name, "set", body[j:k]))
                i = k
                continue
            k = j
            while k < n and body[k].isdigit():
                k += 1
            out.append((name, "exec", body[j:k]))
            i = k
        else:
            raise AtError("ERROR")
    return out


def params(args: str) -> list[str]:
    """Split set-command arguments on commas outside quotes; strip spaces and quotes."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in args:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out


def int_param(value: str, lo: int, hi: int) -> int:
    """Return ``value`` as an int in lo..hi, else raise AtError('ERROR')."""
    try:
        number = int(value)
    except ValueError:
        raise AtError("ERROR") from None
    if not lo <= number <= hi:
        raise AtError("ERROR")
    return number


def number_type(number: str) -> int:
    """The type-of-address octet AT commands print: 145 international, 129 otherwise."""
    return 145 if number.startswith("+") else 129
