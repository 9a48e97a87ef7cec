"""The status model: what the page shows and /status.json returns, built from the Core.

:func:`build` reads the Core's line views and read-only queries and the
uplink's state, and returns one JSON-safe dict that follows
:data:`SCHEMA` (README "Status page" documents it).  Nothing here touches a
port; the only write is the database health check, rolled back.
:func:`health` and :func:`line_hint` are the pure rules that say whether the
box, and each line, is OK and what a technician should do.

The uplink (MQTT, written elsewhere) is duck-typed: ``core.uplink`` is None
when MQTT is not configured, else an object with ``connected`` (bool),
``connected_since`` (epoch seconds, an aware datetime, or None) and
``stats()`` (a mapping of names to numbers, short strings or None, passed on
as is; a ``last_error`` string is shown on the page while disconnected) --
as :class:`agent.uplink.mqtt.MqttUplink` has them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..model import BUSY, DISABLED, READY, STARTING
from ..modem import recovery
from . import cms_errors
from .i18n import STRINGS, Translator

if TYPE_CHECKING:
    from ..config import ModemsConfig
    from ..core import Core
    from ..lineview import LineView

SCHEMA_VERSION = 1
CLOCK_MIN_YEAR = 2024  # a Pi without RTC or NTP boots in 1970 (or its last shutdown): quotas then count wrong days
PUSH_LATE_SECONDS = 600.0  # a backlog older than this is worth a technician's attention
DISK_LOW_BYTES = 64 * 1024 * 1024
WEAK_DBM = -103  # 27.007 rssi 5: SMS still works at times, but a better antenna place helps
RECENT = 20

_STR, _INT, _NUM, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
_TIME = {"type": ["string", "null"], "description": "ISO 8601 with the box's UTC offset"}


def _obj(props: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": sorted(props), "additionalProperties": False, **extra}


def _null(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


SCHEMA: dict[str, Any] = _obj({
    "schema_version": {"type": "integer", "enum": [SCHEMA_VERSION]},
    "generated_at": {"type": "string"},
    "masked": {**_BOOL, "description": "numbers partly hidden and texts null (not logged in)"},
    "health": _obj({
        "level": {"type": "string", "enum": ["green", "amber", "red"]},
        "title": _STR,
        "reasons": {"type": "array", "items": _obj({
            "level": {"type": "string", "enum": ["amber", "red"]},
            "code": {"type": "string", "enum": ["no_lines", "none_usable", "some_unusable", "database", "clock",
                                                "mqtt", "push", "disk"]},
            "text": _STR})},
        "summary": _STR,
    }),
    "box": _obj({"id": _STR, "version": _STR, "started_at": _TIME, "uptime_seconds": {**_NUM, "minimum": 0},
                 "now": _TIME, "timezone": _STR, "utc_offset": _STR, "clock_ok": _BOOL, "language": _STR}),
    "database": _obj({"writable": _BOOL, "error": _null(_STR), "disk_free_bytes": _null(_INT)}),
    "mqtt": _obj({"configured": _BOOL, "connected": _null(_BOOL), "connected_since": _TIME,
                  "stats": {"type": "object"}}),
    "push": _obj({
        "backlog": {**_INT, "minimum": 0}, "dropped": {**_INT, "minimum": 0},
        "oldest_age_seconds": _null(_NUM),
        "destinations": {"type": "array", "items": _obj({
            "name": _STR, "pending": {**_INT, "minimum": 0}, "dropped": {**_INT, "minimum": 0},
            "oldest_age_seconds": _null(_NUM)})},
    }),
    "queue": _obj({k: {**_INT, "minimum": 0} for k in ("unsent", "sending", "sent", "failed", "sent_today",
                                                        "failed_today")}),
    "lines": {"type": "array", "items": _obj({
        "name": _STR, "index": {**_INT, "minimum": 1}, "provider": _STR,
        "state": {"type": "string", "enum": ["starting", "ready", "busy", "recovering", "offline", "disabled",
                                             "stopped"]},
        "online": _BOOL, "enabled": _BOOL, "usable": _BOOL, "registered": _BOOL, "roaming": _BOOL,
        "registration": _null(_INT), "sim_status": _STR, "operator": _STR, "signal_dbm": _null(_INT),
        "signal_bars": {**_INT, "minimum": 0, "maximum": 4}, "iccid_tail": _STR, "imei_tail": _STR,
        "device": _STR, "model": _STR,
        "sent_today": {**_INT, "minimum": 0}, "failed_today": {**_INT, "minimum": 0},
        "daily_sent": {**_INT, "minimum": 0}, "daily_limit": _null(_INT), "daily_left": _null(_INT),
        "total_sent": {**_INT, "minimum": 0}, "total_limit": _null(_INT), "total_left": _null(_INT),
        "last_error": _null(_obj({"kind": _STR, "code": _null(_INT), "meaning": _STR, "text": _STR, "at": _TIME})),
        "last_send_at": _TIME, "recovery_step": _STR,
        "level": {"type": "string", "enum": ["ok", "warn", "bad", "off"]},
        "hint": _null(_obj({"code": _STR, "text": _STR})),
    })},
    "received": {"type": "array", "maxItems": RECENT, "items": _obj({
        "id": _INT, "line": _null(_STR), "originator": _STR, "text": _null(_STR), "received_at": _TIME,
        "parts": _INT, "error": _null(_STR)})},
    "calls": {"type": "array", "maxItems": RECENT, "items": _obj({
        "id": _INT, "line": _null(_STR), "caller": {**_STR, "description": "'' when withheld"}, "at": _TIME,
        "rings": {**_INT, "minimum": 1}})},
    "failures": {"type": "array", "maxItems": RECENT, "items": _obj({
        "id": _INT, "line": _null(_STR), "recipient": _STR, "text": _null(_STR), "error_code": _null(_INT),
        "error_meaning": _null(_STR), "failure_cause": _null(_STR), "in_doubt": _BOOL, "at": _TIME})},
})


@dataclass(frozen=True)
class Context:
    """What the model needs beside the Core: the box's id, its time zone (None:
    the system's) and that zone's name, when the agent started serving and
    now (epochs), the language, and whether numbers and texts may be shown."""

    box_id: str
    tz: tzinfo | None
    tz_name: str
    started: float
    now: float
    language: str = "en"
    unmasked: bool = False


def mask_number(number: str) -> str:
    """Hide the middle of a phone number: '+8613912345678' -> '+86*******5678';
    5-8 characters keep their last 2, shorter ones are hidden whole."""
    n = len(number)
    if n >= 9:
        return number[:3] + "*" * (n - 7) + number[-4:]
    if n >= 5:
        return "*" * (n - 2) + number[-2:]
    return "*" * n


def signal_bars(dbm: int | None) -> int:
    """0-4 bars from dBm, as phones show them (unknown: 0)."""
    if dbm is None:
        return 0
    return sum(dbm >= edge for edge in (-103, -93, -83, -73))


def line_hint(line: LineView) -> tuple[str, str]:
    """Given a line's view, return (hint code, level): what is wrong in the
    order a technician should fix it, '' when nothing is; level 'ok', 'warn',
    'bad' or 'off' (disabled on purpose)."""
    sim = line.sim_status.upper()
    if line.state == DISABLED:
        return "disabled", "off"
    # A line whose SIM failed keeps retrying (through 'starting'): the SIM's
    # last answer stays the verdict until it reads READY.
    if sim and sim != "READY" and line.state not in (READY, BUSY):
        if "NOT INSERTED" in sim:
            return "no_sim", "bad"
        if "PUK" in sim:
            return "sim_puk", "bad"
        if "PIN" in sim:
            return "sim_pin", "bad"
        return "sim_failure", "bad"
    if line.state == STARTING:
        return "starting", "warn"
    if line.state not in (READY, BUSY):
        return "not_answering", "bad"
    if not line.registered:
        return ("denied" if line.registration == 3 else "no_network"), "bad"
    if line.total_left == 0:
        return "total_quota", "bad"
    if line.daily_left == 0:
        return "daily_quota", "bad"
    if line.signal_dbm is not None and line.signal_dbm <= WEAK_DBM:
        return "weak_signal", "warn"
    return "", "ok"


def badge(line: dict[str, Any], tr: Translator) -> str:
    """The word on a line's badge, which takes the tile's colour (its ``level``):
    the state ('online', 'online, sending') while the line is fine, else the
    short form of its hint ('no network', 'no SIM'...), as the banner names it."""
    if line["hint"] is None:
        return tr(f"state_{line['state']}")
    return tr(f"short_{line['hint']['code']}")


def recovery_text(step: str, tr: Translator, modems: ModemsConfig) -> str:
    """Given a line's recovery step ('' when none), what the agent is doing
    about its modem in plain words, with when it tries next from the
    ``[modems]`` timings ('' for no step)."""
    if not step:
        return ""
    waits = {recovery.RESET: modems.reset_wait, recovery.REOPEN: modems.reopen_backoff_max,
             recovery.QUARANTINE: modems.quarantine_retry}
    key = f"recovery_{step}"
    if key not in STRINGS:  # a step this page has no words for yet
        return tr("recovery_other")
    # A wait below a second (tests' timings) reads "1 s", not "0 s".
    return tr(key, wait=tr.duration(max(1.0, waits[step]))) if step in waits else tr(key)


def health(lines: list[dict[str, Any]], *, db_error: str, clock_ok: bool, now_text: str,
           mqtt: dict[str, Any], push: dict[str, Any], disk_free: int | None, tr: Translator) -> dict[str, Any]:
    """The box's verdict: red when nothing can be sent or stored, amber when
    something needs a look, else green; each reason in words, worst first."""
    reasons: list[dict[str, str]] = []

    def add(level: str, code: str, text: str) -> None:
        reasons.append({"level": level, "code": code, "text": text})

    if db_error:
        add("red", "database", tr("reason_db", error=db_error))
    enabled = [ln for ln in lines if ln["enabled"]]
    broken = [ln for ln in enabled if not ln["usable"]]
    named = ", ".join(f"{ln['name']} ({tr('short_' + ln['hint']['code']) if ln['hint'] else ln['state']})"
                      for ln in broken)
    if not lines:
        add("red", "no_lines", tr("reason_no_lines"))
    elif len(broken) == len(enabled):
        add("red", "none_usable", tr("reason_none_usable", lines=named or tr("state_disabled")))
    elif broken:
        add("amber", "some_unusable", tr("reason_some_unusable", bad=len(broken), n=len(enabled), lines=named))
    if not clock_ok:
        add("amber", "clock", tr("reason_clock", now=now_text))
    if mqtt["configured"] and not mqtt["connected"]:
        add("amber", "mqtt", tr("reason_mqtt"))
    age = push["oldest_age_seconds"]
    if push["backlog"] and age is not None and age > PUSH_LATE_SECONDS:
        add("amber", "push", tr("reason_push", n=push["backlog"], age=tr.duration(age)))
    if disk_free is not None and disk_free < DISK_LOW_BYTES:
        add("amber", "disk", tr("reason_disk", free=human_bytes(disk_free)))
    reasons.sort(key=lambda r: r["level"] != "red")
    level = reasons[0]["level"] if reasons else "green"
    summary = reasons[0]["text"] if reasons else tr("reason_all_ok", n=len(enabled))
    return {"level": level, "title": tr(f"health_{level}"), "reasons": reasons, "summary": summary}


def human_bytes(n: int) -> str:
    """'512 KiB', '37 MiB', '3.2 GiB'."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    if n >= 1 << 20:
        return f"{n >> 20} MiB"
    return f"{n >> 10} KiB"


