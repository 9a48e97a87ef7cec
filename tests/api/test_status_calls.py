"""The last calls on the status page and in /status.json: the newest 20,
newest first, callers masked until login, a withheld number said so."""

from __future__ import annotations

import re

from .status_helpers import text_of


def test_the_last_twenty_calls_are_listed_newest_first(api):
    for i in range(25):
        api.stack.sql("INSERT INTO smsserver_calls (call_date, gateway_id, caller_id, rings)"
                      " VALUES (datetime('now', 'localtime'), 'sim2', ?, ?)", (f"+86137{i:08d}", 1 + i % 3))
    api.stack.sql("INSERT INTO smsserver_calls (call_date, gateway_id, caller_id) VALUES"
                  " (datetime('now', 'localtime'), 'sim1', '')")
    calls = api.get("/status.json").json()["calls"]
    assert len(calls) == 20 and calls[0]["caller"] == "" and calls[0]["line"] == "sim1"
    assert [c["id"] for c in calls] == sorted((c["id"] for c in calls), reverse=True)
    assert calls[1] == {**calls[1], "line": "sim2", "caller": "+86*******0024", "rings": 1 + 24 % 3}
    page = api.get("/").text
    section = re.search(r'<ol class="msgs" id="calls">(.*?)</ol>', page, re.S).group(1)
    assert section.count("<li>") == 20 and "Last calls (20)" in page
    assert "sim1 number withheld · rang once" in text_of(section)
    assert "sim2 +86*******0024 · rang once" in text_of(section)
    assert "sim2 +86*******0023 · rang 3 times" in text_of(section)
