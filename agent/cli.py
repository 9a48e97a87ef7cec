"""Commands for a technician on the box, working on the agent's database.

``send``    queue a message (the running agent picks it up within a second,
            as it does for any row an application inserts) and, with
            ``--wait``, follow it until it is sent or failed.
``lines``   the lines as the running agent last saw them, with quotas.
``status``  the queue by state, and a one-line summary of the lines.

They open the database read-write through the store, never the modems: the
running agent owns those.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from .config import Config
from .errors import StoreError
from .routing import remaining
from .model import NewMessage
from .store.queue import Store

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


def send(config: Config, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sms-agent send", description="Queue one SMS.")
    parser.add_argument("number")
    parser.add_argument("text")
    parser.add_argument("--line", default="*", help="send on this line only (default: any)")
    parser.add_argument("--provider", default="", help="send on a line of this provider group")
    parser.add_argument("--priority", type=int, default=0)
    parser.add_argument("--no-report", action="store_true", help="do not ask for a status report")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to SECONDS for the result (exit 0 sent, 1 failed or still waiting)")
    args = parser.parse_args(argv)
    number = args.number.strip()
    if not number.lstrip("+").isdigit() or len(number.lstrip("+")) > 20:
        print(f"sms-agent send: not a phone number: {number!r}", file=sys.stderr)
        return 2
    store = _store(config, create=True)
    try:
        accepted = store.enqueue([NewMessage(recipient=number, text=args.text, encoding="7", gateway=args.line,
                                             provider=args.provider, priority=args.priority,
                                             status_report=not args.no_report)], task=True, source="cli")
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


def lines(config: Config, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sms-agent lines", description="Show the lines.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    store = _store(config)
    try:
        rows = store.lines()
        counters = store.sim_counters([r["iccid"] for r in rows if r.get("iccid")])
        overrides = store.line_limits()
    finally:
        store.close()
    limits = {line.name: line for line in config.lines}
    out = []
    for r in rows:
        c = counters.get(r.get("iccid") or "")
        cfg = limits.get(r["name"])
        daily_limit, total_limit = (cfg.daily_limit, cfg.total_limit) if cfg else (-1, -1)
        over_daily, over_total = overrides.get(r["name"], (None, None))
        daily_limit = daily_limit if over_daily is None else over_daily
        total_limit = total_limit if over_total is None else over_total
        out.append({**r, "daily_sent": c.daily_sent if c else 0, "total_sent": c.total_sent if c else 0,
                    "daily_left": remaining(daily_limit, c.daily_sent if c else 0),
                    "total_left": remaining(total_limit, c.total_sent if c else 0)})
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


def status(config: Config, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sms-agent status", description="Queue and lines summary.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    store = _store(config)
    try:
        depths = store.queue_depths()
        rows = store.lines()
    finally:
        store.close()
    ready = sum(1 for r in rows if r.get("state") in ("ready", "busy") and r.get("registered"))
    summary = {"box": config.agent.id, "queue": depths, "lines": len(rows), "lines_ready": ready}
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"box {config.agent.id}: {ready}/{len(rows)} line(s) ready")
    print("queue: " + ", ".join(f"{_STATUS_WORDS.get(k, k)} {v}" for k, v in depths.items()))
    return 0
