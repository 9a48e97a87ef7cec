"""Submissions: one durable transaction, consecutive ids, tasks; data_version."""

import sqlite3
import threading
import time
from datetime import datetime

import pytest

from agent.model import NewMessage

from .conftest import SHANGHAI, sync_of_commit, traced


def test_batch_of_9999_is_one_durable_transaction(store, capsys):
    messages = [NewMessage(f"1360000{i:04d}", "hello everyone") for i in range(9999)]
    with traced(store) as statements:
        started = time.perf_counter()
        accepted = store.enqueue(messages, task=True, source="goip")
        elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nenqueue(9,999): {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0
    assert accepted.ids == list(range(1, 10000))
    begins = [s for s in statements if s.upper().startswith("BEGIN")]
    assert begins == ["BEGIN IMMEDIATE"]
    assert sync_of_commit(statements) == ["FULL"]
    # committed: another connection sees every row
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT COUNT(*), MIN(id), MAX(id) FROM smsserver_out").fetchone() == (9999, 1, 9999)
        assert conn.execute("SELECT id, count, source FROM tasks").fetchall() == [(accepted.task_id, 9999, "goip")]


def test_task_rows_carry_task_and_sub_task(store):
    first = store.enqueue([NewMessage("100")])
    assert first.task_id is None and store.message(first.ids[0])["task_id"] is None
    acc = store.enqueue([NewMessage("13600000000", "a", client_ref="x"), NewMessage("13600000001", "a",
                                                                                    client_ref="x")], task=True)
    rows = store.messages_by_task(acc.task_id)
    assert [r["id"] for r in rows] == acc.ids == [2, 3]
    assert [r["sub_task"] for r in rows] == [f"{acc.task_id}.13600000000", f"{acc.task_id}.13600000001"]
    second = store.enqueue([NewMessage("1")], task=True)
    assert second.task_id == acc.task_id + 1
    assert store.messages_by_task(999) == []


def test_row_contents(store):
    scheduled = datetime(2024, 5, 2, 9, 30, tzinfo=SHANGHAI)
    [i] = store.enqueue([NewMessage("13600000000", "你好" * 40, encoding="7", gateway="G2", provider="cm",
                                    priority=3, status_report=False, flash=True, scheduled=scheduled,
                                    expires=datetime(2024, 5, 3, 0, 0), client_ref="r1", user_id="u",
                                    originator="me")]).ids
    row = store.message(i)
    assert row["encoding"] == "7" and row["parts"] == 2  # 80 characters in UCS2: 2 parts
    assert (row["gateway_id"], row["requested_gateway"], row["provider"], row["priority"]) == ("G2", "G2", "cm", 3)
    assert (row["status_report"], row["flash_sms"], row["status"], row["type"]) == (0, 1, "U", "O")
    assert (row["scheduled"], row["expires"]) == ("2024-05-02 09:30:00", "2024-05-03 00:00:00")
    assert row["create_date"] == "2024-05-01 12:00:00"  # the injected clock, in Shanghai time
    assert (row["client_ref"], row["user_id"], row["originator"]) == ("r1", "u", "me")


def test_parts_counted_per_encoding(store):
    ids = store.enqueue([NewMessage("1", "a" * 160), NewMessage("1", "a" * 161), NewMessage("1", "a" * 71, "U"),
                         NewMessage("1", "é" * 141, "8"), NewMessage("1", "x", parts=4)]).ids
    assert [store.message(i)["parts"] for i in ids] == [1, 2, 2, 2, 4]


def test_text_not_fit_for_its_encoding_fails_at_routing(store, clock):
    [i] = store.enqueue([NewMessage("1", "中文", "8")]).ids
    assert store.message(i)["parts"] is None
    assert store.dispatch.candidates(now=clock(), lines=["G1"], providers=[]) == []
    assert (store.message(i)["status"], store.message(i)["failure_cause"]) == ("F", "BAD_FORMAT")


@pytest.mark.parametrize("bad", [[], [NewMessage("")], [NewMessage("1", encoding="X")]])
def test_invalid_submissions_are_refused(store, bad):
    with pytest.raises(ValueError):
        store.enqueue(bad)
    assert store.queue_depths()["U"] == 0


def test_data_version_sees_other_connections(store):
    v = store.data_version()
    assert store.data_version() == v
    with sqlite3.connect(store.path) as conn:
        conn.execute("INSERT INTO smsserver_out (recipient, text) VALUES ('1', 'x')")
    v2 = store.data_version()
    assert v2 != v
    t = threading.Thread(target=store.enqueue, args=([NewMessage("2")],))
    t.start()
    t.join()
    assert store.data_version() != v2
