"""Opening the SQLite file, the schema and its migrations, and write transactions.

The database is one SQLite file in WAL mode, shared by the agent's threads
(one connection per thread, peewee's thread-local state), its CLI, and local
applications that insert into ``smsserver_out`` with plain SQL.

Schema versions: ``PRAGMA user_version`` is the version; migration N (1-based
position in :data:`MIGRATIONS`) is applied when the file's version is below N,
inside one ``BEGIN IMMEDIATE`` transaction together with the version bump and
its row in ``schema_migrations``, so two processes opening the file at once
apply it exactly once.  Migrations are frozen SQL: a later schema change is a
new entry, never an edit of an old one.  They are the only description of the
columns: the store has no ORM models (:mod:`agent.store` says why).

The Jindi tables (``smsserver_out``, ``smsserver_in``, ``smsserver_calls``)
have exactly the documented columns, in the documented order, with their
types and defaults (see the spec's jindi.md); our own columns follow them.
Beyond the spec: ``smsserver_out.type`` defaults to ``'O'`` (as in the SMSLib
server Jindi derives from) so an INSERT without it is a normal SMS.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from peewee import SqliteDatabase

from ..errors import StoreError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000

# The database and the files SQLite makes beside it (-wal, -shm, -journal: SQLite
# gives them the database file's mode) are readable by the agent's group, which
# local applications join for SQL access, and by nobody else: message texts and
# numbers are in them.
FILE_MODE = 0o640


_JINDI_OUT = """
CREATE TABLE smsserver_out (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type CHAR(1) NOT NULL DEFAULT 'O',
    recipient CHAR(16) NOT NULL,
    text TEXT,
    wap_url TEXT,
    wap_expiry_date DATETIME DEFAULT (datetime('now','localtime','+7 days')),
    wap_signal CHAR(1),
    create_date DATETIME NOT NULL DEFAULT (datetime('now','localtime')),
    originator CHAR(16) NOT NULL DEFAULT '',
    encoding CHAR(1) NOT NULL DEFAULT '7',
    status_report INT NOT NULL DEFAULT 0,
    flash_sms INT NOT NULL DEFAULT 0,
    src_port INT NOT NULL DEFAULT -1,
    dst_port INT NOT NULL DEFAULT -1,
    sent_date DATETIME,
    ref_no CHAR(64),
    priority INT NOT NULL DEFAULT 0,
    status CHAR(1) NOT NULL DEFAULT 'U',
    errors INT NOT NULL DEFAULT 0,
    gateway_id CHAR(64) NOT NULL DEFAULT '*',
    user_id CHAR(20),
    -- ours; NULL in rows inserted by applications until the router first sees them
    task_id INTEGER,
    sub_task TEXT,
    client_ref TEXT,
    provider TEXT NOT NULL DEFAULT '',
    requested_gateway TEXT NOT NULL DEFAULT '*',
    line TEXT,
    iccid TEXT,
    parts INTEGER,
    sent_parts INTEGER NOT NULL DEFAULT 0,
    error_code INTEGER,
    failure_cause TEXT,
    in_doubt INTEGER NOT NULL DEFAULT 0,
    scheduled DATETIME,
    expires DATETIME,
    not_before REAL,
    delivery TEXT,
    delivered_date DATETIME,
    updated REAL,
    quota_day TEXT
)"""

_JINDI_IN = """
CREATE TABLE smsserver_in (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    process INT NOT NULL DEFAULT 0,
    originator CHAR(16),
    type CHAR(1),
    encoding CHAR(1),
    message_date DATETIME,
    receive_date DATETIME,
    text TEXT,
    original_ref_no CHAR(64),
    original_receive_date DATETIME,
    gateway_id CHAR(64),
    -- ours
    line TEXT,
    pdu TEXT,
    mo_key TEXT UNIQUE,
    parts INTEGER NOT NULL DEFAULT 1,
    reference INTEGER,
    report_status INTEGER,
    message_id INTEGER,
    error TEXT
)"""

_JINDI_CALLS = """
CREATE TABLE smsserver_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_date DATETIME,
    gateway_id CHAR(64),
    caller_id CHAR(16),
    -- ours
    rings INTEGER NOT NULL DEFAULT 1
)"""

_OURS = [
    """CREATE TABLE sims (
        iccid TEXT PRIMARY KEY,
        imsi TEXT,
        imei_last TEXT,
        line_last TEXT,
        provider TEXT NOT NULL DEFAULT '',
        daily_sent INTEGER NOT NULL DEFAULT 0,
        daily_day TEXT,
        total_sent INTEGER NOT NULL DEFAULT 0,
        updated REAL
    )""",
    """CREATE TABLE lines (
        name TEXT PRIMARY KEY,
        device TEXT,
        state TEXT,
        signal_dbm INTEGER,
        registered INTEGER NOT NULL DEFAULT 0,
        operator TEXT,
        iccid TEXT,
        imei TEXT,
        imsi TEXT,
        number TEXT,
        model TEXT,
        provider TEXT NOT NULL DEFAULT '',
        last_error TEXT,
        updated REAL
    )""",
    """CREATE TABLE tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created REAL NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        client_ref TEXT NOT NULL DEFAULT '',
        count INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE sent_parts (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES smsserver_out(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        line TEXT NOT NULL,
        reference INTEGER,
        sent_at REAL NOT NULL,
        status INTEGER,
        report_at REAL
    )""",
    """CREATE TABLE mo_parts (
        id INTEGER PRIMARY KEY,
        line TEXT NOT NULL,
        sender TEXT NOT NULL,
        ref INTEGER NOT NULL,
        total INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        scts TEXT NOT NULL,
        text TEXT NOT NULL,
        encoding CHAR(1) NOT NULL,
        pdu TEXT,
        received REAL NOT NULL,
        message_id INTEGER,
        UNIQUE (line, sender, ref, total, seq, scts)
    )""",
    """CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        created REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE cursors (
        consumer TEXT PRIMARY KEY,
        last_id INTEGER NOT NULL DEFAULT 0
    )""",
]

_INDEXES = [
    # candidates(): walk 'U' rows in send order and stop at the limit
    "CREATE INDEX out_queue ON smsserver_out (status, priority DESC, id)",
    # pending_wakeup(): the next scheduled time / backoff end / expiry among waiting rows
    "CREATE INDEX out_wait_scheduled ON smsserver_out (scheduled) WHERE status = 'U' AND scheduled IS NOT NULL",
    "CREATE INDEX out_wait_backoff ON smsserver_out (not_before) WHERE status = 'U' AND not_before IS NOT NULL",
    "CREATE INDEX out_wait_expires ON smsserver_out (expires) WHERE status = 'U' AND expires IS NOT NULL",
    "CREATE INDEX out_task ON smsserver_out (task_id) WHERE task_id IS NOT NULL",
    "CREATE INDEX out_sent_date ON smsserver_out (sent_date)",
    "CREATE INDEX out_updated ON smsserver_out (updated)",
    "CREATE INDEX in_receive_date ON smsserver_in (receive_date)",
    "CREATE INDEX calls_date ON smsserver_calls (call_date)",
    # store_report(): the newest part sent on a line with a given TP-MR
    "CREATE INDEX sent_parts_match ON sent_parts (line, reference, sent_at)",
    "CREATE INDEX sent_parts_message ON sent_parts (message_id)",
    "CREATE INDEX mo_parts_open ON mo_parts (line, sender, ref, total) WHERE message_id IS NULL",
    "CREATE INDEX mo_parts_received ON mo_parts (received)",
]

# Version 2: idempotent submissions, per-consumer inbox reads, an outbox per destination.
_V2 = [
    # One row per submission that carried a client reference: a retry of the same
    # (source, client_ref) finds it and gets the first answer back.
    """CREATE TABLE submissions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        client_ref TEXT NOT NULL,
        task_id INTEGER,
        first_id INTEGER NOT NULL,
        last_id INTEGER NOT NULL,
        created REAL NOT NULL,
        UNIQUE (source, client_ref)
    )""",
    # Received rows a consumer read above its cursor (cursors.last_id) by a read
    # filtered on a line; folded into the cursor as soon as the gap below closes.
    """CREATE TABLE cursor_reads (
        consumer TEXT NOT NULL,
        id INTEGER NOT NULL,
        PRIMARY KEY (consumer, id)
    ) WITHOUT ROWID""",
    # The outbox of version 1 had no destination; it was never written, but its
    # rows (if any) are carried over rather than dropped.
    """CREATE TABLE outbox_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        destination TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL,
        last_error TEXT
    )""",
    "INSERT INTO outbox_v2 (id, destination, kind, payload, created, attempts, next_attempt)"
    " SELECT id, '', topic, payload, created, attempts, created FROM outbox",
    "DROP TABLE outbox",
    "ALTER TABLE outbox_v2 RENAME TO outbox",
    # outbox_next(): a destination's items in id order
    "CREATE INDEX outbox_destination ON outbox (destination, id)",
    # Items given up per destination (expired or unformattable), kept across restarts.
    """CREATE TABLE outbox_dropped (
        destination TEXT PRIMARY KEY,
        dropped INTEGER NOT NULL DEFAULT 0,
        updated REAL
    )""",
    # read_inbox(line=...): a line's received rows in id order
    "CREATE INDEX in_line ON smsserver_in (gateway_id, id)",
]

# (description, statements); position + 1 is the schema version.
MIGRATIONS: list[tuple[str, list[str]]] = [
    ("Jindi tables, sims, lines, tasks, sent_parts, mo_parts, outbox, cursors",
     [_JINDI_OUT, _JINDI_IN, _JINDI_CALLS, *_OURS, *_INDEXES]),
    ("submissions (idempotency), cursor_reads, outbox per destination, outbox_dropped",
     _V2),
    ("line_limits: quotas an operator set at run time, over the configured ones",
     ["""CREATE TABLE line_limits (
        name TEXT PRIMARY KEY,
        daily_limit INTEGER,
        total_limit INTEGER,
        updated REAL NOT NULL
     )"""]),
    ("line_limits.provider: a line's provider group set at run time",
     ["ALTER TABLE line_limits ADD COLUMN provider TEXT"]),
    ("journal: results, receipts and received messages for the pull dialects, with a cursor per consumer",
     ["""CREATE TABLE journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created REAL NOT NULL,
        sent INTEGER NOT NULL DEFAULT 0
     )""",
      "CREATE INDEX journal_created ON journal (created)",
      """CREATE TABLE journal_cursors (
        consumer TEXT PRIMARY KEY,
        last_id INTEGER NOT NULL
     )"""]),
    ("exactly once: part references recorded as each part leaves (one row per part), the payload of an"
     " idempotent submission, the modem storage of a message sent with send_mode = store",
     [# A part's row is written by its line as soon as the network accepted it, and again
      # (ignored) with the outcome; one row per (message, part) whatever the order.
      "DELETE FROM sent_parts WHERE id NOT IN (SELECT MIN(id) FROM sent_parts GROUP BY message_id, seq)",
      "CREATE UNIQUE INDEX sent_parts_part ON sent_parts (message_id, seq)",
      # What a submission carried (a digest): the same client_ref with other content is refused.
      "ALTER TABLE submissions ADD COLUMN fingerprint TEXT",
      # send_mode = store: where the parts were written in the modem's storage (AT+CMGW),
      # 'MEM:index' comma-separated, so that a send cut short is resolved from the modem.
      "ALTER TABLE smsserver_out ADD COLUMN stored TEXT"]),
    ("door_parts: the parts of a message an SMPP or CMPP client split itself, kept until the set is queued",
     ["""CREATE TABLE door_parts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        door TEXT NOT NULL,
        key TEXT NOT NULL,
        task_id INTEGER NOT NULL,
        part INTEGER NOT NULL,
        total INTEGER NOT NULL,
        text TEXT,
        encoding TEXT NOT NULL,
        message TEXT NOT NULL,
        created REAL NOT NULL,
        done INTEGER NOT NULL DEFAULT 0
     )""",
      "CREATE UNIQUE INDEX door_parts_part ON door_parts (task_id, part)",
      "CREATE INDEX door_parts_key ON door_parts (door, key, created)",
      "CREATE INDEX door_parts_open ON door_parts (done, created)"]),
]

SCHEMA_VERSION = len(MIGRATIONS)


def prepare_file(path: str | Path) -> None:
    """Before SQLite opens ``path``: create it empty with :data:`FILE_MODE`
    whatever the umask (SQLite would make it 0644 less the umask, and the files
    beside it with the same mode), or take the world's bits off a file (and its
    -wal, -shm, -journal) that an older agent made world-readable.  A file of
    another owner is left as it is (chmod would fail); a path that is not a
    regular file is left for SQLite to refuse.  Raise OSError when the file
    cannot be created."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        pass
    else:
        try:
            os.fchmod(fd, FILE_MODE)
        finally:
            os.close(fd)
        return
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}-journal"):
        try:
            status = os.stat(path.with_name(name))
            if stat.S_ISREG(status.st_mode) and status.st_mode & 0o007 and status.st_uid == os.geteuid():
                os.chmod(path.with_name(name), stat.S_IMODE(status.st_mode) & ~0o007)
        except OSError:
            continue


