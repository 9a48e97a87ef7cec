"""Entry point: ``sms-agent [OPTIONS] [COMMAND] [ARGS]``.

The global options (``--config FILE``, ``--version``) go before or after the
command; ``--help`` works on every command.

Commands
--------
``run`` (default)   run the agent until SIGTERM/SIGINT.
``check-config``    validate the config file and print what it describes.
``send NUMBER TEXT`` queue a message in the agent's database.
``lines``           the lines as the running agent last saw them.
``status``          the queue by state and the lines in one line.
``pdu ...``         decode or encode SMS PDUs (see ``sms-agent pdu --help``).
``simulate ...``    run the simulated modem bank alone (see ``sms-agent simulate --help``).

Exit codes: 0 ok, 2 usage or bad input, 69 (EX_UNAVAILABLE) the HTTP port
cannot be had, 73 (EX_CANTCREAT) the state directory or database cannot be
created or written, 75 (EX_TEMPFAIL) another agent runs on the same
database, 78 (EX_CONFIG) bad configuration, 1 any other failure.  ``run``
prints one line naming the port or path for each of these, no traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

from . import __version__, cli, logs, redact, systemd
from .config import SYSTEM_DIRS, Config, load
from .errors import ConfigError, StoreError

EX_CONFIG = 78
READY_WAIT = 30.0  # seconds start-up waits for the lines before telling systemd it is ready
DEFAULT_CONFIG = "config.ini"
CONFIG_HELP = "config file (default: $SMS_AGENT_CONFIG or ./config.ini); before or after the command"
# name -> (one line for the list of commands, the description of its --help)
COMMANDS = {
    "run": ("run the agent until SIGTERM/SIGINT (the default command)",
            "Run the agent until SIGTERM or SIGINT (on the simulated modem bank when no [line:*] is configured)."),
    "check-config": ("validate the config; print its state directory, database and lines",
                     "Validate the config file and print what it describes: the box, the state directory and "
                     "database it means (and whether the database exists), the lines."),
    **cli.COMMANDS,
    "pdu": ("decode or encode SMS PDUs (sms-agent pdu --help)", ""),
    "simulate": ("run the simulated modem bank alone (sms-agent simulate --help)", ""),
}
SEPARATE = ("pdu", "simulate")  # commands with their own parsers, which take the rest of the line
EXIT_CODES = """exit codes:
  0   ok
  1   any other failure (send --wait: the message failed or is still waiting)
  2   usage error or bad input (a send the APIs refuse: unknown line, text too long...; a bad PDU)
  69  the HTTP port cannot be had (in use, or not an address of the box)
  73  the state directory or the database cannot be created or written
  75  another agent runs on the same database
  78  configuration error (the message names the key; a missing config file too)"""
log = logging.getLogger("agent")


def _run(config: Config) -> int:
    from .app import App, StartError

    logs.setup(config.agent.log_level, secrets=redact.secret_values(config))
    # Signals become a flag for the main thread only: block them before any
    # thread starts so every thread inherits the mask, then sigwait below.
    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    app = App(config)
    log.info("sms-agent %s starting (box %s, config %s)", __version__, config.agent.id, config.source)
    log.info("database %s (state directory: %s)", config.agent.database, config.agent.state_dir_source)
    t0 = time.monotonic()
    try:
        app.start()
    except StartError as exc:
        log.error("%s", exc)
        app.stop()
        return exc.exit_code
    except Exception:
        log.exception("start-up failed")
        app.stop()
        return 1
    all_ready = app.wait_ready(READY_WAIT)
    systemd.notify("READY=1")
    log.info("running (%s in %.2fs); SIGTERM or Ctrl-C stops",
             "all lines started" if all_ready else "some lines still starting", time.monotonic() - t0)
    watchdog = systemd.watchdog_interval()
    while True:
        if watchdog:
            # Ping only while every thread makes progress: a hung one lets systemd restart us.
            if signal.sigtimedwait(signals, watchdog) is None:
                if not app.health():
                    systemd.notify("WATCHDOG=1")
                continue
        else:
            signal.sigwait(signals)
        break
    log.info("stopping (within %gs)", config.agent.stop_timeout)
    systemd.notify("STOPPING=1")
    app.stop()
    log.info("stopped")
    return 0


def _check_config(config: Config) -> int:
    """Print what ``config`` describes: its box, the state directory and database it
    means (absolute, with the rule that chose them, and whether the database exists
    yet), the lines; return 0."""
    agent = config.agent
    print(f"config {config.source}: OK")
    print(f"box id: {agent.id}")
    print(f"state dir: {os.path.abspath(agent.state_dir)} ({agent.state_dir_source})")
    exists = "exists" if agent.database.exists() else "not there yet: `run` creates it"
    print(f"database: {os.path.abspath(agent.database)} ({exists})")
    if config.simulated:
        print(f"no [line:*] section: {config.simulator.lines} simulated modems "
              f"(profiles {', '.join(config.simulator.profiles)}, send delay {config.simulator.send_delay:g}s)")
    for line in config.lines:
        print(f"line {line.name}: {line.device} (profile {line.profile}{', disabled' if not line.enabled else ''})")
    return 0


def _parser() -> argparse.ArgumentParser:
    """The parser of every command but ``pdu`` and ``simulate`` (whose own parsers take their
    arguments; they are listed here for the help).  The global options are accepted before
    and after the command: each command's parser has them too, with no default of its own,
    so that one given after the command wins and one given before is kept."""
    parser = argparse.ArgumentParser(prog="sms-agent", description="Edge SMS gateway for a bank of GSM/LTE modems.",
                                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _global_options(parser, default_config=os.environ.get("SMS_AGENT_CONFIG", DEFAULT_CONFIG))
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    parser.set_defaults(command="run")
    for name, (text, description) in COMMANDS.items():
        if name in SEPARATE:
            commands.add_parser(name, help=text, add_help=False)
            continue
        command = commands.add_parser(name, help=text, description=textwrap.fill(description, 79), epilog=EXIT_CODES,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
        _global_options(command, default_config=argparse.SUPPRESS)
        if name in cli.COMMANDS:
            cli.add_arguments(name, command)
    return parser


def _global_options(parser: argparse.ArgumentParser, *, default_config: str) -> None:
    parser.add_argument("--config", "-c", metavar="FILE", default=default_config, help=CONFIG_HELP)
    parser.add_argument("--version", action="version", version=f"sms-agent {__version__}")


def _separate(argv: list[str]) -> tuple[str, list[str]] | None:
    """(command, its arguments) when the first word after the global options is a command
    with its own parser (``pdu``, ``simulate``); else None."""
    i = 0
    while i < len(argv) and (argv[i] in ("--config", "-c") or argv[i].startswith(("--config=", "-c"))):
        i += 2 if argv[i] in ("--config", "-c") else 1
    if i < len(argv) and argv[i] in SEPARATE:
        return argv[i], argv[i + 1:]
    return None


def main(argv: list[str] | None = None, *, system_dirs: tuple[Path, Path] = SYSTEM_DIRS) -> int:
    """Given the arguments (default: ``sys.argv[1:]``), run the command; return the exit
    status (see the module docstring).  ``system_dirs``: the packaged (config, state)
    folders that choose the default state directory (:mod:`agent.config`; tests pass theirs)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    separate = _separate(argv)
    if separate is not None:
        if separate[0] == "pdu":
            from . import pdu_cli

            return pdu_cli.main(separate[1])
        from .sim import cli as sim_cli

        return sim_cli.main(separate[1])
    args = _parser().parse_args(argv)  # usage errors exit 2, --help and --version 0
    try:
        config = load(args.config, system_dirs=system_dirs)
    except ConfigError as exc:
        print(f"sms-agent: configuration error: {exc}", file=sys.stderr)
        return EX_CONFIG
    if args.command == "check-config":
        return _check_config(config)
    if args.command in cli.COMMANDS:
        try:
            return cli.run(args.command, config, args)
        except (OSError, StoreError) as exc:
            print(f"sms-agent {args.command}: {exc}", file=sys.stderr)
            return 1
    return _run(config)


if __name__ == "__main__":
    sys.exit(main())
