"""AT conversations with one modem over an open :class:`~agent.modem.channel.Channel`.

A :class:`Session` knows *what* to say to a modem (initialisation, identity,
health, sending, USSD) and how to read the answers; its :attr:`Session.storage`
(:mod:`agent.modem.storage`) does the same for the messages stored on the
modem.  It holds no thread and no queue.  The line worker owns it and
decides *when* to call it.  Every method raises the channel's exceptions
(:class:`CommandError`, :class:`CommandTimeout`, :class:`PortError`) unless it
documents otherwise.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from ..codec import at
from ..errors import AtParseError, CommandError, CommandInterrupted, CommandTimeout, ModemError
from . import profiles
from .channel import Channel, Response
from .profiles import Profile
from .storage import Storage

log = logging.getLogger(__name__)

# CME errors that mean "not yet, ask again": SIM busy (14) and device busy (515)
# right after power-on or AT+CFUN.
_BUSY_CME = frozenset({14, 515})
# CME errors about the SIM itself.
_SIM_CME = {10: "SIM not inserted", 11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure", 15: "wrong SIM"}
# Seconds between the ATs of one ping: a modem that comes back (from a hang, a
# boot) answers the next one instead of letting the whole timeout run out.
PING_RETRY = 1.0


class SimProblem(ModemError):
    """The modem answers but its SIM cannot be used (missing, locked, failed)."""


@dataclass(frozen=True)
class Identity:
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    imei: str = ""
    imsi: str = ""
    iccid: str = ""
    number: str = ""


@dataclass(frozen=True)
class Health:
    rssi: int | None
    signal_dbm: int | None
    registered: bool
    registration: int | None
    operator: str


class Session:
    """AT dialogue with one modem.

    ``stop`` is the agent's shared stop event: waits between retries end
    early when it is set.  ``timeout`` is the default per-command timeout;
    ``send_timeout`` the one for each AT+CMGS.
    """

    def __init__(
        self,
        channel: Channel,
        *,
        line: str,
        profile: str = "auto",
        pin: str = "",
        smsc: str = "",
        timeout: float = 10.0,
        send_timeout: float = 90.0,
        stop: threading.Event | None = None,
    ) -> None:
        self.channel = channel
        self.line = line
        self.profile: Profile = profiles.PROFILES["generic"] if profile == "auto" else profiles.get(profile)
        self._auto_profile = profile == "auto"
        self.pin = pin
        self.smsc = smsc
        self.timeout = timeout
        self.send_timeout = send_timeout
        self._stop = stop or threading.Event()
        self.storage = Storage(self)  # the messages stored on the modem
        self.hardware = Identity()  # what the modem said of itself, known even when the SIM fails

    # --- plumbing --------------------------------------------------------

    def cmd(self, command: str, *, timeout: float | None = None, **kw: object) -> Response:
        """Run ``command`` (the default timeout unless given; ``kw`` as Channel.command)."""
        timeout = self.timeout if timeout is None else timeout
        return self.channel.command(command, timeout=timeout, **kw)  # type: ignore[arg-type]

    def try_cmd(self, command: str, **kw: object) -> Response | None:
        """Run a command whose failure is tolerable (vendor extras); None on an error final."""
        try:
            return self.cmd(command, **kw)  # type: ignore[arg-type]
        except CommandError as exc:
            log.debug("%s: %s", self.line, exc)
            return None

    def cmd_busy_retry(self, command: str, *, attempts: int = 12, first_wait: float = 0.05) -> Response:
        """Run a command, asking again while the modem answers SIM/device busy.

        Waits grow from ``first_wait`` (doubling, capped at 2 s) for up to
        ``attempts`` tries; the last CommandError is raised after that.
        """
        wait = first_wait
        for attempt in range(attempts):
            try:
                return self.cmd(command)
            except CommandError as exc:
                if exc.kind != "CME" or exc.code not in _BUSY_CME or attempt == attempts - 1:
                    raise
                log.info("%s: %s answered busy (CME %s), asking again in %.2fs", self.line, command, exc.code, wait)
                if self._stop.wait(wait):
                    raise
                wait = min(wait * 2, 2.0)
        raise AssertionError("unreachable")

    def info(self, command: str, **kw: object) -> str:
        """Return the first information line of a command ('' when there is none)."""
        resp = self.cmd(command, **kw)  # type: ignore[arg-type]
        return resp.lines[0].strip() if resp.lines else ""

    # --- start-up ------------------------------------------------------------

    def ping(self, timeout: float | None = None) -> None:
        """``AT`` -> OK within ``timeout`` seconds (the default timeout unless
        given), asking again every :data:`PING_RETRY` seconds meanwhile.  Raise
        CommandTimeout('AT', timeout) when no try was answered."""
        total = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + total
        missed = 0
        while True:
            try:
                self.cmd("AT", timeout=min(PING_RETRY, max(0.0, deadline - time.monotonic())))
            except CommandInterrupted:
                raise
            except CommandTimeout:
                missed += 1
                if time.monotonic() < deadline and not self._stop.is_set():
                    continue
                raise CommandTimeout("AT", total, line=self.line) from None
            if missed:
                self.channel.settle()  # the late OK of an earlier try is not the next command's
            return

    def initialise(self) -> Identity:
        """Bring a freshly opened (or reset) modem into the state the worker relies on.

        Echo off, numeric errors, PDU mode, new SMS as +CMTI and status reports
        as +CDS/+CDSI, SIM storage, caller id.  Return the modem's identity.
        Raise SimProblem when the SIM is missing or locked without a usable
        PIN; CommandError/CommandTimeout/PortError when the modem misbehaves.
        """
        self.channel.abort()  # leave a '> ' prompt a previous session may have left open
        self.ping()
        self.try_cmd("ATZ")  # back to the stored profile: no setting of a previous user survives
        self.cmd("ATE0")
        self.try_cmd("AT+CMEE=1")
        ident = self.hardware = self._hardware_identity()
        if self._auto_profile:
            self.profile = profiles.detect(ident.manufacturer, ident.model)
        log.info("%s: %s %s (%s), IMEI %s, profile %s", self.line, ident.manufacturer, ident.model,
                 ident.firmware, ident.imei, self.profile.name)
        self._unlock_sim()
        for extra in self.profile.init_extra:
            self.try_cmd(extra)
        self.cmd_busy_retry("AT+CMGF=0")
        self.storage.select()
        if self.try_cmd(self.profile.cnmi) is None:
            self.cmd(self.profile.cnmi_fallback)
        self.try_cmd("AT+CLIP=1")
        self.try_cmd("AT+CRC=0")
        if self.smsc:
            self.cmd_busy_retry(f'AT+CSCA="{self.smsc}",{145 if self.smsc.startswith("+") else 129}')
        else:
            self.cmd_busy_retry("AT+CSCA?")
        return self._sim_identity(ident)

    def _hardware_identity(self) -> Identity:
        def quiet(command: str) -> str:
            resp = self.try_cmd(command)
            return " ".join(resp.lines[0].split()) if resp and resp.lines else ""

        imei = ""
        resp = self.try_cmd("AT+CGSN")
        if resp:
            for ln in resp.lines:
                digits = "".join(ch for ch in ln if ch.isdigit())
                if 14 <= len(digits) <= 17:
                    imei = digits
                    break
        return Identity(manufacturer=quiet("AT+CGMI"), model=quiet("AT+CGMM"), firmware=quiet("AT+CGMR"), imei=imei)

    def sim_status(self) -> str:
        """Return the +CPIN? answer (READY, SIM PIN...) or the words of the SIM CME error."""
        try:
            line = self.info("AT+CPIN?", lenient=self.profile.cpin_lenient)
        except CommandError as exc:
            if exc.kind == "CME" and exc.code in _SIM_CME:
                return _SIM_CME[exc.code]
            if exc.kind == "CME" and exc.code in _BUSY_CME:
                return "SIM busy"
            raise
        try:
            return at.parse_cpin(line)
        except AtParseError:
            return line or "unknown"

    def _unlock_sim(self) -> None:
        status = ""
        for _ in range(20):
            status = self.sim_status()
            if status != "SIM busy":
                break
            if self._stop.wait(0.25):
                break
        if status == "READY":
            return
        if status == "SIM PIN" and self.pin:
            log.info("%s: entering the SIM PIN", self.line)
            self.cmd(f'AT+CPIN="{self.pin}"', timeout=max(self.timeout, 10.0))
            for _ in range(20):
                if self.sim_status() == "READY":
                    return
                if self._stop.wait(0.25):
                    break
            raise SimProblem("the SIM did not become ready after the PIN", line=self.line)
        if status == "SIM PIN":
            raise SimProblem(f"SIM PIN required: set pin in [line:{self.line}]", line=self.line)
        raise SimProblem(status if status.startswith("SIM") else f"SIM not ready: {status}", line=self.line)

    def _sim_identity(self, ident: Identity) -> Identity:
        imsi = ""
        resp = self.try_cmd("AT+CIMI")
        if resp:
            for ln in resp.lines:
                digits = ln.strip()
                if digits.isdigit() and 6 <= len(digits) <= 15:
                    imsi = digits
        iccid = ""
        for command in self.profile.iccid_commands:
            resp = self.try_cmd(command)
            if resp and resp.lines:
                try:
                    iccid = at.parse_iccid(resp.lines[0])
                except AtParseError:
                    continue
                if iccid:
                    break
        number = ""
        resp = self.try_cmd("AT+CNUM")
        if resp:
            for ln in resp.lines:
                try:
                    number = at.parse_cnum(ln) or ""
                except AtParseError:
                    continue
                if number:
                    break
        return Identity(ident.manufacturer, ident.model, ident.firmware, ident.imei, imsi, iccid, number)

    # --- health -------------------------------------------------------------------

    def health(self) -> Health:
        """Signal (+CSQ), registration (+CREG, then +CGREG/+CEREG for LTE-only cells) and operator."""
        rssi: int | None = None
        try:
            rssi, _ = at.parse_csq(self.info("AT+CSQ"))
        except AtParseError:
            pass
        stat: int | None = None
        registered = False
        for command in ("AT+CREG?", "AT+CEREG?", "AT+CGREG?"):
            resp = self.try_cmd(command)
            if not resp or not resp.lines:
                continue
            try:
                reg = at.parse_creg(resp.lines[0])
            except AtParseError:
                continue
            if stat is None or reg.registered:
                stat = reg.stat
            if reg.registered:
                registered = True
                break
        operator = ""
        resp = self.try_cmd("AT+COPS?")
        if resp and resp.lines:
            try:
                operator = at.parse_cops(resp.lines[0]) or ""
            except AtParseError:
                pass
        return Health(rssi, at.rssi_to_dbm(rssi), registered, stat, operator)

    # --- sending, calls, restart, USSD -------------------------------------------------

    def send_pdu(self, tpdu_length: int, pdu_hex: str) -> int:
        """Send one part; return its TP-MR."""
        return self.channel.send_pdu(tpdu_length, pdu_hex, timeout=self.send_timeout,
                                     prompt_timeout=min(self.timeout, self.send_timeout))

    def hang_up(self) -> None:
        self.try_cmd("ATH")

    def reset_modem(self, timeout: float | None = None) -> None:
        """Ask the modem to restart (the profile's command; CFUN=1,1 by default).

        The modem may drop off the bus while answering; a timeout or a lost
        port here is expected and left to the caller.
        """
        self.cmd(self.profile.reset_command, timeout=timeout)

    def start_ussd(self, code: str) -> Response:
        """Send a USSD code; the answer comes as +CUSD (in the response or later as a URC)."""
        if not all(ch.isdigit() or ch in "*#+" for ch in code) or not code:
            raise ValueError(f"not a USSD code: {code!r}")
        return self.cmd(f'AT+CUSD=1,"{code}",15', timeout=max(self.timeout, 15.0))
