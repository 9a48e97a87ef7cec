"""Idempotent submissions: one (source, client_ref) makes one submission, even when raced."""

import sqlite3
import threading
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from agent.errors import DuplicateRequest
from agent.model import NewMessage
from agent.store.queue import Store
from agent.store.records import fingerprint

from .conftest import Clock


def count(store, table):
    with sqlite3.connect(store.path) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_a_repeated_client_ref_returns_the_first_answer(store):
    first = store.enqueue([NewMessage("1", "a"), NewMessage("2", "a")], task=True, source="goip", client_ref="r1")
    assert not first.duplicate and first.task_id is not None
    again = store.enqueue([NewMessage("1", "a"), NewMessage("2", "a")], task=True, source="goip", client_ref="r1")
    assert (again.ids, again.task_id, again.duplicate) == (first.ids, first.task_id, True)
    assert count(store, "smsserver_out") == 2 and count(store, "tasks") == 1


def test_non_task_submissions_and_scoping(store):
    a = store.enqueue([NewMessage("1")], source="jindi", client_ref="k")
    assert a.task_id is None
    assert store.enqueue([NewMessage("1")], source="jindi", client_ref="k") == \
        type(a)(a.ids, None, duplicate=True)
    other_source = store.enqueue([NewMessage("1")], source="goip", client_ref="k")
    other_ref = store.enqueue([NewMessage("1")], source="jindi", client_ref="k2")
    no_ref = [store.enqueue([NewMessage("1")], source="jindi") for _ in range(2)]
    assert not any(x.duplicate for x in (other_source, other_ref, *no_ref))
    assert count(store, "smsserver_out") == 5 and count(store, "submissions") == 3


def test_the_task_remembers_the_submission_ref(store):
    acc = store.enqueue([NewMessage("1")], task=True, source="goip", client_ref="batch-7")
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT client_ref FROM tasks WHERE id = ?", (acc.task_id,)).fetchone() == ("batch-7",)


