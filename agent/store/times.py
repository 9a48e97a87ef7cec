"""Local time as the Jindi tables store it.

Jindi's DATETIME columns hold naive local time as ``'YYYY-MM-DD HH:MM:SS'``
text, so that an application's ``datetime('now','localtime')`` compares with
them as strings.  :class:`LocalTime` converts between epoch seconds, aware
datetimes and that text, in one configured time zone (None: the system's).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

log = logging.getLogger(__name__)

FORMAT = "%Y-%m-%d %H:%M:%S"


class LocalTime:
    """The store's clock and time zone.

    ``clock`` returns epoch seconds (``time.time``); ``tz`` is a tzinfo such as
    ``zoneinfo.ZoneInfo('Asia/Shanghai')``, or None for the system's local time.
    """

    def __init__(self, tz: tzinfo | None = None, clock: Callable[[], float] = time.time) -> None:
        self.tz = tz
        self.clock = clock

    def now(self) -> float:
        return self.clock()

    def local(self, when: float | datetime) -> datetime:
        """Given an epoch or a datetime (naive: already local), return it as naive local time."""
        if isinstance(when, datetime):
            if when.tzinfo is None:
                return when
            return when.astimezone(self.tz).replace(tzinfo=None)
        return datetime.fromtimestamp(when, self.tz).replace(tzinfo=None)

    def text(self, when: float | datetime | None = None) -> str:
        """Given an epoch or datetime (None: now), return ``'YYYY-MM-DD HH:MM:SS'`` local."""
        return self.local(self.now() if when is None else when).strftime(FORMAT)

    def day(self, when: float | None = None) -> str:
        """Return the local calendar day ``'YYYY-MM-DD'`` of an epoch (None: now)."""
        return self.local(self.now() if when is None else when).strftime("%Y-%m-%d")

    def midnight(self, when: float | None = None) -> float:
        """Return the epoch of the local midnight that starts the day of ``when`` (None: now)."""
        day = self.local(self.now() if when is None else when).replace(hour=0, minute=0, second=0, microsecond=0)
        return self._epoch(day)

    def ago(self, seconds: float) -> str:
        """Return the local text of ``seconds`` before now."""
        return self.text(self.now() - seconds)

    def epoch(self, text: str | None, *, quiet: bool = False) -> float | None:
        """Given a stored DATETIME (any ISO-8601 form; naive means local), return
        its epoch, or None when it is NULL or unreadable (logged unless ``quiet``)."""
        if text is None or text == "":
            return None
        try:
            parsed = datetime.fromisoformat(str(text).strip())
        except ValueError:
            if not quiet:
                log.warning("unreadable date %r ignored", text)
            return None
        if parsed.tzinfo is not None:
            return parsed.timestamp()
        return self._epoch(parsed)

    def _epoch(self, naive: datetime) -> float:
        if self.tz is None:
            return naive.timestamp()  # naive timestamp() is system local time
        return naive.replace(tzinfo=self.tz).timestamp()

    def days_ago(self, days: float) -> tuple[float, str]:
        """Return (epoch, local text) of ``days`` days before now."""
        cutoff = self.now() - timedelta(days=days).total_seconds()
        return cutoff, self.text(cutoff)
