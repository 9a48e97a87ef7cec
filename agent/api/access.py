"""Who may call a dialect, and how often: address allow-lists and submit rates.

Pure helpers the dialect modules use to answer with their own codes (SOMP
9104/9032, HttpBatchSendSM 117/103, httpInterface 109...).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterable


class AllowList:
    """Client addresses allowed to call (networks as ``10.0.0.0/8`` or single
    addresses); empty: everyone.  An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``)
    is checked as its IPv4 address."""

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self._networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    def __bool__(self) -> bool:
        return bool(self._networks)

    def allows(self, address: str | None) -> bool:
        if not self._networks:
            return True
        try:
            ip = ipaddress.ip_address((address or "").split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self._networks)


class RateLimit:
    """A token bucket: at most ``rate`` takes per second on average, bursts of up
    to ``burst`` (default: one second's worth, at least 1).  ``rate`` 0: no limit.
    Thread-safe; never sleeps."""

    def __init__(self, rate: float, *, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._burst = max(1.0, burst if burst is not None else rate)
        self._tokens = self._burst
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Take one token; False (and nothing taken) when the rate is exceeded."""
        if self.rate <= 0:
            return True
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True
