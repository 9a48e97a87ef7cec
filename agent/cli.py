"""Commands for a technician on the box, working on the agent's database.

``send``    queue a message (the running agent picks it up within a second,
            as it does for any row an application inserts) and, with
            ``--wait``, follow it until it is sent or failed.
``lines``   the lines as the running agent last saw them, with quotas.
``status``  the queue by state, and a one-line summary of the lines.

They open the database read-write through the store, never the modems: the
running agent owns those.  The entry point (:mod:`agent.__main__`) builds one
parser per command with :func:`add_arguments` and calls :func:`run` with the
parsed arguments.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from typing import Any

from .codec.parts import split
from .config import Config, LineConfig
from .errors import EncodeError, StoreError, TooManyParts
from .lineview import LineView, limits_in_force, line_views, stored_state
from .model import NewMessage
from .sim.modem import modem_name
from .store.queue import Store

ANY_LINE = "*"
_NUMBER = re.compile(r"\+?[0-9]{3,20}")  # as every dialect has it

_STATUS_WORDS = {"U": "unsent", "Q": "sending", "S": "sent", "F": "failed", "sent_today": "sent today",
                 "failed_today": "failed today"}


def _store(config: Config, *, create: bool = False) -> Store:
    """The agent's store; StoreError when the database does not exist (unless ``create``)."""
    if create:
        config.agent.database.parent.mkdir(parents=True, exist_ok=True)
    elif not config.agent.database.exists():
        raise StoreError(f"no database at {config.agent.database} (has the agent run with this config?)")
    store = Store(config.agent.database, timezone=config.agent.tz, max_parts=config.modems.max_parts)
    store.open()
    return store


# name -> (one line for the list of commands, the description of its --help)
COMMANDS = {
    "send": ("queue one SMS in the agent's database (the running agent sends it)",
             "Queue one SMS in the agent's database; the running agent sends it. Refused like the APIs "
             "refuse it (exit 2, one line saying why, nothing queued): a bad number, an unknown or disabled "
             "--line, an unknown --provider group, an empty text or one that cannot be encoded or needs more "
             "than [modems] max_parts SMS parts."),
    "lines": ("the lines as the running agent last saw them, with quotas",
              "Show the lines as the running agent last saw them, with their quotas."),
    "status": ("the queue by state and how many lines are ready", "Show the queue by state and the lines ready."),
}