class _Clock:
    """Turns the times the sources give into ISO 8601 text in the box's zone."""

    def __init__(self, tz: tzinfo | None) -> None:
        self.tz = tz

    def epoch(self, value: float | None) -> str | None:
        return None if value is None else datetime.fromtimestamp(value, self.tz).astimezone(self.tz).isoformat(
            timespec="seconds")

    def aware(self, value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(self.tz).isoformat(timespec="seconds")

    def local_text(self, value: str | None) -> str | None:
        """A store DATETIME (naive local text) as ISO 8601 with its offset."""
        if not value:
            return None
        try:
            naive = datetime.fromisoformat(str(value))
        except ValueError:
            return None
        local = naive.replace(tzinfo=self.tz) if self.tz is not None else naive.astimezone()
        return local.isoformat(timespec="seconds")


def build(core: Core, ctx: Context) -> dict[str, Any]:
    """Given the Core and the :class:`Context`, return the status model (see
    :data:`SCHEMA`).  Raise whatever the store raises when it cannot be read."""
    tr = Translator(ctx.language)
    clock = _Clock(ctx.tz)
    now = datetime.fromtimestamp(ctx.now, ctx.tz).astimezone(ctx.tz)
    db_error = core.check_database()
    try:
        stat = os.statvfs(core.database_path.parent)
        disk_free: int | None = stat.f_bavail * stat.f_frsize
    except OSError:
        disk_free = None
    lines = _lines(core, tr, clock)
    mqtt = _mqtt(core, clock)
    push = _push(core.outbox_stats(), ctx.now)
    depths = core.queue_depths()
    clock_ok = now.year >= CLOCK_MIN_YEAR
    now_text = now.strftime("%Y-%m-%d %H:%M")
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": now.isoformat(timespec="seconds"),
        "masked": not ctx.unmasked,
        "health": health(lines, db_error=db_error, clock_ok=clock_ok, now_text=now_text, mqtt=mqtt, push=push,
                         disk_free=disk_free, tr=tr),
        "box": {"id": ctx.box_id, "version": __version__, "started_at": clock.epoch(ctx.started),
                "uptime_seconds": max(0.0, round(ctx.now - ctx.started, 1)), "now": now.isoformat(timespec="seconds"),
                "timezone": ctx.tz_name, "utc_offset": now.strftime("%z")[:3] + ":" + now.strftime("%z")[3:],
                "clock_ok": clock_ok, "language": ctx.language},
        "database": {"writable": not db_error, "error": db_error or None, "disk_free_bytes": disk_free},
        "mqtt": mqtt,
        "push": push,
        "queue": {"unsent": depths["U"], "sending": depths["Q"], "sent": depths["S"], "failed": depths["F"],
                  "sent_today": depths["sent_today"], "failed_today": depths["failed_today"]},
        "lines": lines,
        "received": [_received(row, ctx, clock) for row in core.recent_received(RECENT)],
        "failures": [_failure(row, ctx, clock) for row in core.recent_failures(RECENT)],
        "calls": [_call(row, ctx, clock) for row in core.recent_calls(RECENT)],
    }


