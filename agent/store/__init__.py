"""The durable store: the only place with SQL and the only importer of peewee.

Use :class:`agent.store.queue.Store` and the values in :mod:`agent.store.queue`.
"""
