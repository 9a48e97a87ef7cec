"""Helpers for the status page tests: an agent whose lines are in different
states, a second server with [status] settings, a cookie-keeping client,
headless Chromium, and a PNG pixel reader (no imaging library needed)."""

from __future__ import annotations


import html
import re
import shutil
import struct
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, replace
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from ..waiting import wait_until as _wait_until

from agent.api.web import create_app
from agent.api.server import HttpServer
from agent.config import StatusConfig
from agent.config import Config

from ..conftest import FAST
from ..queue_harness import msg
from .devtools import Tab

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
SENDER = "+8613800138000"
RECIPIENT = "+8613912345678"


def wait_until(predicate: Any, timeout: float = 15.0, what: Any = "condition") -> Any:
    """:func:`tests.waiting.wait_until` with this suite's default timeout."""
    return _wait_until(predicate, timeout, what)

def with_status(config: Config, status: StatusConfig) -> Config:
    """The config with this [status] section."""
    return replace(config, status=status)


@pytest.fixture
def serve_status(make_api):
    """serve_status(api, StatusConfig(...)) -> the URL of the same agent served once
    more with those [status] settings; stopped before the agent."""
    servers: list[HttpServer] = []

    def serve(api: Any, status: StatusConfig) -> str:
        server = HttpServer(create_app(api.core, with_status(api.config, status)), host="127.0.0.1", port=0)
        server.start()
        servers.append(server)
        return server.url

    yield serve
    for server in servers:
        server.stop()


@pytest.fixture
def sim_setup() -> dict:
    """{modem name: fn(modem)}: applied to the simulated modems before the agent opens them."""
    return {}


@pytest.fixture
def make_bank(make_bank, sim_setup):
    """conftest's make_bank, then ``sim_setup`` applied (a SIM removed before start...)."""

    def make(profiles=("generic",), **kw: Any) -> Any:
        bank = make_bank(profiles, **kw)
        for modem in bank:
            if modem.name in sim_setup:
                sim_setup[modem.name](modem)
        return bank

    return make


class Browser:
    """urllib with cookies and without following redirects: a person's browser, roughly."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    def __init__(self, url: str) -> None:
        self.url = url
        self.jar = CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), self._NoRedirect)

    def request(self, method: str, path: str, form: dict | None = None,
                headers: dict | None = None) -> tuple[int, str, dict[str, str]]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        try:
            with self._opener.open(req, timeout=40) as resp:
                return resp.status, resp.read().decode(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(), dict(err.headers)

    def get(self, path: str = "/", **kw: Any) -> tuple[int, str, dict[str, str]]:
        return self.request("GET", path, **kw)

    def post(self, path: str, **form: str) -> tuple[int, str, dict[str, str]]:
        return self.request("POST", path, form)

    def csrf(self, page: str) -> str:
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert found, "no CSRF token on the page"
        return found.group(1)


@dataclass
class Scenario:
    api: Any
    sim: Any


def five_lines(make_api: Any, sim_setup: dict) -> Scenario:
    """sim1 ok (one SMS received, one sent, one failed with CMS 21), sim2 no SIM
    (removed before the agent opened it), sim3 daily quota reached (limit 1,
    one sent), sim4 no network, sim5 hung."""
    sim_setup["sim2"] = lambda modem: modem.insert_sim(False)
    api = make_api(("generic",) * 5, modems=replace(FAST, health_interval=1.0),
                   lines={"sim1": {"provider": "cmcc"}, "sim2": {"provider": "cmcc"},
                          "sim3": {"provider": "unicom", "daily_limit": 1}, "sim4": {"provider": "unicom"}})
    sim = api.stack.sim
    stack = api.stack
    sim.by_name("sim1").deliver(SENDER, "Meter 42 reading OK")
    sim.by_name("sim5").hang()
    sim.by_name("sim4").set_state(registered=False)
    ok, quota = stack.send(msg(RECIPIENT, "first", gateway="sim1"), msg(RECIPIENT, "quota", gateway="sim3"))
    stack.wait_rows([ok, quota], lambda r: r["status"] == "S")
    sim.by_name("sim1").fail_next_send(21)
    (failed,) = stack.send(msg(RECIPIENT, "refused text", gateway="sim1"))
    stack.wait_rows([failed], lambda r: r["status"] == "F")
    states = lambda: {s.name: s for s in api.core.bank.states()}  # noqa: E731
    wait_until(lambda: not states()["sim4"].registered, what="sim4 losing the network")
    wait_until(lambda: states()["sim5"].state in ("recovering", "offline"), what="sim5 noticed hung")
    wait_until(lambda: api.core.store.status.recent_received(1), what="the SMS stored")
    return Scenario(api, sim)


def chromium(url: str, tmp: Path, *, size: tuple[int, int], screenshot: Path | None = None,
             budget_ms: int = 0) -> str:
    """Render ``url`` headless at ``size``; return the DOM (or '' with a screenshot).
    ``budget_ms`` lets the page's timers run that long (virtual time) first."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/test installs it)")
    profile = tmp / f"chromium-{time.monotonic_ns()}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
           "--force-device-scale-factor=1", f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"]
    cmd += [f"--virtual-time-budget={budget_ms}"] if budget_ms else []
    cmd += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    done = subprocess.run([*cmd, url], capture_output=True, timeout=60, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    if screenshot:
        assert screenshot.exists() and screenshot.stat().st_size > 1000, done.stderr[-2000:]
    return done.stdout


def tab(tmp: Path, size: tuple[int, int] = (360, 740), *, mobile: bool = True) -> Tab:
    """A DevTools-driven Chromium page of ``size`` CSS px (see :mod:`.devtools`);
    use it as a context manager.  Skips when Chromium is missing."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/test installs it)")
    return Tab(CHROMIUM, tmp / f"chromium-{time.monotonic_ns()}", width=size[0], height=size[1], mobile=mobile)


def text_of(fragment: str) -> str:
    """What a person reads in an HTML fragment: tags dropped, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def tiles(dom: str) -> dict[str, str]:
    return {name: text_of(body) for name, body in
            re.findall(r'<article[^>]*data-line="([^"]+)"[^>]*>(.*?)</article>', dom, re.S)}


def banner(dom: str) -> tuple[str, str]:
    found = re.search(r'<header[^>]*data-level="(\w+)"[^>]*>(.*?)</header>', dom, re.S)
    assert found, "no health banner"
    return found.group(1), text_of(found.group(2))


def png_pixel(path: Path, x: int, y: int) -> tuple[int, int, int]:
    """The RGB of one pixel of an 8-bit RGB/RGBA, non-interlaced PNG (Chromium's)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG format"
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev = bytearray(stride)
    for row in range(y + 1):  # unfilter rows up to y
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
    r, g, b = prev[x * bpp:x * bpp + 3]
    return r, g, b
