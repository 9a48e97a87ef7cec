"""The status page as a field technician uses it on a phone: laid out by
headless Chromium at a true 360 x 740 CSS px (DevTools device metrics), with
element boxes from getBoundingClientRect.  Each tile names its modem and
device, its badge takes the tile's colour, recovery is told in plain words,
disruptive actions ask first, every tap target is at least 44 px, the login
is reachable from the top, and the last calls are listed."""

from __future__ import annotations

import re
import threading
from dataclasses import replace

from agent.api import status_data
from agent.api.i18n import Translator
from agent.config import ModemsConfig, StatusConfig
from agent.modem import recovery

from .status_helpers import (Browser, five_lines, make_bank, serve_status, sim_setup, tab,  # noqa: F401
                             wait_until)

PHONE = (360, 740)
TARGET = 44  # px: the smallest tap target (WCAG 2.5.5, Apple and Android guidelines)
CALLER = "+8613700137000"

# The colour of each tile's left edge and of its badge, by tile.
_COLOURS = """Array.prototype.map.call(document.querySelectorAll("article.tile"), function (t) {
  var b = t.querySelector(".badge");
  return {line: t.dataset.line, level: t.dataset.level, edge: getComputedStyle(t).borderLeftColor,
          badge: getComputedStyle(b).backgroundColor, word: b.textContent.trim(),
          dev: t.querySelector(".dev").textContent.trim(),
          step: (t.querySelector(".step") || {textContent: ""}).textContent.trim()};
})"""


def _logged_in(url: str) -> Browser:
    browser = Browser(url)
    page = browser.get("/")[1]
    status, _, _ = browser.post("/status/login", username="admin", password="pw", csrf=browser.csrf(page))
    assert status == 303
    return browser


def _small(boxes: list[dict]) -> list[dict]:
    """The boxes (drawn ones) smaller than a tap target either way."""
    return [b for b in boxes if b["w"] and b["h"] and (b["w"] < TARGET or b["h"] < TARGET)]


def test_tiles_name_modem_and_device_badges_agree_and_calls_are_listed(make_api, sim_setup, serve_status, tmp_path):
    api = five_lines(make_api, sim_setup).api
    api.stack.sim.by_name("sim1").ring(CALLER, times=1)
    wait_until(lambda: api.core.recent_calls(1), what="the call stored")
    url = serve_status(api, StatusConfig(admin_password="pw", refresh=0))
    wait_until(lambda: api.core.lines_view()[4].recovery_step, what="sim5 on a step of the recovery ladder")
    views = {v.name: v for v in api.core.lines_view()}
    with tab(tmp_path, PHONE) as phone:
        tiles = phone.go(url + "/").js(_COLOURS)
        assert phone.js("innerWidth") == 360
        assert [t["line"] for t in tiles] == ["sim1", "sim2", "sim3", "sim4", "sim5"]
        for t in tiles:
            view = views[t["line"]]
            assert view.model and view.device.startswith("/")
            assert t["dev"] == f"{view.model} on {view.device}", t
            assert t["badge"] == t["edge"], t  # one colour per tile
        by_line = {t["line"]: t for t in tiles}
        assert (by_line["sim1"]["level"], by_line["sim1"]["word"]) == ("ok", "online")
        # Online but not registered: a red tile, and a red badge that says why, as the banner does.
        assert (by_line["sim4"]["level"], by_line["sim4"]["word"]) == ("bad", "no network")
        assert by_line["sim4"]["badge"] == "rgb(176, 0, 32)"
        assert by_line["sim2"]["word"] == "no SIM" and by_line["sim3"]["word"] == "daily quota reached"
        assert by_line["sim5"]["word"] == "modem not answering"
        assert by_line["sim5"]["step"].startswith("Not answering: "), by_line["sim5"]
        assert not any(step in t["step"] for t in tiles for step in ("trying:", "quarantine", "reinit", "reopen"))
        (call,) = phone.boxes("#calls li")["#calls li"]
        assert re.fullmatch(r"\d\d:\d\d:\d\d ?sim1 \+86\*{7}7000 · rang once", call["text"]), call
        assert call["x"] >= 0 and call["x"] + call["w"] <= 360
        phone.go(url + "/", _logged_in(url).jar)
        assert CALLER in phone.boxes("#calls li")["#calls li"][0]["text"]  # logged in: the whole number
    shown = _logged_in(url).get("/status.json", headers={})[1]
    assert CALLER in shown and '"calls":[{' in shown


