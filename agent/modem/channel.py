"""AT commands over a :class:`~agent.modem.port.Port`: framing, the ``>`` prompt,
URCs and timeouts.

A :class:`Channel` belongs to one thread (the line worker) and is not
thread-safe.  Input is split into lines on LF with bytes.split; CRs, NULs and
blank lines are dropped, so echo on or off, ``\\r\\r\\n``, ``\\r\\r\\r\\n``,
LF-only endings and a leading NUL all read the same.  A line is:

1. the running command's information line when it starts with the expected
   prefix (``AT+CREG?`` expects ``+CREG:``), even if that prefix is also a URC;
2. the command's final result code (:func:`agent.codec.at.parse_final`);
   ``NO CARRIER``/``BUSY``/``NO ANSWER``/``NO DIALTONE`` only end dial/answer
   commands (ATD, ATA, ATO): elsewhere they are call URCs, so that a caller
   hanging up cannot fail an AT+CMGS that the modem goes on to send;
3. a URC (:func:`agent.codec.at.urc_name`), handed to ``on_urc``; ``+CMT``
   and ``+CDS`` together with their PDU line (the next non-blank line, when it
   is hex);
4. the command's echo, or garbage (control characters): logged and dropped;
5. otherwise an information line (bare lines such as the IMEI, PDU lines).

Between commands every line is either a URC or logged and dropped, and
before each command the input that arrived meanwhile is handled that way,
so a late answer to a timed-out command that has arrived by then is not
taken for the next command's.
A ``+CUSD:`` line whose quotes are unbalanced continues on the next lines
(multi-line USSD text) until the quotes balance; the parts are joined with
``\\n``.  A final result code line ends it too (a lost closing quote).

``on_urc`` is called synchronously in the caller's thread, also in the middle
of a command.  It must not issue commands: the worker queues the URCs and
acts on them after the command returns.  Reset banners (RDY, SMS Ready,
+QIND: SMS DONE: :attr:`Urc.reset`) are dispatched like any URC; the channel
does not interrupt a running command for them.  An exception raised by
``on_urc`` is logged and swallowed, so that the exchange stays in step.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Callable

from ..codec import at
from ..codec.at import Final
from ..errors import AtParseError, CommandError, CommandInterrupted, CommandTimeout
from .port import Port, Wakeup

log = logging.getLogger(__name__)

_ESC = b"\x1b"
_CTRL_Z = b"\x1a"
_MAX_PARTIAL = 65536  # an endless line without LF is noise: drop it past this size
_MAX_QUOTED_LINES = 32  # a +CUSD text longer than this has lost its closing quote
_SETTLE = 0.1  # silence that ends listening after ESC: real modems answer it within ms
_SETTLE_MAX = 1.0  # never listen longer than the silence + this, even to a chatty modem
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_HEX_RE = re.compile(r"[0-9A-Fa-f]+")
_CALL_COMMAND_RE = re.compile(r"\s*AT[DAO]", re.I)


@dataclass(frozen=True)
class Urc:
    """An unsolicited line.  ``pdu`` is the PDU line that follows ``+CMT``/``+CDS``."""

    name: str
    line: str
    pdu: str | None = None

    @property
    def reset(self) -> bool:
        """True for a boot banner: the modem restarted and must be re-initialised."""
        return at.is_reset_urc(self.line)


@dataclass(frozen=True)
class Response:
    """A command's information lines (stripped; echo, blanks and URCs removed) and its final."""

    lines: list[str]
    final: Final


class _Exchange:
    """What one running command has collected so far."""

    __slots__ = ("echo", "expect", "call", "strict", "want_prompt", "prompt", "lines", "final")

    def __init__(self, command: str, expect: str | None, *, strict: bool = False,
                 want_prompt: bool = False) -> None:
        self.echo = command.strip().upper()
        self.expect = expect or None
        self.call = _CALL_COMMAND_RE.match(command) is not None
        self.strict = strict  # only expected-prefix lines are information
        self.want_prompt = want_prompt
        self.prompt = False
        self.lines: list[str] = []
        self.final: Final | None = None


