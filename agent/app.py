"""Wiring only: build every part from the Config, start them in order, stop them in reverse.

With no ``[line:*]`` configured the agent runs on the simulated modem bank
(``agent.sim``): its modems appear on pseudo-terminals and are driven by the
same line workers as real hardware.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from .codec.pdu import Deliver, Submit
from .config import Config, LineConfig
from .modem.bank import ModemBank
from .modem.types import CallRecord, DeliveryReport, IncomingSms, LineState
from .sim.bank import SimBank

log = logging.getLogger(__name__)


class LoggingEvents:
    """The line-event sink until the durable store takes them: logs each event."""

    def on_sms(self, sms: IncomingSms) -> None:
        msg = sms.message
        if isinstance(msg, Deliver):
            log.info("%s: SMS from %s: %r", sms.line, msg.sender, msg.text)
        elif isinstance(msg, Submit):
            log.info("%s: stored outgoing SMS to %s: %r", sms.line, msg.recipient, msg.text)
        else:
            log.info("%s: undecodable SMS %s (%s)", sms.line, sms.pdu, sms.error)

    def on_report(self, report: DeliveryReport) -> None:
        log.info("%s: status report for reference %d: status 0x%02X", report.line, report.reference, report.status)

    def on_call(self, call: CallRecord) -> None:
        log.info("%s: call from %s", call.line, call.caller or "withheld")

    def on_state(self, state: LineState) -> None:
        pass


class App:
    def __init__(self, config: Config, *, events: object | None = None) -> None:
        self.config = config
        self.stop_event = threading.Event()
        self.events = events or LoggingEvents()
        self.sim: SimBank | None = None
        self.bank: ModemBank | None = None

    def start(self) -> None:
        cfg = self.config
        cfg.agent.state_dir.mkdir(parents=True, exist_ok=True)
        lines = cfg.lines
        modems = cfg.modems
        if cfg.simulated:
            sim_cfg = cfg.simulator
            profiles = [sim_cfg.profiles[i % len(sim_cfg.profiles)] for i in range(sim_cfg.lines)]
            sim = self.sim = SimBank(profiles, state_dir=str(cfg.agent.state_dir / "sim"),
                                     send_delay=sim_cfg.send_delay)
            sim.start()
            lines = tuple(LineConfig(name=m.name, device=m.path) for m in sim.modems)
            modems = replace(modems, scan=modems.scan or (str(cfg.agent.state_dir / "sim" / "*"),))
            log.info("no modem configured: running on %d simulated modems (%s)", len(lines),
                     ", ".join(f"{m.name}={m.path}" for m in sim.modems))
        self.bank = ModemBank(lines, modems, self.events, self.stop_event)  # type: ignore[arg-type]
        self.bank.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self.bank is not None:
            self.bank.stop(timeout)
        if self.sim is not None:
            self.sim.stop()
