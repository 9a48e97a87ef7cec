"""``sms-agent simulate``: run a bank of simulated modems until SIGINT/SIGTERM.

Prints one line per modem, ``<name> <profile> <path>``, so that a config
(or a person with minicom) can point at the paths.  ``--ledger FILE`` appends
one JSON line per SMS part the simulated network accepted (see
:mod:`agent.sim.ledger`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile

from .bank import SimBank
from .profiles import PROFILES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sms-agent simulate", description="Run simulated GSM modems on ptys.")
    parser.add_argument("--lines", type=int, default=4, help="number of modems (default 4)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="simcom", help="vendor profile of every modem")
    parser.add_argument("--send-delay", type=float, default=2.0, help="seconds before +CMGS answers (default 2)")
    parser.add_argument("--state-dir", default=None, help="directory of the modem links (default: a temporary one)")
    parser.add_argument("--ledger", default=None, metavar="FILE",
                        help="append one JSON line per SMS part the simulated network accepts to FILE")
    return parser


def main(argv: list[str]) -> int:
    """Given the arguments after ``simulate``, run the bank until a signal; return the exit status."""
    args = build_parser().parse_args(argv)
    if args.lines < 1:
        print("--lines must be at least 1", file=sys.stderr)
        return 2
    state_dir = args.state_dir or tempfile.mkdtemp(prefix="sms-agent-sim-")
    # Block before the I/O thread starts so that it inherits the mask and
    # only sigwait below receives the signals.
    signals = {signal.SIGINT, signal.SIGTERM}
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
