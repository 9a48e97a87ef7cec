"""The per-line read model, pure: quotas left, online / registered / usable, no live state."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agent.lineview import LineView, limits_in_force, line_view, line_views, stored_state
from agent.model import LineState
from agent.store.records import SimCounters

ICCID = "89860000000000000001"
READY = LineState(name="sim1", device="/dev/ttyUSB0", state="ready", iccid=ICCID, registered=True, registration=1,
                  sim="READY", signal_dbm=-71, operator="CHINA MOBILE", imei="861234567890123", number="+8613900000001",
                  model="SIM800", last_error="+CMS ERROR: 21", recovery_step="", sent_parts=4, failed_parts=1,
                  received=2, last_send_at=datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc))


def view(snap: LineState = READY, *, daily_sent: int = 0, total_sent: int = 0, limits: tuple[int, int] = (-1, -1),
         counted: bool = True, today: dict[str, int] | None = None) -> LineView:
    sent = SimCounters(snap.iccid, daily_sent, total_sent, "2024-05-01") if counted else None
    return line_view(snap, index=1, sent=sent, limits=limits, provider="cmcc", today=today or {})


def test_unlimited_quotas_leave_none_and_the_line_usable():
    v = view(daily_sent=7, total_sent=900)
    assert (v.daily_limit, v.daily_left, v.total_limit, v.total_left, v.left) == (None, None, None, None, None)
    assert (v.daily_sent, v.total_sent) == (7, 900)
    assert v.usable and v.online and v.registered and v.enabled


@pytest.mark.parametrize("limits, daily_left, total_left, left", [
    ((10, -1), 7, None, 7),
    ((-1, 1000), None, 100, 100),
    ((10, 902), 7, 2, 2),  # the smaller remainder is what the line has left
])
def test_limited_quotas_leave_what_the_sim_has_not_sent(limits, daily_left, total_left, left):
    v = view(daily_sent=3, total_sent=900, limits=limits)
    assert (v.daily_limit, v.total_limit) == tuple(None if n < 0 else n for n in limits)
    assert (v.daily_left, v.total_left, v.left) == (daily_left, total_left, left)
    assert v.usable


@pytest.mark.parametrize("limits, sent", [((5, -1), (5, 5)), ((5, -1), (9, 9)), ((-1, 100), (0, 100)),
                                          ((0, -1), (0, 0))])
def test_an_exhausted_quota_leaves_zero_and_makes_the_line_unusable(limits, sent):
    v = view(daily_sent=sent[0], total_sent=sent[1], limits=limits)
    assert v.left == 0 and not v.usable
    assert v.online and v.registered  # still up: only the quota holds it back


def test_offline_and_online_unregistered_lines_are_not_usable():
    offline = view(LineState(name="sim1", device="/dev/ttyUSB0", state="offline", iccid=ICCID, registered=True))
    assert (offline.online, offline.registered, offline.usable, offline.enabled) == (False, True, False, True)
    searching = view(LineState(name="sim1", device="/dev/ttyUSB0", state="ready", iccid=ICCID, registration=2))
    assert (searching.online, searching.registered, searching.usable) == (True, False, False)
    busy = view(LineState(name="sim1", device="/dev/ttyUSB0", state="busy", iccid=ICCID, registered=True))
    assert busy.online and busy.usable
    disabled = view(LineState(name="sim1", device="/dev/ttyUSB0", state="disabled", iccid=ICCID))
    assert (disabled.enabled, disabled.online, disabled.usable) == (False, False, False)


def test_a_line_without_iccid_counts_nothing_sent():
    unknown = LineState(name="sim1", device="/dev/ttyUSB0", state="ready", registered=True)
    counters = {"": SimCounters("", 9, 9, "2024-05-01"), ICCID: SimCounters(ICCID, 9, 9, "2024-05-01")}
    (v,) = line_views([unknown], counters=counters, limits={"sim1": (5, 20)}, providers={}, today={})
    assert (v.iccid, v.daily_sent, v.total_sent, v.daily_left, v.total_left) == ("", 0, 0, 5, 20)
    assert v.usable
    assert view(counted=False, limits=(5, 20)).daily_left == 5  # a SIM not counted yet: nothing sent


def test_the_view_carries_the_snapshot_and_todays_counts():
    v = view(today={"sent_today": 3, "failed_today": 1})
    assert (v.name, v.index, v.state, v.provider) == ("sim1", 1, "ready", "cmcc")
    assert (v.signal_dbm, v.operator, v.iccid, v.imei, v.number) == (-71, "CHINA MOBILE", ICCID, READY.imei,
                                                                      "+8613900000001")
    assert (v.registration, v.sim_status, v.device, v.model, v.last_error) == (1, "READY", "/dev/ttyUSB0",
                                                                               "SIM800", "+CMS ERROR: 21")
    assert (v.last_send_at, v.last_error_at, v.recovery_step) == (READY.last_send_at, None, "")
    assert (v.sent_today, v.failed_today, v.sent_parts, v.failed_parts, v.received) == (3, 1, 4, 1, 2)
    assert view().sent_today == 0 and view().failed_today == 0
    uncounted = line_view(READY, index=1, sent=None, limits=(-1, -1), provider="", today=None)
    assert (uncounted.sent_today, uncounted.failed_today) == (None, None)  # asked for without the counts


def test_line_views_keep_the_order_given_and_look_up_each_line():
    snaps = [LineState(name=n, device=f"/dev/{n}", state="ready", registered=True, iccid=f"i{n}")
             for n in ("b", "a", "c")]
    views = line_views(snaps, counters={"ia": SimCounters("ia", 2, 3, "d")},
                       limits={"a": (5, -1), "b": (-1, -1), "c": (0, -1)}, providers={"a": "unicom"},
                       today={"c": {"failed_today": 4}})
    assert [(v.name, v.index, v.provider) for v in views] == [("b", 1, ""), ("a", 2, "unicom"), ("c", 3, "")]
    assert [(v.daily_left, v.usable) for v in views] == [(None, True), (3, True), (0, False)]
    assert views[2].failed_today == 4 and views[2].sent_today == 0
    with pytest.raises(KeyError):
        line_views(snaps, counters={}, limits={}, providers={}, today={})  # every line needs its limits


def test_a_stored_snapshot_gives_the_same_view_without_live_state():
    row = {"name": "sim1", "device": "/dev/ttyUSB0", "state": "busy", "signal_dbm": -80, "registered": True,
           "operator": "CMCC", "iccid": ICCID, "imei": "86", "imsi": "46000", "number": None, "model": "EC20",
           "provider": "cmcc", "last_error": None, "updated": "2024-05-01 09:00:00"}
    snap = stored_state(row)
    (v,) = line_views([snap], counters={ICCID: SimCounters(ICCID, 1, 1, "d")}, limits={"sim1": (3, -1)},
                      providers={"sim1": "cmcc"}, today={})
    assert (v.state, v.online, v.registered, v.usable, v.daily_left) == ("busy", True, True, True, 2)
    assert (v.number, v.last_error, v.model, v.sim_status, v.registration, v.sent_parts) == ("", "", "EC20", "",
                                                                                            None, 0)
    bare = stored_state({"name": "sim2", "state": None, "registered": 0})
    assert (bare.state, bare.device, bare.registered) == ("", "", False)


def test_limits_in_force_take_the_override_where_one_is_set():
    assert limits_in_force((100, -1), (None, None)) == (100, -1)
    assert limits_in_force((100, -1), (5, None)) == (5, -1)
    assert limits_in_force((100, -1), (None, 0)) == (100, 0)
    assert limits_in_force((100, 50), (-1, -1)) == (-1, -1)
