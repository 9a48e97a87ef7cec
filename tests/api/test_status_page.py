"""The field technician's page, as a person sees it: rendered by headless
Chromium at phone and desktop sizes against an agent on the simulated bank
whose lines are ok, without SIM, at their daily quota, without network and
hung; plus login, CSRF, masking and the Chinese strings over plain HTTP."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import replace

from agent.config import StatusConfig

from ..conftest import FAST
from ..queue_harness import msg
from .conftest import CONFIG
from .status_helpers import (ARTIFACTS, RECIPIENT, SENDER, Browser, banner, chromium, five_lines, make_bank,  # noqa: F401
                             png_pixel, serve_status, sim_setup, tab, text_of, tiles, wait_until)

PHONE, DESKTOP = (360, 740), (1280, 900)
AMBER = (0xFF, 0xC2, 0x1A)


def _close(rgb: tuple[int, int, int], want: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(rgb, want))


def test_page_in_chromium_at_phone_and_desktop_sizes(make_api, sim_setup, tmp_path):
    api = five_lines(make_api, sim_setup).api
    ARTIFACTS.mkdir(exist_ok=True)
    page = api.get("/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert len(page.body) < 30_000, f"the page weighs {len(page.body)} bytes"
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        dom = chromium(api.url + "/", tmp_path, size=size)
        level, words = banner(dom)
        assert level == "amber", words
        assert "NEEDS ATTENTION" in words
        assert "4 of 5 lines cannot send" in words
        assert "sim2 (no SIM)" in words and "sim3 (daily quota reached)" in words
        assert "sim4 (no network)" in words and "sim5 (modem not answering)" in words
        seen = tiles(dom)
        assert list(seen) == ["sim1", "sim2", "sim3", "sim4", "sim5"]
        ok = seen["sim1"]
        assert "online" in ok and "registered" in ok and "Provider: cmcc" in ok
        assert re.search(r"Signal -\d+ dBm", ok) and re.search(r"ICCID …\d{6}", ok) and re.search(r"IMEI …\d{6}", ok)
        assert "Sent today 1 (no limit)" in ok and "Messages today: 1 sent, 1 failed" in ok
        assert "Last error Short message transfer rejected (CMS 21)" in ok
        assert "Last send never" not in ok
        assert "SIM not inserted: insert a SIM card." in seen["sim2"] and "no SIM" in seen["sim2"]
        assert "Daily quota reached, resets at 00:00." in seen["sim3"] and "Sent today 1 / 1" in seen["sim3"]
        assert "No network: check antenna." in seen["sim4"] and "NOT registered" in seen["sim4"]
        assert "Modem not answering: replug USB." in seen["sim5"] and "Last known values" in seen["sim5"]
        shot = ARTIFACTS / f"status-{name}.png"
        chromium(api.url + "/", tmp_path, size=size if name == "desktop" else (360, 1900), screenshot=shot)
        assert _close(png_pixel(shot, 20, 10), AMBER), png_pixel(shot, 20, 10)
    assert "Unsent" in page.text and "Last received (1)" in page.text and "Last failures (1)" in page.text
    assert "Last calls (0)" in page.text
    assert list(tiles(page.text)) == list(seen)  # the same tiles over plain HTTP


def test_page_stays_light_with_full_lists(make_api, serve_status):
    api = make_api(("generic",) * 8)
    now = time.time()
    text = "长" * 70  # a full UCS2 SMS
    for i in range(30):
        api.stack.sql("INSERT INTO smsserver_in (type, originator, text, receive_date, gateway_id, line)"
                      " VALUES ('I', ?, ?, datetime('now', 'localtime'), 'sim1', 'sim1')", (f"+86139{i:08d}", text))
        api.stack.sql("INSERT INTO smsserver_out (recipient, text, create_date, status, line, error_code, updated)"
                      " VALUES (?, ?, datetime('now', 'localtime'), 'F', 'sim2', 21, ?)", (f"+86138{i:08d}", text, now))
        api.stack.sql("INSERT INTO smsserver_calls (call_date, gateway_id, caller_id, rings)"
                      " VALUES (datetime('now', 'localtime'), 'sim1', ?, 3)", (f"+86137{i:08d}",))
    page = api.get("/").text
    assert page.count("<li>") == 60 and "Last received (20)" in page and "Last failures (20)" in page
    assert "Last calls (20)" in page
    assert len(page.encode()) < 30_000, len(page.encode())
    browser = Browser(serve_status(api, StatusConfig(admin_password="pw")))
    browser.post("/status/login", username="admin", password="pw", csrf=browser.csrf(browser.get("/")[1]))
    page = browser.get("/")[1]
    assert text in page and "Logged in as admin." in page
    assert len(page.encode()) < 30_000 + 40 * len(text.encode()), len(page.encode())  # texts shown


def test_all_lines_working_is_green(api):
    page = api.get("/").text
    level, words = banner(page)
    assert level == "green" and words == "OK All 2 lines can send."
    assert "MQTT not configured" in text_of(page)
    assert "Read-only: no admin password is configured" in page  # the default [status]: nobody can log in
    assert 'id="login"' not in page


def test_no_line_able_to_send_is_red(api):
    for name in ("sim1", "sim2"):
        api.core.set_line_enabled(name, False)
    wait_until(lambda: all(s.state == "disabled" for s in api.core.bank.states()), what="lines disabled")
    level, words = banner(api.get("/").text)
    assert level == "red" and words.startswith("NOT WORKING No line can send")
    assert "Line disabled by an operator." in tiles(api.get("/").text)["sim1"]


def _received_one(api) -> None:
    api.stack.sim.by_name("sim1").deliver(SENDER, "secret meter text")
    wait_until(lambda: api.core.store.status.recent_received(1), what="the SMS stored")


def test_numbers_masked_and_texts_hidden_until_login(make_api, serve_status):
    api = make_api()
    _received_one(api)
    url = serve_status(api, StatusConfig(admin_password="field-pass"))
    browser = Browser(url)
    status, page, _ = browser.get("/")
    assert status == 200
    assert "+86*******8000" in page and SENDER not in page
    assert "secret meter text" not in page and "(text hidden: log in to see it)" in page
    status, _, headers = browser.post("/status/login", username="admin", password="field-pass",
                                      csrf=browser.csrf(page))
    assert status == 303 and headers["Location"].endswith("/?msg=logged_in")
    status, page, _ = browser.get("/?msg=logged_in")
    assert "Logged in." in page and "Logged in as admin." in page
    assert SENDER in page and "secret meter text" in page


def test_login_and_actions_need_the_csrf_token(make_api, serve_status):
    api = make_api()
    url = serve_status(api, StatusConfig(admin_password="field-pass"))
    browser = Browser(url)
    _, page, headers = browser.get("/")
    assert "httponly" in headers["Set-Cookie"].lower() and "samesite=strict" in headers["Set-Cookie"].lower()
    token = browser.csrf(page)
    assert browser.post("/status/login", username="admin", password="field-pass")[0] == 403
    assert browser.post("/status/lines/sim2/disable")[0] == 403  # not logged in
    status, _, headers = browser.post("/status/login", username="admin", password="wrong", csrf=token)
    assert status == 303 and "msg=login_failed" in headers["Location"]
    assert browser.post("/status/login", username="admin", password="field-pass", csrf=token)[0] == 303
    _, page, _ = browser.get("/")
    token = browser.csrf(page)
    assert 'action="/status/lines/sim2/disable"' in page
    assert browser.post("/status/lines/sim2/disable")[0] == 403
    assert browser.post("/status/lines/sim2/disable", csrf="0" * 64, confirm="yes")[0] == 403
    assert api.core.bank["sim2"].state.state != "disabled"
    # Without a script: the first POST answers the page that asks, the second does it.
    status, page, _ = browser.post("/status/lines/sim2/disable", csrf=token)
    assert status == 200 and "Disable line sim2?" in page and 'name="confirm" value="yes"' in page
    assert browser.csrf(page) == token and api.core.bank["sim2"].state.state != "disabled"
    status, _, headers = browser.post("/status/lines/sim2/disable", csrf=token, confirm="yes")
    assert status == 303 and headers["Location"].endswith("/?msg=disabled&line=sim2")
    wait_until(lambda: api.core.bank["sim2"].state.state == "disabled", what="sim2 disabled")
    _, page, _ = browser.get("/?msg=disabled&line=sim2")
    assert "sim2: disabled." in page and "Line disabled by an operator." in tiles(page)["sim2"]
    assert browser.post("/status/lines/sim2/enable", csrf=token)[0] == 303
    wait_until(lambda: api.core.bank["sim2"].state.state == "ready", what="sim2 back")
    (sent,) = api.stack.send(msg(RECIPIENT, "count me", gateway="sim2"))
    api.stack.wait_rows([sent], lambda r: r["status"] == "S")
    assert browser.post("/status/lines/sim2/reset-daily", csrf=token)[0] == 200  # asks first
    assert browser.post("/status/lines/sim2/reset-daily", csrf=token, confirm="yes")[0] == 303
    iccid = api.core.bank["sim2"].state.iccid
    assert api.core.store.sims.sim_counters([iccid])[iccid].daily_sent == 0
    status, _, headers = browser.post("/status/logout", csrf=token)
    assert status == 303
    assert browser.post("/status/lines/sim2/disable", csrf=token, confirm="yes")[0] == 403  # the session is gone


def test_login_is_impossible_without_a_password_and_throttled_after_failures(make_api, serve_status):
    api = make_api()
    browser = Browser(api.url)
    status, body, _ = browser.post("/status/login", username="admin", password="", csrf="0" * 64)
    assert status == 403 and "login is off" in body
    browser = Browser(serve_status(api, StatusConfig(admin_password="field-pass")))
    token = browser.csrf(browser.get("/")[1])
    for _ in range(5):
        assert "msg=login_failed" in browser.post("/status/login", username="a", password="b", csrf=token)[2]["Location"]
    _, _, headers = browser.post("/status/login", username="admin", password="field-pass", csrf=token)
    assert "msg=throttled" in headers["Location"]


def test_chinese_strings(make_api, serve_status):
    api = make_api(modems=replace(FAST, health_interval=1.0))
    api.stack.sim.by_name("sim2").set_state(registered=False)
    wait_until(lambda: not api.core.bank["sim2"].state.registered, what="sim2 losing the network")
    browser = Browser(serve_status(api, StatusConfig(language="zh", refresh=0)))
    page = browser.get("/")[1]
    assert '<html lang="zh-CN">' in page
    for words in ("线路", "队列", "待发送", "今日失败", "版本", "运行时间", "未配置", "只读", "在线", "未注册"):
        assert words in page, words
    assert banner(page) == ("amber", "需要注意 2 条线路中有 1 条不能发送：sim2 (无网络)。")
    assert "无网络：请检查天线。" in tiles(page)["sim2"]
    assert 'http-equiv="refresh"' not in page  # refresh = 0: none


def test_page_refreshes_itself_and_keeps_its_place(api):
    reply = api.get("/")
    page, csp = reply.text, reply.headers["Content-Security-Policy"]
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in page
    assert "scrollTo(x, y)" in page and "history.replaceState" in page
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'<script nonce="{nonce}">' in page and "default-src 'none'" in csp


def test_chromium_refreshes_the_page_in_place(make_api, serve_status, tmp_path):
    api = make_api()
    still = serve_status(api, StatusConfig(refresh=0))
    ticking = serve_status(api, StatusConfig(refresh=1))
    # The one-off message (from the address) stays on a page that does not refresh...
    assert "Logged out." in chromium(still + "/?msg=logged_out", tmp_path, size=PHONE, budget_ms=2500)
    # ...and is gone once the page has fetched itself again and swapped its body in.
    dom = chromium(ticking + "/?msg=logged_out", tmp_path, size=PHONE, budget_ms=2500)
    assert "Logged out." not in dom and 'data-line="sim1"' in dom


def test_shipped_passwords_warn_once_at_start_and_on_the_page(make_api, caplog, tmp_path):
    caplog.set_level(logging.WARNING, logger="agent.app")
    shipped = CONFIG.replace("s3cret", "change-me") + "[status]\nadmin_password = change-me\n"
    api = make_api(config_text=shipped)
    warned = [r.getMessage() for r in caplog.records if "passwords" in r.getMessage()]
    assert warned == ["change these passwords in <string> before real use: [auth] password (the shipped default),"
                      " [status] admin_password (the shipped default)"], warned
    page = api.get("/").text
    found = re.search(r'<p class="weak" id="weak"[^>]*>(.*?)</p>', page, re.S)
    assert found and text_of(found.group(1)) == (
        "Change these passwords in the config before real use: [auth] password (the shipped default),"
        " [status] admin_password (the shipped default).")
    assert "change-me" not in page
    with tab(tmp_path) as phone:
        weak = phone.go(api.url + "/").boxes("#weak")["#weak"]
        assert len(weak) == 1 and weak[0]["y"] + weak[0]["h"] < PHONE[1], weak  # seen without scrolling
    caplog.clear()
    assert 'id="weak"' not in make_api().get("/").text  # passwords of its own: no banner
    assert not [r for r in caplog.records if "passwords" in r.getMessage()]
