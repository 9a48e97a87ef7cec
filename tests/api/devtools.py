"""Headless Chromium driven over its DevTools pipe, for tests that need a page
laid out at a phone's true width: ``--dump-dom`` never lays a page out
narrower than 500 px, whatever ``--window-size`` says, while
``Emulation.setDeviceMetricsOverride`` gives 360 px exactly (and honours the
viewport meta tag, as a phone does).

:class:`Tab` opens one page: :meth:`Tab.go` loads a URL (with the cookies of
a :class:`~http.cookiejar.CookieJar`), :meth:`Tab.js` evaluates an expression,
:meth:`Tab.boxes` measures elements with ``getBoundingClientRect``,
:meth:`Tab.click` follows a link or submits a form, and :meth:`Tab.screenshot`
saves the whole page as a PNG.  Commands go as NUL-terminated JSON on the
browser's fd 3 and answers come back on its fd 4 (``--remote-debugging-pipe``).
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import sys
import time
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

_LAUNCH = """import fcntl, os, sys
ends = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3]]
os.dup2(ends[0], 3)
os.dup2(ends[1], 4)
os.execv(sys.argv[3], sys.argv[3:])"""

# Page coordinates and size (CSS px) of what each selector matches, and the first 80 characters of its text.
_BOXES = """(function (sels) {
  var out = {page_height: document.documentElement.scrollHeight, viewport_width: innerWidth};
  sels.forEach(function (s) {
    out[s] = Array.prototype.map.call(document.querySelectorAll(s), function (e) {
      var r = e.getBoundingClientRect();
      return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height,
              text: e.textContent.replace(/\\s+/g, " ").trim().slice(0, 80)};
    });
  });
  return out;
})(%s)"""


class Tab:
    """One headless Chromium with one page of ``width`` x ``height`` CSS px
    (``mobile``: a phone's viewport and touch).  A context manager; closed on exit."""

    def __init__(self, chromium: str, profile: Path, *, width: int = 360, height: int = 740,
                 mobile: bool = True, timeout: float = 30.0) -> None:
        self.timeout = timeout
        to_browser, self._out = os.pipe()
        self._in, from_browser = os.pipe()
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        # The browser reads fd 3 and writes fd 4: a small launcher puts the pipes' ends there
        # (first above 9, so that moving one cannot overwrite the other).
        self._proc = subprocess.Popen([sys.executable, "-c", _LAUNCH, str(to_browser), str(from_browser), *cmd],
                                      pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable")
        self.send("Network.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def __enter__(self) -> Tab:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._send("Browser.close")
        except (OSError, TimeoutError, AssertionError):
            pass
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._out)
        os.close(self._in)

    # --- the protocol ------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a command on the page's session; return its result (AssertionError on an error)."""
        return self._send(method, params, session=self._session)

    def _send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next_id:
                assert "error" not in answer, f"{method}: {answer['error']}"
                return answer.get("result", {})
            if "method" in answer:
                self._events.append(answer)

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._in, 65536)
            if not chunk:
                raise OSError("Chromium closed its pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def _wait_event(self, method: str) -> dict[str, Any]:
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == method:
                    return self._events.pop(i)
            self._events.append(self._read())

    # --- what a test does ------------------------------------------------------------------

    def go(self, url: str, cookies: CookieJar | None = None) -> Tab:
        """Load ``url`` (with ``cookies``) and wait for its load event."""
        for cookie in cookies or ():
            self.send("Network.setCookie", {"name": cookie.name, "value": cookie.value or "", "url": url,
                                            "path": cookie.path or "/"})
        self._events.clear()
        self.send("Page.navigate", {"url": url})
        self._wait_event("Page.loadEventFired")
        return self

    def js(self, expression: str) -> Any:
        """The value of a JavaScript expression on the page (JSON-able)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def boxes(self, *selectors: str) -> dict[str, Any]:
        """``{selector: [{x, y, w, h, text}, ...], "page_height": px, "viewport_width": px}``:
        where each element a selector matches is drawn (page coordinates, CSS px)."""
        return self.js(_BOXES % json.dumps(list(selectors)))

    def click(self, selector: str, index: int = 0, *, loads: bool = True) -> Tab:
        """Click the ``index``-th element ``selector`` matches; with ``loads``, wait
        for the page that click loads (a form's answer, a link's target)."""
        self._events.clear()
        clicked = self.js(f"(function (e) {{ if (!e) return false; e.click(); return true; }})"
                          f"(document.querySelectorAll({json.dumps(selector)})[{index}])")
        assert clicked, f"nothing matches {selector!r} [{index}]"
        if loads:
            self._wait_event("Page.loadEventFired")
        return self

    def screenshot(self, path: Path) -> Path:
        """Save the whole page (its full height, at the emulated width) as a PNG."""
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