def _lines(core: Core, tr: Translator, clock: _Clock) -> list[dict[str, Any]]:
    out = []
    for line in core.lines_view():
        code, level = line_hint(line)
        error = cms_errors.describe(line.last_error, tr.language)
        out.append({
            "name": line.name, "index": line.index, "provider": line.provider, "state": line.state,
            "online": line.online, "enabled": line.enabled, "usable": line.usable,
            "registered": line.registered, "roaming": line.registration == 5, "registration": line.registration,
            "sim_status": line.sim_status, "operator": line.operator, "signal_dbm": line.signal_dbm,
            "signal_bars": signal_bars(line.signal_dbm), "iccid_tail": line.iccid[-6:], "imei_tail": line.imei[-6:],
            "device": line.device, "model": line.model,
            "sent_today": line.sent_today, "failed_today": line.failed_today,
            "daily_sent": line.daily_sent, "daily_limit": line.daily_limit, "daily_left": line.daily_left,
            "total_sent": line.total_sent, "total_limit": line.total_limit, "total_left": line.total_left,
            "last_error": None if error is None else {
                "kind": error.kind, "code": error.code, "meaning": error.meaning, "text": error.raw,
                "at": clock.aware(line.last_error_at)},
            "last_send_at": clock.aware(line.last_send_at),
            "recovery_step": line.recovery_step,
            "level": level,
            "hint": {"code": code, "text": tr(f"hint_{code}")} if code else None,
        })
    return out


