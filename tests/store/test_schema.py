"""The file: Jindi tables exactly as documented, our columns after them, migrations."""

import ast
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from agent.errors import StoreError
from agent.store.db import SCHEMA_VERSION
from agent.model import NewMessage
from agent.store.queue import Store

# (name, type, NOT NULL, default) in the documented order (spec/jindi.md)
JINDI_OUT = [
    ("id", "INTEGER", 0, None), ("type", "CHAR(1)", 1, "'O'"), ("recipient", "CHAR(16)", 1, None),
    ("text", "TEXT", 0, None), ("wap_url", "TEXT", 0, None),
    ("wap_expiry_date", "DATETIME", 0, "datetime('now','localtime','+7 days')"), ("wap_signal", "CHAR(1)", 0, None),
    ("create_date", "DATETIME", 1, "datetime('now','localtime')"), ("originator", "CHAR(16)", 1, "''"),
    ("encoding", "CHAR(1)", 1, "'7'"), ("status_report", "INT", 1, "0"), ("flash_sms", "INT", 1, "0"),
    ("src_port", "INT", 1, "-1"), ("dst_port", "INT", 1, "-1"), ("sent_date", "DATETIME", 0, None),
    ("ref_no", "CHAR(64)", 0, None), ("priority", "INT", 1, "0"), ("status", "CHAR(1)", 1, "'U'"),
    ("errors", "INT", 1, "0"), ("gateway_id", "CHAR(64)", 1, "'*'"), ("user_id", "CHAR(20)", 0, None),
]
OURS_OUT = ["task_id", "sub_task", "client_ref", "provider", "requested_gateway", "line", "iccid", "parts",
            "sent_parts", "error_code", "failure_cause", "in_doubt", "scheduled", "expires", "not_before",
            "delivery", "delivered_date", "updated", "quota_day", "stored"]
JINDI_IN = [("id", "INTEGER"), ("process", "INT"), ("originator", "CHAR(16)"), ("type", "CHAR(1)"),
            ("encoding", "CHAR(1)"), ("message_date", "DATETIME"), ("receive_date", "DATETIME"), ("text", "TEXT"),
            ("original_ref_no", "CHAR(64)"), ("original_receive_date", "DATETIME"), ("gateway_id", "CHAR(64)")]
OURS_IN = ["line", "pdu", "mo_key", "parts", "reference", "report_status", "message_id", "error"]
JINDI_CALLS = [("id", "INTEGER"), ("call_date", "DATETIME"), ("gateway_id", "CHAR(64)"), ("caller_id", "CHAR(16)")]

RAW_INSERT = ("INSERT INTO smsserver_out (type,recipient,text,encoding,create_date) "
              "VALUES ('O','13601019694','hello','U',datetime('now','localtime'))")


def table_info(path, table):
    with sqlite3.connect(path) as conn:
        return conn.execute(f"PRAGMA table_info({table})").fetchall()


def test_jindi_out_has_exactly_the_documented_columns_then_ours(store):
    info = table_info(store.path, "smsserver_out")
    assert [(c[1], c[2], c[3], c[4]) for c in info[:len(JINDI_OUT)]] == JINDI_OUT
    assert [c[1] for c in info[len(JINDI_OUT):]] == OURS_OUT
    with sqlite3.connect(store.path) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'smsserver_out'").fetchone()[0]
    assert "id INTEGER PRIMARY KEY AUTOINCREMENT" in sql


def test_jindi_in_and_calls_columns(store):
    info = table_info(store.path, "smsserver_in")
    assert [(c[1], c[2]) for c in info[:len(JINDI_IN)]] == JINDI_IN
    assert [c[1] for c in info[len(JINDI_IN):]] == OURS_IN
    info = table_info(store.path, "smsserver_calls")
    assert [(c[1], c[2]) for c in info] == [*JINDI_CALLS, ("rings", "INTEGER")]


def test_documented_raw_insert_works_and_is_a_candidate(store):
    with sqlite3.connect(store.path) as conn:  # an application, with its own connection
        conn.execute(RAW_INSERT)
    row = store.message(1)
    assert (row["status"], row["gateway_id"], row["errors"], row["priority"], row["parts"]) == ("U", "*", 0, 0, None)
    created = datetime.strptime(row["create_date"], "%Y-%m-%d %H:%M:%S")
    assert abs((created - datetime.now()).total_seconds()) < 60  # SQLite's localtime is the system's
    [c] = store.dispatch.candidates(now=store._t.now(), lines=["G1"], providers=[])
    assert (c.id, c.recipient, c.text, c.encoding, c.gateway, c.parts) == (1, "13601019694", "hello", "U", "*", 1)
    assert store.message(1)["parts"] == 1  # counted once, on first sight


def test_every_table_and_wal(store):
    with sqlite3.connect(store.path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"smsserver_out", "smsserver_in", "smsserver_calls", "sims", "lines", "tasks", "sent_parts", "mo_parts",
            "outbox", "cursors", "schema_migrations"} <= names


def test_reopen_is_idempotent_and_versioned(tmp_path, clock):
    path = tmp_path / "a.db"
    for _ in range(3):
        s = Store(path, clock=clock)
        s.open()
        s.open()
        s.enqueue([NewMessage("1")])
        s.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 1
        assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [
            (v,) for v in range(1, SCHEMA_VERSION + 1)]
        assert conn.execute("SELECT COUNT(*) FROM smsserver_out").fetchone()[0] == 3


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "a.db"
    Store(path).open()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer"):
        Store(path).open()


def test_a_foreign_smsserver_table_is_refused(tmp_path):
    path = tmp_path / "a.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE smsserver_out (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError, match="did not create"):
        Store(path).open()


def test_only_the_store_speaks_peewee():
    agent = Path(__file__).resolve().parents[2] / "agent"
    for path in agent.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module.split(".")[0] for n in ast.walk(tree)
                  if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module}
        if {"peewee", "playhouse", "sqlite3"} & names:
            assert path.parent.name == "store", f"{path} talks to the database outside agent/store"