def test_disruptive_actions_ask_first_with_big_buttons(make_api, serve_status, tmp_path):
    api = make_api()
    url = serve_status(api, StatusConfig(admin_password="pw", refresh=0))
    browser = _logged_in(url)
    with tab(tmp_path, PHONE) as phone:
        phone.go(url + "/", browser.jar)
        forms = phone.boxes("article[data-line=sim2] form")["article[data-line=sim2] form"]
        assert [f["text"] for f in forms] == ["Disable", "Restart modem", "Reset today's counter"]
        phone.click("form[action='/status/lines/sim2/disable'] button")
        asked = phone.boxes("#question", "#what", "#yes", "#no")
        assert asked["#question"][0]["text"] == "Disable line sim2?"
        assert "until it is enabled again" in asked["#what"][0]["text"]
        for key in ("#yes", "#no"):
            (box,) = asked[key]
            assert box["h"] >= TARGET and box["w"] >= TARGET and box["y"] + box["h"] <= PHONE[1], (key, box)
        assert asked["#yes"][0]["text"] == "Yes, disable sim2"
        assert api.core.line_state("sim2") != "disabled"  # asking changed nothing
        phone.click("#yes")
        assert phone.js("document.getElementById('flash').textContent") == "sim2: disabled."
        wait_until(lambda: api.core.line_state("sim2") == "disabled", what="sim2 disabled")
        phone.go(url + "/")
        phone.click("form[action='/status/lines/sim2/enable'] button")  # enabling asks nothing
        wait_until(lambda: api.core.line_state("sim2") == "ready", what="sim2 back")
        phone.go(url + "/", browser.jar)
        phone.click("form[action='/status/lines/sim1/reset'] button")
        assert phone.js("document.getElementById('question').textContent") == "Restart the modem of sim1?"
        phone.click("#no")
        assert phone.js("location.pathname") == "/" and phone.js("document.getElementById('flash')") is None
    assert api.core.line_state("sim1") == "ready"


def test_tap_targets_and_the_login_from_the_top_on_a_phone(make_api, sim_setup, serve_status, tmp_path):
    api = five_lines(make_api, sim_setup).api
    url = serve_status(api, StatusConfig(admin_password="pw", refresh=0))
    targets = ("button", "input:not([type=hidden])", "a")
    with tab(tmp_path, PHONE) as phone:
        seen = phone.go(url + "/").boxes("#to-login", "#login", *targets)
        assert seen["page_height"] > 3 * PHONE[1]  # a long page: the login form is far down...
        (link,) = seen["#to-login"]
        assert link["text"] == "Log in" and link["y"] + link["h"] < 260  # ...and a link to it is at the top
        assert seen["#login"][0]["y"] > 2 * PHONE[1]
        for selector in targets:
            assert seen[selector] and not _small(seen[selector]), (selector, _small(seen[selector]))
        phone.click("#to-login", loads=False)
        top = phone.js("document.getElementById('login').getBoundingClientRect().top")
        assert phone.js("location.hash") == "#login" and 0 <= top < PHONE[1] - 100, top
        phone.go(url + "/", _logged_in(url).jar)
        seen = phone.boxes(".top button", *targets)
        (logout,) = seen[".top button"]
        assert logout["text"] == "Log out" and logout["y"] < 260
        assert len(seen["button"]) == 1 + 5 * 3  # log out, three actions on each of five lines
        for selector in targets:
            assert not _small(seen[selector]), (selector, _small(seen[selector]))


def test_the_refresh_keeps_what_was_typed_into_the_login_form(make_api, serve_status, tmp_path):
    url = serve_status(make_api(), StatusConfig(admin_password="pw", refresh=1))
    with tab(tmp_path, PHONE) as phone:
        phone.go(url + "/").js("document.body.dataset.old = 'yes'")
        wait_until(lambda: phone.js("document.body.dataset.old") is None, what="the page refreshed in place")
        # A user name typed, then a tap elsewhere (the field lost focus): the refresh waits.
        phone.js("document.querySelector('#login input[name=username]').value = 'adm';"
                 " document.body.dataset.old = 'yes'")
        threading.Event().wait(2.5)
        assert phone.js("document.body.dataset.old") == "yes"
        assert phone.js("document.querySelector('#login input[name=username]').value") == "adm"


def test_recovery_steps_in_plain_words():
    modems = replace(ModemsConfig(), reset_wait=15, reopen_backoff_max=60, quarantine_retry=300)
    en, zh = Translator("en"), Translator("zh")
    words = {step: status_data.recovery_text(step, en, modems) for step in
             (recovery.PING, recovery.REINIT, recovery.RESET, recovery.REOPEN, recovery.QUARANTINE, "later")}
    assert words == {
        "ping": "Not answering: asking it again.",
        "reinit": "Not answering: setting it up again.",
        "reset": "Not answering: restarting the modem (up to 15 s).",
        "reopen": "Not answering: reconnecting to its port, next try within 1 min.",
        "quarantine": "Not answering: taken back once replugged or answering (full retry every 5 min).",
        "later": "Not answering: trying to bring it back.",  # a rung this page does not know yet: no jargon
    }
    assert status_data.recovery_text("", en, modems) == ""
    assert status_data.recovery_text("quarantine", zh, modems) == "无应答：重新插上或恢复应答后立即接回（每 5 分钟完整重试一次）。"
