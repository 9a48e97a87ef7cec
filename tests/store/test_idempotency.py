"""Idempotent submissions: one (source, client_ref) makes one submission, even when raced."""

import sqlite3
import threading

from agent.store.queue import NewMessage, Store

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
    assert store.enqueue([NewMessage("9")], source="jindi", client_ref="k") == \
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
