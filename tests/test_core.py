"""Core controls used by remote management and the status page, on a live queue."""

from __future__ import annotations

import pytest

from agent.errors import UnknownLine
from agent.store.queue import Store

from .queue_harness import Stack, msg


@pytest.fixture
def live(make_bank, tmp_path):
    sim = make_bank(["generic", "generic"])
    stack = Stack(sim, tmp_path / "agent.db").start()
    yield stack, stack.core
    stack.stop()


def test_quota_override_is_enforced_and_survives_a_restart(live, tmp_path):
    stack, core = live
    assert core.set_quota("sim1", daily=1) == (1, -1)
    ids = stack.send(msg(text="a", gateway="sim1"), msg(text="b", gateway="sim1"))
    stack.wait_rows(ids[:1], lambda r: r["status"] == "S")
    assert stack.row(ids[1])["status"] == "U"  # waits: the SIM is at its daily limit
    info = {i.name: i for i in core.lines_view()}
    assert (info["sim1"].daily_left, info["sim1"].usable) == (0, False)
    reopened = Store(tmp_path / "agent.db")
    assert reopened.sims.line_limits() == {"sim1": (1, -1)}
    reopened.close()
    core.set_quota("sim1", reset_daily=True)  # counter back to 0: the second goes out
    stack.wait_rows(ids[1:], lambda r: r["status"] == "S")


def test_disable_and_enable_a_line(live):
    stack, core = live
    core.set_line_enabled("sim2", False)
    ids = stack.send(*(msg(text=f"m{i}") for i in range(4)))
    rows = stack.wait_rows(ids, lambda r: r["status"] == "S")
    assert {r["line"] for r in rows} == {"sim1"}
    core.set_line_enabled("sim2", True)
    stack.wait_rows([], lambda r: True)
    assert {i.name for i in core.lines_view() if i.online} <= {"sim1", "sim2"}


def test_ussd_and_reset(live):
    stack, core = live
    stack.sim[0].set_ussd_answer("*100#", "Balance 5.00")
    assert core.ussd("sim1", "*100#", timeout=5).text == "Balance 5.00"
    inits = stack.sim[0].commands.count("ATE0")
    core.reset_modem("sim1", timeout=20)
    assert stack.sim[0].commands.count("ATE0") > inits


def test_unknown_line_and_bad_values(live):
    _, core = live
    with pytest.raises(UnknownLine):
        core.set_line_enabled("nope", True)
    with pytest.raises(ValueError):
        core.set_quota("sim1", daily=-7)


def test_provider_group_set_at_run_time(live, tmp_path):
    stack, core = live
    assert core.set_line_provider("sim2", "branch-A") == "branch-A"
    ids = stack.send(*(msg(text=f"p{i}", provider="branch-A") for i in range(3)))
    assert {r["line"] for r in stack.wait_rows(ids, lambda r: r["status"] == "S")} == {"sim2"}
    assert "branch-A" in core.providers()
    reopened = Store(tmp_path / "agent.db")
    assert reopened.sims.line_providers() == {"sim2": "branch-A"}
    reopened.close()
    assert core.set_line_provider("sim2", None) == ""


def test_quota_left_by_box_and_by_provider_group(live):
    stack, core = live
    assert core.quota_left() is None and core.quotas_by_provider() == {"": None}  # unlimited by default
    core.set_quota("sim1", daily=5)
    assert core.quota_left() is None  # sim2 is still unlimited
    core.set_quota("sim2", daily=4, total=3)  # the smaller of the two counts
    assert core.quota_left() == 8
    ids = stack.send(msg(text="a", gateway="sim1"), msg(text="b" * 200, gateway="sim1"))  # 1 + 2 parts
    stack.wait_rows(ids, lambda r: r["status"] == "S")
    assert core.quota_left() == 5
    core.set_line_provider("sim2", "branch-A")
    assert core.quotas_by_provider() == {"": 2, "branch-A": 3}
    assert (core.quota_left("branch-A"), core.quota_left(""), core.quota_left("nope")) == (3, 2, 0)
    core.set_quota("sim2", daily=-1, total=-1)
    assert core.quotas_by_provider() == {"": 2, "branch-A": None}
    assert {i.name: i.left for i in core.lines_view()} == {"sim1": 2, "sim2": None}


def test_lines_view_is_the_one_picture_of_each_line(live):
    stack, core = live
    core.set_quota("sim1", daily=5)
    ids = stack.send(msg(text="a", gateway="sim1"), msg(text="b" * 200, gateway="sim1"))  # 1 + 2 parts
    stack.wait_rows(ids, lambda r: r["status"] == "S")
    views = core.lines_view()
    assert [(v.name, v.index) for v in views] == [("sim1", 1), ("sim2", 2)]  # configuration order
    sim1 = views[0]
    assert (sim1.daily_sent, sim1.daily_limit, sim1.daily_left, sim1.total_limit, sim1.total_left) == (3, 5, 2, None,
                                                                                                       None)
    assert (sim1.sent_today, sim1.failed_today, sim1.sent_parts) == (2, 0, 3)
    assert sim1.iccid == stack.bank["sim1"].state.iccid and sim1.online and sim1.usable
    assert core.lines_view(counts_today=False)[0].sent_today is None  # the quota readers skip that query
    assert core.line_state("sim2") == stack.bank["sim2"].state.state
    with pytest.raises(UnknownLine):
        core.line_state("nope")
    assert core.queue_depths()["S"] == 2 and core.queue_depths()["sent_today"] == 2
    assert core.check_database() == "" and core.database_path == stack.store.path
    assert core.recent_failures() == [] and core.recent_received() == []
