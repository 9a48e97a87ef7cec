"""One simulated modem's AT state machine: bytes in, bytes out, timers requested.

A :class:`Machine` holds no file and no thread.  Its owner feeds it the bytes
the host wrote (:meth:`Machine.feed`) or calls one of its controls, then takes
:attr:`Machine.out` (bytes to write back) and :attr:`Machine.timers` (``(delay,
callback)`` pairs to run later, each again followed by taking the output).  The
owner serialises every call; the machine is not thread-safe by itself.

Framing follows V.250 with echo on by default: the echo is the command plus
``\\r``, information lines are framed ``\\r\\n<line>\\r\\n``, the final result
``\\r\\nOK\\r\\n``.  The owner gives it the commands it answers
(:mod:`.handlers`: those of :mod:`.commands`, :mod:`.sms_at` and
:mod:`.voice_at`); each handler takes ``(machine, op, args)`` with op one of
``exec``, ``read`` (``?``), ``test`` (``=?``) and ``set`` (``=``), and returns
the information lines or a :class:`Reply`, or raises :class:`AtError`.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable

from . import sms, voice
from .core import Settings
from .identity import Identity
from .profiles import PeriodicUrc, Profile
from .replies import CMD, OFF, PDU, SENDING, AtError, CommandSet, Reply, error_text, parse

log = logging.getLogger(__name__)

_CTRL_Z, _ESC = 0x1A, 0x1B
_MAX_LINE = 4096  # a longer unterminated line is line noise: dropped


class Machine:
    """The AT state of one modem. See the module docstring for the owner's contract.

    ``command_set`` holds the commands it answers (see :mod:`.handlers`).
    """

    def __init__(self, index: int, profile: Profile, identity: Identity, settings: Settings,
                 command_set: CommandSet) -> None:
        self.index = index
        self.profile = profile
        self.identity = identity
        self.settings = settings
        self._command_set = command_set
        self.rng = random.Random(index)  # garbage bytes are reproducible per modem
        self.out = bytearray()
        self.timers: list[tuple[float, Callable[[], object]]] = []
        self.commands: list[str] = []
        self.mode = OFF
        self.hung = False
        self._epoch = 0  # bumped on power loss: stale timers become no-ops
        self._inbuf = bytearray()
        # SIM and network state survive reboots (they are the world, not the modem).
        self.sim_present = True
        self.pin: str | None = None
        self.pin_ok = True
        self.pin_tries = 3
        self.number = identity.number
        self.signal = 15 + index % 10
        self.reg_stat = 1  # 0 none, 1 home, 2 searching, 3 denied, 5 roaming
        self.operator = identity.operator
        self.cfun = 1
        self.sim_busy_left = 0
        self.ussd_answers: dict[str, str] = {}
        self.csca = settings.smsc  # stored on the SIM: ATZ and reboots keep it
        self.sms = sms.SmsState(self)
        self.voice = voice.VoiceState(self)
        self.factory_defaults()

    # --- output and timers --------------------------------------------------

    def emit(self, text: str | bytes) -> None:
        """Queue bytes for the host, unless the modem is hung or powered off."""
        if self.hung or self.mode == OFF:
            return
        self.out += text if isinstance(text, bytes) else text.encode("latin-1")

    def urc(self, line: str, eol: str = "\r\n") -> None:
        """Send one unsolicited result line."""
        self.emit("\r\n" + line + eol)

    def after(self, delay: float, fn: Callable[[], object]) -> None:
        """Ask the owner to run ``fn`` in ``delay`` seconds, unless the modem loses power first."""
        epoch = self._epoch

        def run() -> None:
            if self._epoch == epoch:
                fn()

        self.timers.append((delay, run))

    def fmt(self, template: str) -> str:
        """Fill a profile template's ``{rssi}``, ``{cpin}``, ``{operator}``... fields."""
        return template.format(
            rssi=self.rssi, cpin=self.cpin_state, operator=self.operator, cfun=self.cfun,
            manufacturer=self.profile.manufacturer, model=self.profile.model,
            revision=self.profile.revision, imei=self.identity.imei,
        )

    # --- derived state --------------------------------------------------------

    @property
    def rssi(self) -> int:
        return self.signal if self.cfun == 1 else 99

    @property
    def registration(self) -> int:
        """The +CREG <stat> now: 0 when the radio is off."""
        return self.reg_stat if self.cfun == 1 and self.sim_present else 0

    @property
    def registered(self) -> bool:
        return self.registration in (1, 5)

    @property
    def cpin_state(self) -> str:
        if not self.sim_present:
            return "NOT INSERTED"
        if self.pin_ok:
            return "READY"
        return "SIM PIN" if self.pin_tries > 0 else "SIM PUK"

    @property
    def sim_ready(self) -> bool:
        return self.sim_present and self.pin_ok

    def require_sim(self, kind: str = "CME") -> None:
        """Raise the CME (or CMS) error a real modem gives when its SIM cannot be used."""
        if not self.sim_present:
            raise AtError(kind, 10 if kind == "CME" else 310)
        if not self.pin_ok:
            if self.pin_tries > 0:
                raise AtError(kind, 11 if kind == "CME" else 311)
            raise AtError(kind, 12 if kind == "CME" else 316)

    def check_sim_busy(self) -> None:
        """Answer +CME ERROR: 14 for the first K SIM commands after boot (profile quirk)."""
        if self.sim_busy_left > 0:
            self.sim_busy_left -= 1
            raise AtError("CME", 14)

    # --- power ------------------------------------------------------------------

    def factory_defaults(self) -> None:
        """Bring back the settings a reboot or ATZ restores."""
        self.echo = True
        self.cmee = self.profile.cmee_default
        self.cnmi = list(self.profile.cnmi_default)
        self.reg_urc = {"+CREG": 0, "+CGREG": 0, "+CEREG": 0}
        self.clip = False
        self.crc = False
        self.curc = True
        self.ussd_packed = self.profile.ussd_packed
        self.cscs = "IRA"
        self.csmp = "17,167,0,0"

    def power_off(self) -> None:
        """Lose power: drop the input, cancel every pending timer, stop talking."""
        self._epoch += 1
        self.mode = OFF
        self._inbuf.clear()
        self.voice.power_lost()
        self.sms.power_lost()

    def reboot(self, delay: float | None = None) -> None:
        """Power-cycle: silent for ``delay`` (default boot_delay), then the boot banner."""
        self.power_off()
        self.hung = False
        self.after(self.settings.boot_delay if delay is None else delay, self._boot)

    def boot_now(self) -> None:
        """Power on at once (bank start, replug): the banner follows immediately."""
        self.power_off()
        self.hung = False
        self._boot()

    def _boot(self) -> None:
        self.factory_defaults()
        self.cfun = 1
        self.pin_ok = self.pin is None
        self.sim_busy_left = self.profile.sim_busy_at_boot
        self.mode = CMD
        for line in self.profile.banner:
            self.urc(self.fmt(line))
        if self.sim_ready:
            for line in self.profile.banner_sim:
                self.urc(self.fmt(line))
        for periodic in self.profile.periodic_urcs:
            self.after(periodic.period, functools.partial(self._periodic, periodic))
        self.sms.flush_network()

    def sim_unlocked(self) -> None:
        """The PIN was accepted: the SIM-ready banner lines, then held messages."""
        for line in self.profile.banner_sim:
            self.urc(self.fmt(line))
        self.sms.flush_network()

    def _periodic(self, periodic: PeriodicUrc) -> None:
        if self.curc or not periodic.curc:
            self.urc(self.fmt(periodic.text), periodic.eol)
        self.after(periodic.period, lambda: self._periodic(periodic))

    def set_hung(self, hung: bool) -> None:
        """Stop (or resume) answering; whatever arrives meanwhile is dropped."""
        self.hung = hung
        self._inbuf.clear()
        if hung and self.mode == PDU:
            self.mode = CMD

    # --- input --------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Take bytes the host wrote; answer what they complete."""
        if self.hung or self.mode == OFF:
            return
        self._inbuf += data
        self._process()

    def resume(self) -> None:
        """Leave the SENDING state and handle input that arrived meanwhile."""
        if self.mode == SENDING:
            self.mode = CMD
        self._process()

    def _process(self) -> None:
        while self._inbuf and not self.hung:
            if self.mode == PDU:
                if not self._take_pdu():
                    return
            elif self.mode == CMD:
                end = self._inbuf.find(b"\r")
                if end < 0:
                    if len(self._inbuf) > _MAX_LINE:
                        self._inbuf.clear()
                    return
                raw = bytes(self._inbuf[:end])
                del self._inbuf[: end + 1]
                self._command_line(raw)
            else:  # SENDING or OFF: input waits (or was dropped by power_off)
                return

    def _take_pdu(self) -> bool:
        """Consume PDU characters up to Ctrl-Z/ESC. Return False when more input is needed."""
        ends = [i for i in (self._inbuf.find(bytes([_CTRL_Z])), self._inbuf.find(bytes([_ESC]))) if i >= 0]
        end = min(ends) if ends else len(self._inbuf)
        chunk = bytes(self._inbuf[:end])
        if self.echo and chunk:
            self.emit(chunk)  # real modems echo the PDU after the prompt
        self.sms.pdu_text += chunk.decode("latin-1")
        if not ends:
            self._inbuf.clear()
            return False
        terminator = self._inbuf[end]
        del self._inbuf[: end + 1]
        self.mode = CMD
        if terminator == _ESC:
            self.sms.pdu_text = ""
            self._respond([], "OK")
        else:
            self.sms.submit()
        return True

    def _command_line(self, raw: bytes) -> None:
        # Leftovers of a previous '\r\n' terminator, NULs and line noise are skipped.
        text = "".join(ch for ch in raw.decode("latin-1") if " " <= ch <= "~")
        text = text.strip()
        if not text:
            return
        if self.echo:
            self.emit(text + "\r")
        if text[:2].upper() != "AT":
            return  # not a command: real modems ignore it
        self.commands.append(text)
        log.debug("sim%d <- %r", self.index, text)
        self._execute(text[2:])

    def _execute(self, body: str) -> None:
        blocks: list[str] = []
        try:
            parsed = parse(body)
            for name, op, args in parsed:
                handler = self._command_set.handlers.get(name)
                if handler is None or (name in self._command_set.vendor_only and not self._has_vendor(name)):
                    if name in self.profile.vendor_commands:
                        continue  # a vendor setting we accept and ignore
                    raise AtError("RAW", self.profile.unknown_final)
                reply = handler(self, op, args)
                if not isinstance(reply, Reply):
                    reply = Reply(list(reply))
                if reply.lines:
                    blocks.append("\r\n".join(reply.lines))
                if reply.prompt or reply.final != "OK" or reply.then is not None:
                    # CMGS, a missing final or a reboot end the command line.
                    self._respond(blocks, reply.final)
                    if reply.prompt:
                        self._prompt()
                    if reply.then is not None:
                        reply.then()
                    return
        except AtError as exc:
            self._respond(blocks, self.error_text(exc))
            return
        self._respond(blocks, "OK")

    def _has_vendor(self, name: str) -> bool:
        return name == self.profile.iccid_command or name in self.profile.vendor_commands

    def _prompt(self) -> None:
        for line in self.profile.urcs_before_prompt:
            self.urc(self.fmt(line), self.profile.urc_eol)
        self.mode = PDU
        self.sms.pdu_text = ""
        self.emit(self.profile.prompt)

    def _respond(self, blocks: list[str], final: str | None) -> None:
        text = "".join(f"\r\n{block}\r\n" for block in blocks)
        if final is not None:
            text += f"\r\n{final}\r\n"
        self.emit(text)

    def respond(self, lines: list[str], final: str | None = "OK") -> None:
        """Write a (delayed) response: information lines then a final result."""
        self._respond(["\r\n".join(lines)] if lines else [], final)

    def error_text(self, exc: AtError) -> str:
        """The final line for ``exc`` under the current AT+CMEE setting."""
        return error_text(exc, self.cmee)