def open_database(path: str | Path) -> SqliteDatabase:
    """Given the path of the SQLite file, return a peewee database whose
    per-thread connections use WAL, a busy timeout, foreign keys and
    synchronous=NORMAL (write transactions choose their own level: :func:`write`).
    Nothing is opened yet."""
    return SqliteDatabase(
        str(path),
        timeout=BUSY_TIMEOUT_MS / 1000,
        pragmas=[
            ("journal_mode", "wal"),
            ("busy_timeout", BUSY_TIMEOUT_MS),
            ("foreign_keys", 1),
            ("synchronous", "NORMAL"),
        ],
    )


@contextmanager
def write(db: SqliteDatabase, *, durable: bool) -> Iterator[None]:
    """A write transaction on the calling thread's connection.

    ``BEGIN IMMEDIATE`` takes the write lock at once (waiting up to the busy
    timeout), so a transaction never fails half-way on a lock upgrade.  With
    ``durable`` the commit runs with synchronous=FULL: it is on disk when the
    block exits.  Otherwise synchronous=NORMAL: consistent after a power loss,
    though the last commits may be lost.  Nested use joins the outer
    transaction (and its durability)."""
    # Writers of this process queue on a lock instead of on SQLite's busy
    # handler, which sleeps in growing steps (up to 100 ms) and turned a
    # moment of contention into a long tail of latency.  Other processes
    # (applications inserting rows) still meet the busy timeout.
    with _write_lock(db):
        if db.transaction_depth() == 0:
            # synchronous is per connection and applies at COMMIT; set it before BEGIN.
            db.execute_sql("PRAGMA synchronous = FULL" if durable else "PRAGMA synchronous = NORMAL")
        with db.atomic("IMMEDIATE"):
            yield