def test_racing_twins_make_one_submission(tmp_path):
    path = tmp_path / "race.db"
    Store(path).open()
    rounds, threads_per_round = 20, 4
    results: list = []
    lock = threading.Lock()

    def submit(ref: str, barrier: threading.Barrier) -> None:
        store = Store(path)  # as separate as two API requests get: own store, own connection
        barrier.wait()
        acc = store.enqueue([NewMessage("1", ref), NewMessage("2", ref)], task=True, source="goip", client_ref=ref)
        store.close()
        with lock:
            results.append((ref, acc))

    for n in range(rounds):
        barrier = threading.Barrier(threads_per_round)
        threads = [threading.Thread(target=submit, args=(f"ref-{n}", barrier)) for _ in range(threads_per_round)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert len(results) == rounds * threads_per_round
    for n in range(rounds):
        answers = [acc for ref, acc in results if ref == f"ref-{n}"]
        assert sum(not a.duplicate for a in answers) == 1
        assert len({(tuple(a.ids), a.task_id) for a in answers}) == 1
    check = Store(path)
    assert count(check, "smsserver_out") == 2 * rounds and count(check, "tasks") == rounds


def test_the_key_lives_as_long_as_its_messages(tmp_path):
    clock = Clock()
    store = Store(tmp_path / "a.db", clock=clock)
    store.open()
    [i] = store.enqueue([NewMessage("1")], source="s", client_ref="r").ids
    clock.advance(40 * 86400)
    store.purge(30)  # the message still waits: the key stays
    assert store.enqueue([NewMessage("1")], source="s", client_ref="r").duplicate
    store.expire([i])
    clock.advance(40 * 86400)
    store.purge(30)
    assert store.message(i) is None and count(store, "submissions") == 0
    assert not store.enqueue([NewMessage("1")], source="s", client_ref="r").duplicate


# --- the same request id with other content is refused ------------------------------------------

BASE = NewMessage("13800138000", "hello", encoding="7", gateway="sim1", provider="", priority=0,
                  status_report=True, flash=False, client_ref="r", user_id="", originator="")
LATER = datetime(2024, 5, 2, 9, 0, tzinfo=timezone.utc)
CHANGED = {"recipient": "13900139000", "text": "hello!", "encoding": "U", "gateway": "sim2", "provider": "CMCC",
           "priority": 1, "status_report": False, "flash": True, "scheduled": LATER,
           "expires": LATER, "client_ref": "other", "user_id": "u1", "originator": "10086"}


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_the_same_ref_with_any_field_changed_is_refused_and_stores_nothing(store, name):
    first = store.enqueue([BASE, replace(BASE, recipient="13700137000")], task=True, source="goip", client_ref="r")
    tables = [count(store, t) for t in ("smsserver_out", "tasks", "submissions")]
    with pytest.raises(DuplicateRequest) as refused:
        store.enqueue([replace(BASE, **{name: CHANGED[name]}), replace(BASE, recipient="13700137000")],
                      task=True, source="goip", client_ref="r")
    assert (refused.value.client_ref, refused.value.task_id, refused.value.ids) == ("r", first.task_id, first.ids)
    assert refused.value.source == "goip"
    assert [count(store, t) for t in ("smsserver_out", "tasks", "submissions")] == tables


def test_order_and_number_of_messages_count_and_parts_do_not(store):
    a, b = BASE, replace(BASE, recipient="13700137000")
    first = store.enqueue([a, b], task=True, source="goip", client_ref="r")
    for other in ([b, a], [a], [a, b, b]):
        with pytest.raises(DuplicateRequest):
            store.enqueue(other, task=True, source="goip", client_ref="r")
    again = store.enqueue([replace(a, parts=1), replace(b, parts=1)], task=True, source="goip", client_ref="r")
    assert (again.ids, again.task_id, again.duplicate) == (first.ids, first.task_id, True)
    assert count(store, "smsserver_out") == 2


def test_a_submission_stored_before_fingerprints_counts_as_the_same(store):
    first = store.enqueue([BASE], task=True, source="goip", client_ref="old")
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE submissions SET fingerprint = NULL")
    again = store.enqueue([replace(BASE, text="whatever")], task=True, source="goip", client_ref="old")
    assert (again.ids, again.duplicate) == (first.ids, True) and count(store, "smsserver_out") == 1


def test_texts_with_lone_surrogates_are_refused_as_bad_values_and_store_nothing(store):
    # Dialects refuse such texts first; the store is the last guard (UnicodeError is a ValueError).
    assert fingerprint([["bad \ud800 pair"]]) != fingerprint([["bad \udc00 pair"]])
    with pytest.raises(ValueError):
        store.enqueue([replace(BASE, text="bad \ud800 pair")], task=True, source="goip", client_ref="s")
    assert [count(store, t) for t in ("smsserver_out", "tasks", "submissions")] == [0, 0, 0]


def test_racing_twins_with_different_content_make_one_submission(tmp_path):
    path = tmp_path / "race.db"
    Store(path).open()
    outcomes: list = []
    lock = threading.Lock()

    def submit(text: str, barrier: threading.Barrier) -> None:
        store = Store(path)
        barrier.wait()
        try:
            result: object = store.enqueue([NewMessage("1", text)], task=True, source="goip", client_ref="twin")
        except DuplicateRequest as exc:
            result = exc
        store.close()
        with lock:
            outcomes.append((text, result))

    barrier = threading.Barrier(6)
    threads = [threading.Thread(target=submit, args=("ab"[n % 2], barrier)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    [(winner, first)] = [(text, r) for text, r in outcomes if not isinstance(r, DuplicateRequest)
                         and not r.duplicate]
    for text, r in outcomes:
        if text == winner:
            assert not isinstance(r, DuplicateRequest) and r.ids == first.ids
        else:
            assert isinstance(r, DuplicateRequest) and r.ids == first.ids
    assert count(Store(path), "smsserver_out") == 1