def add_arguments(command: str, parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``command`` (a key of :data:`COMMANDS`) to ``parser``."""
    if command == "send":
        parser.add_argument("number", help="the recipient: 3 to 20 digits, optionally after '+'")
        parser.add_argument("text", help="the message (GSM 7-bit when it can, else UCS-2)")
        parser.add_argument("--line", default=ANY_LINE, help="send on this line only (default: any)")
        parser.add_argument("--provider", default="", help="send on a line of this provider group (--line wins)")
        parser.add_argument("--priority", type=int, default=0)
        parser.add_argument("--no-report", action="store_true", help="do not ask for a status report")
        parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                            help="wait up to SECONDS for the result (exit 0 sent, 1 failed or still waiting)")
    else:
        parser.add_argument("--json", action="store_true", help="print JSON")


def run(command: str, config: Config, args: argparse.Namespace) -> int:
    """Run ``command`` (a key of :data:`COMMANDS`) with its parsed ``args``; return the exit status.
    Raise StoreError or OSError when the database cannot be used."""
    return {"send": send, "lines": lines, "status": status}[command](config, args)


def send(config: Config, args: argparse.Namespace) -> int:
    """Queue one message (``args``: see :func:`add_arguments`); print its id and, with
    ``--wait``, its outcome.  Return 0, 1 (failed or still waiting after ``--wait``), or 2
    (nothing queued) with one line on stderr for a refused request."""
    number = args.number.strip()
    refused = refusal(config, number, args.text, line=args.line, provider=args.provider)
    if refused:
        print(f"sms-agent send: {refused}; nothing queued", file=sys.stderr)
        return 2
    pinned = args.line != ANY_LINE  # a line wins over a provider group, as in the dialects
    parts = len(split(args.text, max_parts=config.modems.max_parts))
    store = _store(config, create=True)
    try:
        message = NewMessage(recipient=number, text=args.text, encoding="7", gateway=args.line,
                             provider="" if pinned else args.provider, priority=args.priority,
                             status_report=not args.no_report, parts=parts)
        accepted = store.enqueue([message], task=True, source="cli")
        msg_id = accepted.ids[0]
        print(f"queued as message {msg_id}")
        if args.wait <= 0:
            return 0
        deadline = time.monotonic() + args.wait
        row = store.message(msg_id) or {}
        while row.get("status") in ("U", "Q") and time.monotonic() < deadline:
            threading.Event().wait(0.2)  # another process sends it: poll its row
            row = store.message(msg_id) or {}
        status = row.get("status", "?")
        detail = f" on {row.get('line')} (reference {row.get('ref_no')})" if status == "S" else ""
        if status == "F":
            detail = f": {row.get('failure_cause') or ''} {row.get('error_code') or ''}".rstrip()
        print(f"message {msg_id}: {_STATUS_WORDS.get(status, status)}{detail}")
        return 0 if status == "S" else 1
    finally:
        store.close()


def refusal(config: Config, number: str, text: str, *, line: str = ANY_LINE, provider: str = "") -> str:
    """Why the agent's APIs would refuse to send ``text`` to ``number`` on ``line`` (a name, or
    ``*`` for any) or provider group ``provider`` ('' for any) under ``config``: one phrase,
    or '' when they would take it.  No I/O.

    The rules are the dialects' (GoIP ``sendsms``): the number is 3 to 20 ASCII digits after
    an optional '+'; the text is not empty, is valid Unicode, fits the encoding and needs at
    most ``[modems] max_parts`` SMS parts (:func:`agent.codec.parts.split`); a line is
    configured and enabled (the simulated bank's ``sim1``... when no line is configured), and
    wins over a provider; a provider group has an enabled line."""
    if not _NUMBER.fullmatch(number):
        return f"not a phone number: {number!r} (3 to 20 digits, optionally after '+')"
    if not text:
        return "the text is empty"
    try:
        text.encode("utf-8")
        split(text, max_parts=config.modems.max_parts)
    except UnicodeEncodeError:
        return "the text cannot be encoded: it is not valid Unicode (bytes that are not UTF-8?)"
    except TooManyParts as exc:
        return f"the text needs {exc.needed} SMS parts, at most {exc.maximum} allowed ([modems] max_parts)"
    except EncodeError as exc:
        return f"the text cannot be encoded: {exc}"
    configured = config.lines or tuple(LineConfig(name=modem_name(i), device="")
                                       for i in range(1, config.simulator.lines + 1))
    enabled = [cfg for cfg in configured if cfg.enabled]
    if line != ANY_LINE:
        names = [cfg.name for cfg in configured]
        if line not in names:
            return f"unknown line {line!r} (the lines: {', '.join(names)})"
        if line not in {cfg.name for cfg in enabled}:
            return f"line {line} is disabled ([line:{line}] enabled = no)"
        return ""
    if not enabled:
        return "no line is enabled"
    groups = sorted({cfg.provider for cfg in enabled} - {""})
    if provider and provider not in groups:
        return f"no enabled line is in provider group {provider!r} (the groups: {', '.join(groups) or 'none'})"
    return ""


def _stored_views(store: Store, config: Config) -> tuple[list[dict[str, Any]], list[LineView]]:
    """The ``lines`` rows the running agent last stored (by name) and their views: quotas
    from the SIM counters and the limits in force (configured, or an operator's override;
    a line no longer configured has none), no message counts of today."""
    rows = store.sims.lines()
    counters = store.sims.sim_counters([r["iccid"] for r in rows if r.get("iccid")])
    overrides = store.sims.line_limits()
    configured = {line.name: (line.daily_limit, line.total_limit) for line in config.lines}
    limits = {r["name"]: limits_in_force(configured.get(r["name"], (-1, -1)), overrides.get(r["name"], (None, None)))
              for r in rows}
    providers = {r["name"]: r.get("provider") or "" for r in rows}
    views = line_views([stored_state(r) for r in rows], counters=counters, limits=limits, providers=providers,
                       today=None)
    return rows, views


def lines(config: Config, args: argparse.Namespace) -> int:
    """Print the lines as the running agent last stored them (``args.json``: as JSON); return 0.
    Raise StoreError when there is no database."""
    store = _store(config)
    try:
        rows, views = _stored_views(store, config)
    finally:
        store.close()
    out = [{**r, "daily_sent": v.daily_sent, "total_sent": v.total_sent, "daily_left": v.daily_left,
            "total_left": v.total_left} for r, v in zip(rows, views)]
    if args.json:
        print(json.dumps(out, default=str, ensure_ascii=False, indent=1))
        return 0
    if not out:
        print("no line has been seen yet (is the agent running?)")
        return 0
    print(f"{'line':10} {'state':10} {'signal':>7} {'reg':4} {'operator':14} {'ICCID':6} {'today':>11} {'total':>13}  error")
    for r in out:
        left = lambda n: "∞" if n is None else str(n)  # noqa: E731
        print(f"{r['name'][:10]:10} {str(r.get('state'))[:10]:10} "
              f"{(str(r['signal_dbm']) + 'dBm') if r.get('signal_dbm') is not None else '-':>7} "
              f"{'yes' if r.get('registered') else 'no':4} {str(r.get('operator') or '-')[:14]:14} "
              f"{str(r.get('iccid') or '-')[-6:]:6} {r['daily_sent']:>5}/{left(r['daily_left']):>5} "
              f"{r['total_sent']:>6}/{left(r['total_left']):>6}  {r.get('last_error') or ''}")
    return 0


def status(config: Config, args: argparse.Namespace) -> int:
    """Print the queue by state and the lines ready (``args.json``: as JSON); return 0.
    Raise StoreError when there is no database."""
    store = _store(config)
    try:
        depths = store.queue_depths()
        _, views = _stored_views(store, config)
    finally:
        store.close()
    ready = sum(1 for v in views if v.online and v.registered)
    summary = {"box": config.agent.id, "queue": depths, "lines": len(views), "lines_ready": ready}
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"box {config.agent.id}: {ready}/{len(views)} line(s) ready")
    print("queue: " + ", ".join(f"{_STATUS_WORDS.get(k, k)} {v}" for k, v in depths.items()))
    return 0