def _mqtt(core: Core, clock: _Clock) -> dict[str, Any]:
    uplink = getattr(core, "uplink", None)
    if uplink is None:
        return {"configured": False, "connected": None, "connected_since": None, "stats": {}}
    since = getattr(uplink, "connected_since", None)
    try:
        raw = dict(uplink.stats())
    except Exception:  # a stats() that fails must not take the page down
        raw = {}
    stats = {str(k): v for k, v in raw.items() if v is None or isinstance(v, (bool, int, float, str))}
    return {"configured": True, "connected": bool(getattr(uplink, "connected", False)),
            "connected_since": clock.aware(since) if isinstance(since, datetime) else clock.epoch(since),
            "stats": stats}


def _push(stats: dict[str, dict[str, Any]], now: float) -> dict[str, Any]:
    destinations = []
    for name, s in sorted(stats.items()):
        oldest = s.get("oldest")
        destinations.append({"name": name, "pending": int(s.get("pending") or 0), "dropped": int(s.get("dropped") or 0),
                             "oldest_age_seconds": None if oldest is None else max(0.0, round(now - oldest, 1))})
    ages = [d["oldest_age_seconds"] for d in destinations if d["oldest_age_seconds"] is not None]
    return {"backlog": sum(d["pending"] for d in destinations), "dropped": sum(d["dropped"] for d in destinations),
            "oldest_age_seconds": max(ages) if ages else None, "destinations": destinations}


def _received(row: dict[str, Any], ctx: Context, clock: _Clock) -> dict[str, Any]:
    sender = row["originator"] or ""
    return {"id": row["id"], "line": row["line"], "originator": sender if ctx.unmasked else mask_number(sender),
            "text": (row["text"] or "") if ctx.unmasked else None, "received_at": clock.local_text(row["received_at"]),
            "parts": int(row["parts"] or 1), "error": row["error"]}


def _failure(row: dict[str, Any], ctx: Context, clock: _Clock) -> dict[str, Any]:
    code = row["error_code"]
    recipient = row["recipient"] or ""
    return {"id": row["id"], "line": row["line"],
            "recipient": recipient if ctx.unmasked else mask_number(recipient),
            "text": (row["text"] or "") if ctx.unmasked else None, "error_code": code,
            "error_meaning": None if code is None else cms_errors.meaning("CMS", code, ctx.language),
            "failure_cause": row["failure_cause"], "in_doubt": row["in_doubt"], "at": clock.epoch(row["at"])}


def _call(row: dict[str, Any], ctx: Context, clock: _Clock) -> dict[str, Any]:
    caller = row["caller"] or ""
    return {"id": row["id"], "line": row["line"], "caller": caller if ctx.unmasked else mask_number(caller),
            "at": clock.local_text(row["at"]), "rings": max(1, int(row["rings"] or 1))}