_LOCKS: dict[str, Any] = {}  # threading.RLock objects
_LOCKS_GUARD = threading.Lock()


def _write_lock(db: SqliteDatabase) -> Any:
    """One re-entrant lock per database file in this process (cached on the database object)."""
    lock = getattr(db, "_agent_write_lock", None)
    if lock is None:
        key = os.path.realpath(db.database)
        with _LOCKS_GUARD:
            lock = _LOCKS.get(key)
            if lock is None:
                lock = _LOCKS[key] = threading.RLock()
        db._agent_write_lock = lock  # type: ignore[attr-defined]
    return lock


def migrate(db: SqliteDatabase, *, now: float) -> int:
    """Bring the schema of ``db`` up to :data:`SCHEMA_VERSION`; idempotent.

    Return the number of migrations applied.  Raise StoreError when the file's
    version is newer than this agent knows (a downgrade would lose data)."""
    applied = 0
    while True:
        with write(db, durable=True):
            version = db.execute_sql("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"database schema version {version} is newer than this agent's "
                                 f"({SCHEMA_VERSION}): upgrade the agent")
            if version == SCHEMA_VERSION:
                return applied
            if version == 0:
                if db.table_exists("smsserver_out"):
                    raise StoreError("the database has an smsserver_out table the agent did not create; "
                                     "point the agent at its own file")
                db.execute_sql("CREATE TABLE IF NOT EXISTS schema_migrations ("
                               "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied REAL NOT NULL)")
            description, statements = MIGRATIONS[version]
            for statement in statements:
                db.execute_sql(statement)
            db.execute_sql("INSERT INTO schema_migrations (version, description, applied) VALUES (?, ?, ?)",
                           (version + 1, description, now))
            # PRAGMA takes no parameters; the value is our own integer.
            db.execute_sql(f"PRAGMA user_version = {version + 1:d}")
            log.info("database schema migrated to version %d: %s", version + 1, description)
            applied += 1
