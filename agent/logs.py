"""Logging set-up, called once from the entry point.

Every module logs through ``logging.getLogger(__name__)`` and never touches
handlers.  Lines carry the thread name (``modem-G101``, ``router``...), so the
journal shows which line or part spoke.  AT traffic is logged at DEBUG.

No secret reaches the log: :func:`setup` puts a :class:`RedactFilter` on its
handler, given the config's secret values, which rewrites every record
(message, traceback, stack) by the rule of :mod:`agent.redact`.

No line floods it: waitress warns "Task queue depth is N" (logger
``waitress.queue``) for each request that finds every worker thread busy,
thousands of lines under load; :func:`setup` lets one through a minute
(:class:`OncePerInterval`), which says how many it held back.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable

from .redact import Redactor

FORMAT = "%(asctime)s %(levelname)-7s [%(threadName)s] %(name)s: %(message)s"
JOURNAL_FORMAT = "<%(syslog_level)s>[%(threadName)s] %(name)s: %(message)s"

_SYSLOG_LEVELS = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _JournalFormatter(logging.Formatter):
    """Prefix each line with its syslog priority so journald keeps the level (no timestamp: journald adds it)."""

    def format(self, record: logging.LogRecord) -> str:
        record.syslog_level = _SYSLOG_LEVELS.get(record.levelno, 6)
        return super().format(record)


class RedactFilter(logging.Filter):
    """A handler filter that, given ``redact`` (text -> text with secrets
    replaced, e.g. a :class:`~agent.redact.Redactor`), rewrites each record so
    that its message, traceback and stack go out redacted; it never drops a
    record.  The record is changed in place (the arguments are merged into the
    message), so every handler after this one sees the redacted text too."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: show its parts, redacted, rather than lose the line
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = self._redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


class OncePerInterval(logging.Filter):
    """A logger filter that lets one record through per ``interval`` seconds
    (``clock``: monotonic seconds) and drops the others, counting them; the
    next record let through ends with ``note`` (if any) and how many were not
    shown."""

    def __init__(self, interval: float = 60.0, *, note: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self._note = note
        self._clock = clock
        self._lock = threading.Lock()
        self._open_at: float | None = None  # when the next record may pass
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        with self._lock:
            if self._open_at is not None and now < self._open_at:
                self._held += 1
                return False
            self._open_at = now + self.interval
            held, self._held = self._held, 0
        extra = [self._note] if self._note else []
        if held:
            extra.append(f"{held} more such line(s) in the last {self.interval:g} s not shown")
        if extra:
            try:
                message = record.getMessage()
            except Exception:
                return True
            record.msg, record.args = f"{message} ({'; '.join(extra)})", None
        return True


# waitress's logger for "Task queue depth is N" (a request waits for a free worker thread).
WAITRESS_QUEUE_LOGGER = "waitress.queue"


def quiet_waitress_queue(interval: float = 60.0) -> OncePerInterval:
    """Put (or put again) a :class:`OncePerInterval` on waitress's queue logger; return it."""
    logger = logging.getLogger(WAITRESS_QUEUE_LOGGER)
    for old in [f for f in logger.filters if isinstance(f, OncePerInterval)]:
        logger.removeFilter(old)
    limit = OncePerInterval(interval, note="requests waiting for a free HTTP worker thread: [http] threads")
    logger.addFilter(limit)
    return limit


def setup(level: str = "INFO", *, journal: bool | None = None, secrets: Iterable[str] = ()) -> None:
    """Configure the root logger to write to stderr at ``level``.

    ``journal`` (default: detected from ``$JOURNAL_STREAM``) switches to the
    ``<priority>`` prefix format understood by systemd-journald.  ``secrets``
    (:func:`agent.redact.secret_values` of the config) are replaced by ``***``
    in every line, and so are URL credentials (``user:pass@``, ``pswd=``...)
    whatever their value.  waitress's queue warnings come once a minute at most.
    """
    import os

    if journal is None:
        journal = bool(os.environ.get("JOURNAL_STREAM"))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JournalFormatter(JOURNAL_FORMAT) if journal else logging.Formatter(FORMAT))
    handler.addFilter(RedactFilter(Redactor(secrets)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet_waitress_queue()
