"""Logging set-up, called once from the entry point.

Every module logs through ``logging.getLogger(__name__)`` and never touches
handlers.  Lines carry the thread name (``modem-G101``, ``router``...), so the
journal shows which line or part spoke.  AT traffic is logged at DEBUG.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)-7s [%(threadName)s] %(name)s: %(message)s"
JOURNAL_FORMAT = "<%(syslog_level)s>[%(threadName)s] %(name)s: %(message)s"

_SYSLOG_LEVELS = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _JournalFormatter(logging.Formatter):
    """Prefix each line with its syslog priority so journald keeps the level (no timestamp: journald adds it)."""

    def format(self, record: logging.LogRecord) -> str:
        record.syslog_level = _SYSLOG_LEVELS.get(record.levelno, 6)
        return super().format(record)


def setup(level: str = "INFO", *, journal: bool | None = None) -> None:
    """Configure the root logger to write to stderr at ``level``.

    ``journal`` (default: detected from ``$JOURNAL_STREAM``) switches to the
    ``<priority>`` prefix format understood by systemd-journald.
    """
    import os

    if journal is None:
        journal = bool(os.environ.get("JOURNAL_STREAM"))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JournalFormatter(JOURNAL_FORMAT) if journal else logging.Formatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
