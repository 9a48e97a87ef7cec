"""The quotas and provider group in force per line: the configured ones, or an operator's override.

Overrides (set remotely or on the status page) are stored in the database so
they survive a restart, and cached here: the router asks at every turn.
"""

from __future__ import annotations

import threading
from typing import Mapping

from .config import LineConfig
from .errors import UnknownLine
from .lineview import limits_in_force
from .store.queue import Store


class LineLimits:
    def __init__(self, store: Store, lines: Mapping[str, LineConfig]) -> None:
        self._store = store
        self._lines = lines
        self._lock = threading.Lock()
        self._overrides = store.sims.line_limits()
        self._providers = store.sims.line_providers()

    def get(self, name: str) -> tuple[int, int]:
        """(daily, total) limits of line ``name`` in SMS parts; -1 unlimited.  UnknownLine if unknown."""
        cfg = self._config(name)
        return limits_in_force((cfg.daily_limit, cfg.total_limit), self._overrides.get(name, (None, None)))

    def provider(self, name: str) -> str:
        """The provider group line ``name`` belongs to now.  UnknownLine if unknown."""
        return self._providers.get(name, self._config(name).provider)

    def providers(self) -> set[str]:
        return {self.provider(name) for name in self._lines} - {""}

    def set_provider(self, name: str, provider: str | None) -> str:
        """Move a line to another provider group (None: the configured one); return the group now.
        UnknownLine if unknown."""
        self._config(name)
        with self._lock:
            self._store.sims.set_line_provider(name, provider)
            if provider is None:
                self._providers.pop(name, None)
            else:
                self._providers[name] = provider
        return self.provider(name)

    def set(self, name: str, *, daily: int | None, total: int | None) -> tuple[int, int]:
        """Override (None: back to the configured value); return the limits now in force.

        Raise UnknownLine for an unknown line, ValueError for a limit below -1.
        """
        self._config(name)
        with self._lock:
            self._store.sims.set_line_limits(name, daily=daily, total=total)
            if daily is None and total is None:
                self._overrides.pop(name, None)
            else:
                self._overrides[name] = (daily, total)
        return self.get(name)

    def _config(self, name: str) -> LineConfig:
        if name not in self._lines:
            raise UnknownLine(name)
        return self._lines[name]
