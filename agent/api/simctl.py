"""The simulator's controls over HTTP: play the network to an agent on simulated modems.

Mounted by :func:`agent.api.web.create_app` only when the agent runs on the
simulated bank (no ``[line:*]`` section), so they never exist on a box with
real modems.  They are open (no credentials): whoever can reach the port can
already send SMS through the agent's APIs, and here there is no network to
fool.  Bind ``[http] host`` to 127.0.0.1 when the box is shared.

Everything is JSON in and out, under ``/sim/lines``; ``<line>`` is the
agent's line name (in the simulated agent ``sim1``, ``sim2``...).

=====================================  ==========================================================
``GET  /sim/lines``                    every simulated line: ``line, modem, profile, path,
                                       device, imei, imsi, iccid, number, operator, signal,
                                       registered, plugged, ready, hung, auto_status_reports,
                                       sent, calls`` (counts for the last two)
``GET  /sim/lines/<line>``             one of them
``POST /sim/lines/<line>/sms``         ``{"from", "text", "encoding"?: "gsm7"|"ucs2", "flash"?}``:
                                       the network delivers it (in up to 10 parts) ->
                                       ``{"ok": true, "parts": n}``
``POST /sim/lines/<line>/call``        ``{"from", "rings"?: 1..20 (3), "interval"?: s (0.2)}``
``POST /sim/lines/<line>/fail``        ``{"cms": 0..999, "count"?: 1..1000}``: the next
                                       ``count`` sends answer ``+CMS ERROR: <cms>``
``POST /sim/lines/<line>/state``       any of ``{"signal": 0..31|99, "registered": bool,
                                       "reg_status": 0..5, "operator": str, "auto_reports": bool}``
``POST /sim/lines/<line>/hang``        the modem stops answering (``/unhang`` undoes it)
``POST /sim/lines/<line>/unplug``      the USB plug is pulled: the tty vanishes
``POST /sim/lines/<line>/replug``      ``{"new_path"?: bool}`` -> ``{"ok": true, "path", "device"}``
``POST /sim/lines/<line>/report``      ``{"reference": 0..255, "status"?: 0..255}``: a status report
``GET  /sim/lines/<line>/sent``        what the modem was asked to send, decoded: ``[{recipient,
                                       text, encoding, parts, references, srr, flash, complete}]``
=====================================  ==========================================================

Status reports need no control: the simulated network answers every message
sent with a report request by itself (status 0, delivered) after its report
delay.  ``"auto_reports": false`` stops that, so that ``/report`` can play a
late or failed delivery (e.g. status 70) instead.  Messages for a modem that
cannot take them (unplugged, unregistered, SIM full) wait in the network as
with a real SMSC, and arrive once it can.

Errors: an unknown line is 404; a body that is not a JSON object, an unknown
key, a wrong type, an out-of-range value or a text with a lone surrogate is 400; a simulator that is
stopping or out of ptys is 503; each with ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import bottle

from ..codec import parts as sms_parts
from ..errors import CodecError

if TYPE_CHECKING:
    from ..core import Core
    from ..sim.modem import SimModem

_NUMBER = re.compile(r"\+?[0-9*#]{1,20}")
_OPERATOR = re.compile(r"[^\x00-\x1f\"]{1,16}")  # printed inside quotes by +COPS
_SENDER = re.compile(r".{1,20}", re.S)  # a number, or a name the codec checks (at most 11 GSM septets)


class _Reply(Exception):
    """Ends a request with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Body:
    """The request's JSON object, read once; every getter raises a 400 naming the key.

    An empty body counts as ``{}``.  Keys outside ``allowed`` are refused, so
    that a typo does not silently do nothing.
    """

    def __init__(self, allowed: set[str]) -> None:
        raw = bottle.request.body.read()
        try:
            data = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Reply(400, f"body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise _Reply(400, "body must be a JSON object")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise _Reply(400, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        self.data: dict[str, Any] = data

    def text(self, key: str, *, default: str | None = None, pattern: re.Pattern[str] | None = None,
             max_len: int = 100) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise _Reply(400, f"{key}: required")
        if not isinstance(value, str):
            raise _Reply(400, f"{key}: must be a string")
        if len(value) > max_len:
            raise _Reply(400, f"{key}: longer than {max_len} characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Reply(400, f"{key}: not valid Unicode (a lone surrogate)") from None
        if pattern is not None and not pattern.fullmatch(value):
            raise _Reply(400, f"{key}: invalid value {value[:40]!r}")
        return value

    def integer(self, key: str, low: int, high: int, *, default: int | None = None) -> int:
        value = self.data.get(key, default)
        if value is None:
            raise _Reply(400, f"{key}: required")
        if type(value) is not int:  # JSON true is a Python int: refused too
            raise _Reply(400, f"{key}: must be an integer")
        if not low <= value <= high:
            raise _Reply(400, f"{key}: {value} is outside {low}..{high}")
        return value

    def number(self, key: str, low: float, high: float, *, default: float) -> float:
        value = self.data.get(key, default)
        if type(value) not in (int, float):
            raise _Reply(400, f"{key}: must be a number")
        if not low <= value <= high:
            raise _Reply(400, f"{key}: {value} is outside {low:g}..{high:g}")
        return float(value)

    def flag(self, key: str, *, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise _Reply(400, f"{key}: must be true or false")
        return value


def _json(status: int, obj: Any) -> bottle.HTTPResponse:
    # An HTTPResponse (unlike HTTPError) bypasses the app's text/plain error pages.
    try:
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate echoed from the request (an unknown key): \u escapes
        body = json.dumps(obj).encode("ascii")
    return bottle.HTTPResponse(body, status,
                               {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"})


def _describe(line: str, modem: SimModem) -> dict[str, Any]:
    """A line's simulated modem and the world around it, as ``GET /sim/lines`` shows it."""
    world = modem.world
    return {
        "line": line, "modem": modem.name, "profile": modem.profile.name, "path": modem.path,
        "device": modem.device, "imei": modem.imei, "imsi": modem.imsi, "iccid": modem.iccid,
        "number": modem.number, **world, "plugged": modem.plugged, "ready": modem.ready,
        "auto_status_reports": modem.auto_status_reports, "sent": len(modem.sent), "calls": len(modem.calls),
    }


class _Controls:
    """The handlers; each returns a JSON-able value or raises :class:`_Reply`."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def modem(self, line: str) -> SimModem:
        """Given an agent line name, return its simulated modem; 404 when there is none."""
        config = self.core.lines.get(line)
        if config is None or self.core.sim is None:
            raise _Reply(404, f"no line named {line!r}")
        modems = self.core.sim.modems
        # Lines are named after their modems; a line configured by path is matched by path.
        found = next((m for m in modems if m.name == line), None) or next(
            (m for m in modems if m.path == config.device), None)
        if found is None:
            raise _Reply(404, f"line {line!r} is not on a simulated modem")
        return found

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.core.line_names():
            try:
                out.append(_describe(line, self.modem(line)))
            except _Reply:
                continue  # a line on a real port, beside the simulated ones
        return out

    def line(self, line: str) -> dict[str, Any]:
        return _describe(line, self.modem(line))

    def sms(self, line: str) -> dict[str, Any]:
        modem = self.modem(line)
        body = _Body({"from", "text", "encoding", "flash"})
        sender = body.text("from", pattern=_SENDER)
        text = body.text("text", max_len=10_000)  # the split below says how many parts are too many
        encoding = body.data.get("encoding")
        if encoding not in (None, "gsm7", "ucs2"):
            raise _Reply(400, "encoding: must be gsm7 or ucs2 (or absent: gsm7 when the text fits it)")
        flash = body.flag("flash", default=False)
        try:
            # The same split the simulated network makes: counts the parts, refuses what it would refuse.
            count = len(sms_parts.split(text, encoding=encoding))
            modem.deliver(sender, text, encoding=encoding, flash=flash)
        except CodecError as exc:
            raise _Reply(400, f"cannot be sent as an SMS: {exc}") from None
        return {"ok": True, "parts": count}

    def call(self, line: str) -> dict[str, Any]:
        modem = self.modem(line)
        body = _Body({"from", "rings", "interval"})
        caller = body.text("from", pattern=_NUMBER)
        rings = body.integer("rings", 1, 20, default=3)
        interval = body.number("interval", 0.05, 10.0, default=0.2)
        modem.ring(caller, rings, interval)
        return {"ok": True}

    def fail(self, line: str) -> dict[str, Any]:
        modem = self.modem(line)
        body = _Body({"cms", "count"})
        cms = body.integer("cms", 0, 999)
        count = body.integer("count", 1, 1000, default=1)
        modem.fail_next_send(cms, count)
        return {"ok": True}

    def state(self, line: str) -> dict[str, Any]:
        modem = self.modem(line)
        body = _Body({"signal", "registered", "reg_status", "operator", "auto_reports"})
        if not body.data:
            raise _Reply(400, "nothing to change: give signal, registered, reg_status, operator or auto_reports")
        signal = registered = reg_status = operator = None
        if "signal" in body.data:
            signal = body.integer("signal", 0, 99)
            if 31 < signal < 99:
                raise _Reply(400, f"signal: {signal} is neither 0..31 nor 99 (unknown)")
        if "registered" in body.data:
            registered = body.flag("registered", default=True)
        if "reg_status" in body.data:
            reg_status = body.integer("reg_status", 0, 5)
        if "operator" in body.data:
            operator = body.text("operator", pattern=_OPERATOR)
        auto_reports = body.flag("auto_reports", default=True) if "auto_reports" in body.data else None
        if auto_reports is not None:
            modem.auto_status_reports = auto_reports
        if body.data.keys() - {"auto_reports"}:
            modem.set_state(signal, registered, operator, reg_status=reg_status)
        return {"ok": True}

    def simple(self, action: str) -> Callable[[str], dict[str, Any]]:
        """A control without arguments (hang, unhang, unplug) as a handler."""

        def handler(line: str) -> dict[str, Any]:
            modem = self.modem(line)
            _Body(set())
            getattr(modem, action)()
            return {"ok": True}

        return handler

    def replug(self, line: str) -> dict[str, Any]:
        modem = self.modem(line)
        new_path = _Body({"new_path"}).flag("new_path", default=False)
        path = modem.replug(new_path=new_path)
        return {"ok": True, "path": path, "device": modem.device}

    def report(self, line: str) -> dict[str, Any]:
        modem = self.modem(line)
        body = _Body({"reference", "status"})
        modem.status_report(body.integer("reference", 0, 255), body.integer("status", 0, 255, default=0))
        return {"ok": True}

    def sent(self, line: str) -> list[dict[str, Any]]:
        return [
            {"recipient": s.recipient, "text": s.text, "encoding": s.encoding, "parts": len(s.parts),
             "references": list(s.references), "srr": s.srr, "flash": s.flash, "complete": s.complete}
            for s in self.modem(line).sent
        ]


def _handler(fn: Callable[..., Any]) -> Callable[..., bottle.HTTPResponse]:
    def handle(**kw: str) -> bottle.HTTPResponse:
        try:
            return _json(200, fn(**kw))
        except _Reply as reply:
            return _json(reply.status, {"error": str(reply)})
        except (RuntimeError, TimeoutError, OSError) as exc:
            # The bank is stopping (RuntimeError), its thread did not run the control
            # in time, or the box refused a new pty on replug: none is the client's fault.
            return _json(503, {"error": f"simulator unavailable: {exc or 'timed out'}"})

    return handle


def mount(app: bottle.Bottle, core: Core) -> None:
    """Add the ``/sim/`` controls (see the module docstring) for ``core.sim`` to ``app``."""
    ctl = _Controls(core)
    app.route("/sim/lines", "GET", _handler(ctl.lines))
    app.route("/sim/lines/<line>", "GET", _handler(ctl.line))
    app.route("/sim/lines/<line>/sent", "GET", _handler(ctl.sent))
    posts: dict[str, Callable[[str], Any]] = {
        "sms": ctl.sms, "call": ctl.call, "fail": ctl.fail, "state": ctl.state, "replug": ctl.replug,
        "report": ctl.report, **{name: ctl.simple(name) for name in ("hang", "unhang", "unplug")},
    }
    for name, fn in posts.items():
        app.route(f"/sim/lines/<line>/{name}", "POST", _handler(fn))