class Channel:
    """Commands and URCs over one open port (see the module doc for the rules)."""

    def __init__(self, port: Port, *, on_urc: Callable[[Urc], None], name: str = "",
                 clock: Callable[[], float] = time.monotonic, interrupt: Wakeup | None = None,
                 on_silence: Callable[[str, bool], None] | None = None, silence_after: float = math.inf) -> None:
        """``interrupt``, once set, ends any command waiting for its answer with
        CommandTimeout at once (the agent is stopping and will not wait 90 s for
        an AT+CMGS).  ``on_silence(command, True)`` is called when a command
        whose timeout is longer than ``silence_after`` has heard nothing for
        that long, and ``on_silence(command, False)`` when the modem speaks
        again after that (an exception it raises is logged and swallowed)."""
        self.port = port
        self._interrupt = interrupt
        self._on_silence = on_silence
        self._silence_after = silence_after
        self.name = name or port.path
        self._line_id = name or None
        self._on_urc = on_urc
        self._clock = clock
        self._partial = b""  # bytes after the last LF
        self._urc_head: tuple[str, str] | None = None  # a +CMT/+CDS waiting for its PDU line
        self._quoted: list[str] | None = None  # parts of a multi-line +CUSD
        self._dispatched = 0

    # --- public --------------------------------------------------------------------

    def command(self, cmd: str, *, timeout: float = 10.0, expect: str | None = None,
                lenient: bool = False) -> Response:
        """Send ``cmd`` (without CR) and return its Response.

        ``expect`` is the information-line prefix (default derived from the
        command, ``''`` for none).  Raise CommandError on an error final,
        CommandTimeout when no final comes within ``timeout`` seconds (with
        ``lenient``, return ``Response(lines, Final(''))`` instead when at least
        one information line came), PortError when the device is gone.
        """
        self._drain()
        ex = _Exchange(cmd, at.expected_prefix(cmd) if expect is None else expect)
        self._write(cmd.encode() + b"\r")
        if not self._await(ex, timeout):
            if lenient and ex.lines:
                log.debug("%s: %r gave no final; accepting %d line(s)", self.name, cmd, len(ex.lines))
                return Response(ex.lines, Final(""))
            raise self._timeout(cmd, timeout)
        assert ex.final is not None
        if not ex.final.ok:
            raise CommandError(cmd, ex.final.kind, ex.final.code, ex.final.text, line=self._line_id)
        return Response(ex.lines, ex.final)

    def send_pdu(self, tpdu_length: int, pdu_hex: str, *, timeout: float = 90.0,
                 prompt_timeout: float = 10.0, command: str = "AT+CMGS") -> int:
        """Send one SMS-SUBMIT with AT+CMGS and return its message reference
        (``command`` "AT+CMGW": write it to the storage instead, and return its
        index there; the exchange is the same).

        ``tpdu_length`` counts the octets after the SMSC field of ``pdu_hex``.
        Raise CommandError(command, ...) on an error final (before or after
        the prompt); CommandTimeout(command, prompt_timeout) after writing ESC
        when no ``>`` prompt comes; CommandTimeout(command, timeout) when the
        result does not come; AtParseError when the modem says OK without a
        ``+CMGS:`` line (the message was probably sent).  When ``+CMGS:`` came
        but its OK did not, the reference is returned.
        """
        prefix = command[2:] + ":"
        self._drain()
        ex = _Exchange(f"{command}={tpdu_length}", prefix, strict=True, want_prompt=True)
        self._write(b"%s=%d\r" % (command.encode("ascii"), tpdu_length))
        if not self._await(ex, prompt_timeout):
            self._write(_ESC)
            self.settle(_SETTLE)  # swallow a late prompt and the cancellation's final
            raise self._timeout(command, prompt_timeout)
        if not ex.prompt:
            return self._submit_result(ex, command)
        ex.want_prompt = ex.prompt = False
        # The echo of the PDU (echo on) is neither the answer nor a URC: strict mode drops it.
        self._write(pdu_hex.encode("ascii") + _CTRL_Z)
        if not self._await(ex, timeout):
            if ex.lines:
                log.warning("%s: %s came without a final; taking it as done", self.name, prefix)
                return _number(ex.lines[-1], prefix)
            raise self._timeout(command, timeout)
        return self._submit_result(ex, command)

    def pump(self, timeout: float, wakeup: Wakeup | None = None) -> None:
        """Idle: read and dispatch URCs for up to ``timeout`` seconds.

        Return early when ``wakeup`` is set (it is not cleared here), and as
        soon as a chunk of input that produced URCs has been handled.  Raise
        PortError when the device is gone.
        """
        deadline = self._clock() + timeout
        before = self._dispatched
        while True:
            data = self.port.read(max(0.0, deadline - self._clock()), wakeup)
            if not data:
                return
            self._feed(data, None)
            if self._dispatched != before or self._clock() >= deadline:
                return

    def abort(self, *, settle: float = _SETTLE) -> None:
        """Write ESC CR to leave a ``>`` prompt left open, then listen until the
        modem has been quiet for ``settle`` seconds (at most ``settle`` + 1 s),
        so that the OK of the cancelled send is not taken for the next
        command's.  URCs heard meanwhile are dispatched."""
        self._write(_ESC + b"\r")
        self.settle(settle)

    # --- exchange ---------------------------------------------------------------------

    def _timeout(self, cmd: str, timeout: float) -> CommandTimeout:
        """The exception for a command left without its final: CommandInterrupted
        when the stop cut the wait short, else CommandTimeout."""
        if self._interrupt is not None and self._interrupt.is_set():
            return CommandInterrupted(cmd, line=self._line_id)
        return CommandTimeout(cmd, timeout, line=self._line_id)

    def _write(self, data: bytes) -> None:
        log.debug("%s -> %r", self.name, data)
        self.port.write(data)

    def _drain(self) -> None:
        """Handle, as idle input, whatever arrived since the last command."""
        while data := self.port.read(0):
            self._feed(data, None)

    def settle(self, quiet: float = _SETTLE) -> None:
        """Handle input as idle until none came for ``quiet`` seconds (at most ``quiet`` + 1 s)."""
        end = self._clock() + quiet + _SETTLE_MAX
        while quiet > 0:
            left = min(quiet, end - self._clock())
            if left <= 0:
                return
            data = self.port.read(left)
            if not data:
                return
            self._feed(data, None)

    def _await(self, ex: _Exchange, timeout: float) -> bool:
        """Read until ``ex`` has its final (or its prompt); False when ``timeout`` runs out.
        Tell ``on_silence`` when the modem is silent for ``silence_after`` meanwhile."""
        now = self._clock()
        deadline = now + timeout
        watch = self._on_silence is not None and self._silence_after < timeout
        quiet_at = now + self._silence_after if watch else math.inf
        silent = False
        while ex.final is None and not ex.prompt:
            now = self._clock()
            if now >= deadline:
                return False
            data = self.port.read(min(deadline, quiet_at) - now, self._interrupt)
            if data:
                if silent:
                    silent = False
                    self._silence(ex.echo, False)
                if watch:
                    quiet_at = self._clock() + self._silence_after
                self._feed(data, ex)
            elif self._interrupt is not None and self._interrupt.is_set():
                return False
            elif self._clock() >= quiet_at:
                silent, quiet_at = True, math.inf
                self._silence(ex.echo, True)
        return True

    def _silence(self, command: str, silent: bool) -> None:
        assert self._on_silence is not None
        try:
            self._on_silence(command, silent)
        except Exception:
            log.exception("%s: the silence handler failed", self.name)

    def _submit_result(self, ex: _Exchange, command: str) -> int:
        final = ex.final
        assert final is not None
        if not final.ok:
            raise CommandError(command, final.kind, final.code, final.text, line=self._line_id)
        prefix = command[2:] + ":"
        if not ex.lines:
            raise AtParseError(f"{command} ended with OK but without {prefix} (probably done)")
        return _number(ex.lines[-1], prefix)

    # --- framing ----------------------------------------------------------------------

    def _feed(self, data: bytes, ex: _Exchange | None) -> None:
        log.debug("%s <- %r", self.name, data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            raw = raw.rstrip(b"\r")
            if b"\r" in raw:  # a lone CR inside: an echo glued to its answer, or CR-only breaks
                for part in raw.split(b"\r"):
                    self._line(_decode(part), ex)
            else:
                self._line(_decode(raw), ex)
        if len(self._partial) > _MAX_PARTIAL:
            log.debug("%s: dropping %d bytes without a line end", self.name, len(self._partial))
            self._partial = b""
        # The prompt has no line end: it is what is left after the last LF (or CR).
        if (ex is not None and ex.want_prompt and ex.final is None
                and self._partial.strip(b" \r\0").rpartition(b"\r")[2].strip(b" \0") == b">"):
            ex.prompt = True
            self._partial = b""

    def _line(self, line: str, ex: _Exchange | None) -> None:
        """Take one physical line: complete a pending two-line URC or multi-line +CUSD first."""
        if self._urc_head is not None:
            if not line.strip():
                return
            name, head = self._urc_head
            self._urc_head = None
            if _HEX_RE.fullmatch(line.strip()):
                self._dispatch(Urc(name, head, line.strip()))
                return
            log.debug("%s: %s came without its PDU line", self.name, name)
            self._dispatch(Urc(name, head))
        if self._quoted is not None:
            if at.parse_final(line) is not None:
                # A final inside the text is likelier a lost closing quote than a line of it.
                parts, self._quoted = self._quoted, None
                self._classify("\n".join(parts), ex)
            else:
                self._quoted.append(line)
                if sum(p.count('"') for p in self._quoted) % 2 and len(self._quoted) < _MAX_QUOTED_LINES:
                    return
                line, self._quoted = "\n".join(self._quoted), None
        elif line.count('"') % 2 and line.lstrip().startswith("+CUSD:"):
            self._quoted = [line]
            return
        self._classify(line, ex)

    def _classify(self, line: str, ex: _Exchange | None) -> None:
        """Apply the rules of the module doc to one logical line."""
        text = line.strip()
        if not text:
            return
        if ex is not None and ex.final is None:
            if ex.expect is not None and text.startswith(ex.expect):
                ex.lines.append(text)
                return
            if ex.want_prompt and text == ">":
                ex.prompt = True
                return
            final = at.parse_final(line)
            if final is not None and (ex.call or final.kind not in at.CALL_PROGRESS):
                ex.final = final
                return
            name = at.urc_name(text)
            if name is None:
                if ex.strict or text.upper() == ex.echo or _CONTROL_RE.search(text):
                    log.debug("%s: dropped %r", self.name, text)
                else:
                    ex.lines.append(text)
                return
        else:
            name = at.urc_name(text)
            if name is None:
                log.debug("%s: dropped unsolicited %r", self.name, text)
                return
        if name in at.TWO_LINE_URCS:
            self._urc_head = (name, text)
        else:
            self._dispatch(Urc(name, text))

    def _dispatch(self, urc: Urc) -> None:
        self._dispatched += 1
        log.debug("%s: URC %r", self.name, urc)
        try:
            self._on_urc(urc)
        except Exception:  # the handler's bug must not desynchronise the exchange
            log.exception("%s: the URC handler failed on %r", self.name, urc.line)


def _decode(raw: bytes) -> str:
    """Bytes of one line -> text: UTF-8 when valid, else Latin-1 (never fails); NULs removed."""
    if b"\0" in raw:
        raw = raw.replace(b"\0", b"")
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _number(line: str, prefix: str) -> int:
    """The number a ``+CMGS:`` / ``+CMGW:`` answer carries."""
    return at.parse_cmgw(line) if prefix == "+CMGW:" else at.parse_cmgs(line)
