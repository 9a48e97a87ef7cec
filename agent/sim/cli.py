"""``sms-agent simulate``: run a bank of simulated modems, or a simulated GoIP box, until SIGINT/SIGTERM.

Prints one line per modem, ``<name> <profile> <path>``, so that a config
(or a person with minicom) can point at the paths.  ``--ledger FILE`` appends
one JSON line per SMS part the simulated network accepted (see
:mod:`agent.sim.ledger`).

With ``--goip HOST:PORT`` (HOST on the loopback) it runs a GoIP box of
``--channels N`` channels instead, each registering with the SMS server at
HOST:PORT over UDP, and prints one line per channel:
``<id> <password> <own address> <SIM number>``.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
import tempfile

from .bank import SimBank
from .goip_box import SimGoip
from .goip_channel import channel_specs
from .profiles import PROFILES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sms-agent simulate",
                                     description="Run simulated GSM modems on ptys, or a simulated GoIP box.")
    parser.add_argument("--lines", type=int, default=4, help="number of modems (default 4)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="simcom", help="vendor profile of every modem")
    parser.add_argument("--send-delay", type=float, default=2.0,
                        help="seconds before +CMGS answers, or a GoIP channel sends (default 2)")
    parser.add_argument("--state-dir", default=None, help="directory of the modem links (default: a temporary one)")
    parser.add_argument("--ledger", default=None, metavar="FILE",
                        help="append one JSON line per SMS part the simulated network accepts to FILE")
    goip = parser.add_argument_group("GoIP box (instead of the modems)")
    goip.add_argument("--goip", metavar="HOST:PORT", default=None,
                      help="run a GoIP box whose channels register with the SMS server at HOST:PORT (loopback)")
    goip.add_argument("--channels", type=int, default=4, help="number of GoIP channels (default 4)")
    goip.add_argument("--password", default=None,
                      help="every channel's password (default: pw01, pw02... per channel)")
    goip.add_argument("--keepalive", type=float, default=30.0, help="seconds between keepalives (default 30)")
    goip.add_argument("--report-delay", type=float, default=None,
                      help="seconds after each sent SMS before its DELIVER report (default: no reports)")
    return parser


def _server(value: str) -> tuple[str, int]:
    """Parse HOST:PORT with HOST on the loopback; raise ValueError naming what is wrong."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--goip {value!r} is not HOST:PORT")
    if host != "localhost" and not ipaddress.ip_address(host or "0.0.0.0").is_loopback:
        raise ValueError(f"--goip {value!r}: the simulated GoIP talks to the loopback only")
    return "127.0.0.1", int(port)


def _run_goip(args: argparse.Namespace, signals: set[signal.Signals]) -> int:
    """Run the GoIP box of ``args`` until one of ``signals`` (already blocked) arrives."""
    try:
        server = _server(args.goip)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.channels < 1:
        print("--channels must be at least 1", file=sys.stderr)
        return 2
    try:
        specs = channel_specs(args.channels, args.password)
    except ValueError as exc:  # a password with a blank, ';' or ':'
        print(f"--password: {exc}", file=sys.stderr)
        return 2
    box = SimGoip(server, specs, keepalive=args.keepalive, send_delay=args.send_delay,
                  report_delay=args.report_delay, ledger=args.ledger)
    try:
        try:
            box.start()
        except OSError as exc:
            print(f"cannot start the simulated GoIP box: {exc}", file=sys.stderr)
            return 1
        for channel in box.channels:
            host, port = channel.address or ("?", 0)
            print(f"{channel.id} {channel.password} {host}:{port} {channel.spec.num}", flush=True)
        received = signal.sigwait(signals)
        print(f"stopping on {signal.Signals(received).name}", file=sys.stderr, flush=True)
    finally:
        box.stop()
    return 0


def main(argv: list[str]) -> int:
    """Given the arguments after ``simulate``, run the bank until a signal; return the exit status."""
    args = build_parser().parse_args(argv)
    signals = {signal.SIGINT, signal.SIGTERM}
    if args.goip is not None:
        # Block before the I/O thread starts so that it inherits the mask and
        # only sigwait receives the signals.
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        try:
            return _run_goip(args, signals)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    if args.lines < 1:
        print("--lines must be at least 1", file=sys.stderr)
        return 2
    state_dir = args.state_dir or tempfile.mkdtemp(prefix="sms-agent-sim-")
    # Block before the I/O thread starts so that it inherits the mask and
    # only sigwait below receives the signals.
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    bank = SimBank(args.lines, profile=args.profile, send_delay=args.send_delay, state_dir=state_dir,
                   ledger=args.ledger)
    try:
        try:
            bank.start()
        except OSError as exc:  # e.g. the ledger's directory does not exist
            print(f"cannot start the simulated bank: {exc}", file=sys.stderr)
            return 1
        for modem in bank:
            print(f"{modem.name} {modem.profile.name} {modem.path}", flush=True)
        received = signal.sigwait(signals)
        print(f"stopping on {signal.Signals(received).name}", file=sys.stderr, flush=True)
    finally:
        bank.stop()
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        if args.state_dir is None:
            try:
                os.rmdir(state_dir)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
