"""store.doors: the parts of a message a binary door's client split itself, on a real
Store over a file: one task per set, the whole text queued once with the part that
completes it, retransmissions answered and queued nothing, stale sets flushed once,
restarts in between, and no half state when the completing transaction fails."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from agent.model import NewMessage
from agent.store.queue import Store

from .conftest import SHANGHAI

WINDOW = 600.0
KEY = "1234|13800138000|77|3"


def part(store: Store, n: int, text: str, *, total: int = 3, key: str = KEY, door: str = "smpp",
         recipients=("13800138000",), encoding: str = "7", window: float = WINDOW, **kw):
    messages = [NewMessage(recipient=r, text=text, encoding=encoding, originator="1234", **kw) for r in recipients]
    return store.doors.add_part(door, key, part=n, total=total, text=text, encoding=encoding, messages=messages,
                                window=window)


def rows(store: Store) -> list[tuple]:
    with sqlite3.connect(store.path) as con:
        return con.execute("SELECT id, task_id, recipient, text, status FROM smsserver_out ORDER BY id").fetchall()


def tasks(store: Store) -> list[tuple]:
    with sqlite3.connect(store.path) as con:
        return con.execute("SELECT id, source, count FROM tasks ORDER BY id").fetchall()


def door_parts(store: Store) -> list[tuple]:
    with sqlite3.connect(store.path) as con:
        return con.execute("SELECT task_id, part, total, done FROM door_parts ORDER BY task_id, part").fetchall()


@pytest.mark.parametrize("order", [(1, 2, 3), (3, 1, 2), (2, 3, 1), (3, 2, 1)])
def test_parts_in_any_order_make_one_message_in_part_order(store, order):
    texts = {1: "Hello ", 2: "long ", 3: "world"}
    taken = [part(store, n, texts[n]) for n in order]
    task_id = taken[0].task_id
    assert {t.task_id for t in taken} == {task_id}  # the first part reserved the task
    assert [t.duplicate for t in taken] == [False, False, False]
    assert [t.queued is not None for t in taken] == [False, False, True]
    queued = taken[-1].queued
    assert queued.task_id == task_id and len(queued.ids) == 1
    assert rows(store) == [(queued.ids[0], task_id, "13800138000", "Hello long world", "U")]
    assert tasks(store) == [(task_id, "smpp", 1)]
    assert door_parts(store) == [(task_id, 1, 3, 1), (task_id, 2, 3, 1), (task_id, 3, 3, 1)]


def test_a_set_for_several_recipients_counts_each_in_the_task(store):
    recipients = ("13800138000", "13800138001", "13800138002")
    part(store, 1, "ab", total=2, recipients=recipients, door="cmpp")
    done = part(store, 2, "cd", total=2, recipients=recipients, door="cmpp")
    assert len(done.queued.ids) == 3
    assert [(r[2], r[3]) for r in rows(store)] == [(r, "abcd") for r in recipients]
    assert tasks(store) == [(done.task_id, "cmpp", 3)]


def test_the_whole_text_takes_the_widest_encoding_and_the_first_parts_fields(store):
    part(store, 1, "abc", total=2, encoding="7", priority=2, status_report=True)
    done = part(store, 2, "你好", total=2, encoding="U", priority=0, status_report=False)
    row = store.message(done.queued.ids[0])
    assert (row["text"], row["encoding"], row["priority"], row["status_report"]) == ("abc你好", "U", 2, 1)


def test_a_retransmitted_part_is_a_duplicate_and_queues_nothing(store, clock):
    first = part(store, 1, "Hello ")
    clock.advance(5)
    again = part(store, 1, "Hello ")
    assert again.duplicate and again.task_id == first.task_id and again.queued is None
    assert again.created == first.created
    assert rows(store) == []
    assert door_parts(store) == [(first.task_id, 1, 3, 0)]
    part(store, 2, "long ")
    done = part(store, 3, "world")
    assert rows(store)[0][3] == "Hello long world"
    assert tasks(store) == [(done.task_id, "smpp", 1)]


def test_a_part_seen_again_after_completion_is_a_duplicate(store, clock):
    for n, text in ((1, "a"), (2, "b"), (3, "c")):
        done = part(store, n, text)
    clock.advance(30)
    for n in (3, 1, 2):
        again = part(store, n, "other text")
        assert again.duplicate and again.task_id == done.task_id and again.queued is None
    assert [r[3] for r in rows(store)] == ["abc"]
    assert tasks(store) == [(done.task_id, "smpp", 1)]


def test_the_same_key_after_the_window_is_a_new_message(store, clock):
    for n, text in ((1, "a"), (2, "b"), (3, "c")):
        old = part(store, n, text)
    clock.advance(WINDOW + 1)
    new = [part(store, n, text) for n, text in ((1, "x"), (2, "y"), (3, "z"))]
    assert not any(t.duplicate for t in new)
    assert {t.task_id for t in new} == {old.task_id + 1}
    assert [(r[1], r[3]) for r in rows(store)] == [(old.task_id, "abc"), (old.task_id + 1, "xyz")]
    assert tasks(store) == [(old.task_id, "smpp", 1), (old.task_id + 1, "smpp", 1)]


def test_other_keys_doors_and_totals_are_other_messages(store):
    a = part(store, 1, "a", total=2)
    b = part(store, 1, "b", total=2, key="other")
    c = part(store, 1, "c", total=2, door="cmpp")
    d = part(store, 1, "d", total=3)
    assert len({a.task_id, b.task_id, c.task_id, d.task_id}) == 4
    assert rows(store) == []


def test_part_numbers_outside_the_set_are_refused(store):
    for n, total in ((0, 3), (4, 3), (-1, 3), (1, 0)):
        with pytest.raises(ValueError):
            part(store, n, "x", total=total)
    assert tasks(store) == [] and door_parts(store) == []


def test_flush_stale_queues_an_incomplete_set_once(store, clock):
    first = part(store, 1, "Hello ")
    part(store, 3, "world")
    clock.advance(WINDOW / 2)
    younger = part(store, 1, "young", key="younger")
    part(store, 2, "er", key="younger")
    assert store.doors.flush_stale(WINDOW) == 0  # not old enough
    clock.advance(WINDOW / 2 + 1)
    assert store.doors.flush_stale(WINDOW) == 1  # the first set only, with the parts it has
    assert store.doors.flush_stale(WINDOW) == 0  # once
    assert [(r[1], r[3]) for r in rows(store)] == [(first.task_id, "Hello world")]
    clock.advance(WINDOW / 2)
    assert store.doors.flush_stale(WINDOW) == 1
    assert [(r[1], r[3]) for r in rows(store)] == [(first.task_id, "Hello world"), (younger.task_id, "younger")]
    assert tasks(store) == [(first.task_id, "smpp", 1), (younger.task_id, "smpp", 1)]
    late = part(store, 2, "late ")  # the missing part after the flush and the window: a message of its own
    assert late.task_id not in (first.task_id, younger.task_id) and late.queued is None and not late.duplicate


def test_task_gives_the_created_time_source_and_part_numbers(store, clock):
    t0 = clock.t
    first = part(store, 2, "b", door="cmpp")
    clock.advance(3)
    part(store, 1, "a", door="cmpp")
    assert first.created == t0
    task = store.doors.task(first.task_id)
    assert (task.id, task.created, task.source, task.parts) == (first.task_id, t0, "cmpp", (1, 2))
    whole = store.enqueue([NewMessage("13800138000", "whole")], task=True, source="smpp")
    assert store.doors.task(whole.task_id).parts == ()
    assert store.doors.task(whole.task_id).source == "smpp"
    assert store.doors.task(9999) is None


def test_a_restart_between_parts_completes_the_set(tmp_path, clock):
    path = tmp_path / "agent.db"
    s = Store(path, timezone=SHANGHAI, clock=clock)
    s.open()
    first = part(s, 1, "before ", total=2)
    s.close()
    clock.advance(20)
    s = Store(path, timezone=SHANGHAI, clock=clock)
    s.open()
    try:
        again = part(s, 1, "before ", total=2)  # retransmitted across the restart
        assert again.duplicate and again.task_id == first.task_id
        done = part(s, 2, "and after", total=2)
        assert done.task_id == first.task_id and done.queued is not None
        assert [(r[1], r[3]) for r in rows(s)] == [(first.task_id, "before and after")]
        assert s.doors.task(first.task_id).parts == (1, 2)
    finally:
        s.close()


def test_scheduled_and_expiry_survive_the_wait_for_the_last_part(store):
    scheduled = datetime(2024, 5, 2, 9, 30, tzinfo=SHANGHAI)
    expires = datetime(2024, 5, 3, 1, 0, tzinfo=timezone.utc)
    part(store, 1, "a", total=2, scheduled=scheduled, expires=expires)
    done = part(store, 2, "b", total=2, scheduled=scheduled + timedelta(hours=1), expires=expires)
    row = store.message(done.queued.ids[0])
    assert (row["scheduled"], row["expires"]) == ("2024-05-02 09:30:00", "2024-05-03 09:00:00")


def test_an_error_while_completing_leaves_no_half_state(store, monkeypatch):
    first = part(store, 1, "Hello ", total=2)
    before = (tasks(store), door_parts(store))

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store.doors, "_enqueue", broken)
    with pytest.raises(RuntimeError):
        part(store, 2, "world", total=2)
    assert (tasks(store), door_parts(store)) == before  # the part row went with the failed transaction
    assert rows(store) == []
    monkeypatch.undo()
    done = part(store, 2, "world", total=2)  # the client sends it again: now it completes
    assert done.task_id == first.task_id and not done.duplicate
    assert [(r[1], r[3]) for r in rows(store)] == [(first.task_id, "Hello world")]
    assert tasks(store) == [(first.task_id, "smpp", 1)]


def test_an_error_in_the_first_part_reserves_no_task(store, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(store.doors, "_enqueue", broken)
    with pytest.raises(RuntimeError):
        part(store, 1, "whole", total=1)
    assert tasks(store) == [] and door_parts(store) == []


def test_an_error_while_flushing_leaves_the_set_to_flush_later(store, clock, monkeypatch):
    first = part(store, 1, "alone")
    clock.advance(WINDOW + 1)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(store.doors, "_enqueue", broken)
    with pytest.raises(RuntimeError):
        store.doors.flush_stale(WINDOW)
    assert door_parts(store) == [(first.task_id, 1, 3, 0)] and rows(store) == []
    monkeypatch.undo()
    assert store.doors.flush_stale(WINDOW) == 1
    assert [(r[1], r[3]) for r in rows(store)] == [(first.task_id, "alone")]
