"""The agent's exception hierarchy.

Every exception the agent raises on purpose derives from :class:`AgentError` and
carries the data a handler needs (the command, the error code, the line id)
as attributes, so that handlers never parse messages.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


# --- configuration -------------------------------------------------------


class ConfigError(AgentError):
    """A configuration value is missing or invalid.

    ``key`` names it as ``section.option`` so the operator can find it.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


# --- codec ---------------------------------------------------------------


class CodecError(AgentError):
    """Base of the pure codec errors."""


class PduError(CodecError):
    """A PDU cannot be decoded: bad hex, truncated, inconsistent lengths."""


class EncodeError(CodecError):
    """A message cannot be encoded as asked (bad number, text not in the alphabet...)."""


class TooManyParts(EncodeError):
    """A text needs more parts than the configured maximum."""

    def __init__(self, needed: int, maximum: int) -> None:
        super().__init__(f"message needs {needed} parts, at most {maximum} allowed")
        self.needed = needed
        self.maximum = maximum


class AtParseError(CodecError):
    """An AT information line does not have the shape its command promises."""


class DatagramError(CodecError):
    """A GoIP UDP datagram cannot be read: empty, oversize, bad framing,
    missing id.  ``reason`` says why (it never quotes the datagram, which may
    carry a password)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- store -------------------------------------------------------------------


class StoreError(AgentError):
    """The database cannot be used (unreadable file, schema newer than this agent...)."""


class DuplicateRequest(AgentError):
    """A submission reused the request id (``client_ref``) of an earlier one
    from the same ``source`` with other content: refused, nothing stored.
    ``task_id`` (None when the first made no task) and ``ids`` (its message
    ids) name the first submission."""

    def __init__(self, source: str, client_ref: str, task_id: int | None, ids: list[int]) -> None:
        super().__init__(f"request id {client_ref[:40]!r} of {source or '?'} was used before for other content"
                         f" (task {task_id}, messages {ids[0]}-{ids[-1]})" if ids else
                         f"request id {client_ref[:40]!r} of {source or '?'} was used before for other content")
        self.source = source
        self.client_ref = client_ref
        self.task_id = task_id
        self.ids = ids


# --- modem ---------------------------------------------------------------


class ModemError(AgentError):
    """Base of errors talking to a modem."""

    def __init__(self, message: str, *, line: str | None = None) -> None:
        super().__init__(message)
        self.line = line


class PortError(ModemError):
    """The serial device cannot be opened, or vanished (USB unplug, EIO)."""


class CommandTimeout(ModemError):
    """A command got no final result code within its timeout."""

    def __init__(self, command: str, timeout: float, *, line: str | None = None) -> None:
        super().__init__(f"{command!r}: no final result within {timeout:g}s", line=line)
        self.command = command
        self.timeout = timeout


class CommandInterrupted(CommandTimeout):
    """A command was cut short because the agent is stopping: whether it took
    effect is unknown (for a send: the message may have gone out)."""

    def __init__(self, command: str, *, line: str | None = None) -> None:
        ModemError.__init__(self, f"{command!r}: cut short by the stop before its result came", line=line)
        self.command = command
        self.timeout = 0.0


class CommandError(ModemError):
    """A command ended with an error final result code.

    ``kind`` is ``"ERROR"``, ``"CME"``, ``"CMS"`` or the literal final line for
    the non-standard ones (``"COMMAND NOT SUPPORT"``, ``"NO CARRIER"``...).
    ``code`` is the numeric CME/CMS code when the modem gave one, else None;
    ``text`` is the verbose text when the modem gave one instead of a number.
    """

    def __init__(
        self,
        command: str,
        kind: str,
        code: int | None = None,
        text: str = "",
        *,
        line: str | None = None,
    ) -> None:
        detail = kind if code is None else f"{kind} {code}"
        if text:
            detail += f" ({text})"
        super().__init__(f"{command!r} failed: {detail}", line=line)
        self.command = command
        self.kind = kind
        self.code = code
        self.text = text


class LineOffline(ModemError):
    """The line is quarantined or stopping and cannot take work."""
