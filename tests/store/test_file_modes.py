"""The database and the files beside it are 0640 (owner and group), whatever the umask:
message texts and numbers are in them, and local applications read them through the group."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agent.errors import StoreError
from agent.lock import DatabaseLock
from agent.model import NewMessage
from agent.store.db import FILE_MODE
from agent.store.queue import Store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000, 0o027])
def test_the_database_its_wal_shm_and_lock_are_created_0640(tmp_path, umask):
    assert FILE_MODE == 0o640
    db = tmp_path / "sms-agent.db"
    old = os.umask(umask)
    try:
        lock = DatabaseLock(db)
        lock.acquire()
        store = Store(db)
        store.open()
        store.enqueue([NewMessage(recipient="13800138000", text="secret text")])
        files = {p.name: _mode(p) for p in tmp_path.iterdir()}
        store.close()
        lock.release()
    finally:
        os.umask(old)
    assert {"sms-agent.db", "sms-agent.db-wal", "sms-agent.db-shm", "sms-agent.db.lock"} <= set(files), files
    assert files == dict.fromkeys(files, 0o640), {name: oct(mode) for name, mode in files.items()}


def test_a_world_readable_database_of_an_older_agent_loses_the_worlds_bits(tmp_path):
    db = tmp_path / "sms-agent.db"
    store = Store(db)
    store.open()
    store.enqueue([NewMessage(recipient="13800138000", text="hello")])
    store.close()
    for path in tmp_path.iterdir():
        path.chmod(0o644)
    again = Store(db)
    again.open()
    assert {p.name: _mode(p) for p in tmp_path.iterdir() if _mode(p) & 0o007} == {}
    assert _mode(db) == 0o640
    again.close()


def test_a_database_that_cannot_be_created_names_the_file(tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "sms-agent.db"
    with pytest.raises(StoreError, match=f"cannot create the database {missing}"):
        Store(missing).open()
