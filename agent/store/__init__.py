"""The durable store: the only place with SQL and the only importer of peewee.

Use :class:`agent.store.queue.Store`, the parts it hands out (``store.dispatch``,
``store.outbox``...) and the values in :mod:`agent.store.queue`.

Plain SQL, no ORM models.  peewee is the database layer: its
``SqliteDatabase`` gives each thread its own connection, and
:func:`agent.store.db.write` builds the transactions on it.  The schema is the
frozen SQL of the migrations in :mod:`agent.store.db` (the Jindi tables need
exact types, defaults and column order, and a migration must not change when
the code does), and every query is written in SQL against those tables, as the
applications that insert into ``smsserver_out`` write theirs.  peewee models
that mirrored the tables served one query (the line snapshots) and a test that
they agreed with the migrations, and on the hot paths building a peewee query
cost more than running it, so there are none: the migrations are the one
description of the columns, and ``tests/store/test_schema.py`` checks the
Jindi tables against the spec.
"""
