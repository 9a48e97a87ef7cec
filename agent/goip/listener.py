"""What a GoIP channel's parts use of the listener that owns the socket and the thread."""

from __future__ import annotations

from typing import Any, Callable, Protocol

from .timing import RoundTrip


class Timer(Protocol):
    def cancel(self) -> None: ...


class Listener(Protocol):
    """What a line uses of the listener that owns the socket and the thread."""

    clock: Callable[[], float]

    def call(self, task: Callable[[], None]) -> None: ...

    def later(self, delay: float, task: Callable[[], None]) -> Timer: ...

    def new_id(self, owner: Any) -> int: ...

    def release_id(self, value: int) -> None: ...

    def send_to(self, address: tuple[str, int] | None, data: bytes) -> None: ...

    def round_trip(self, address: tuple[str, int] | None) -> RoundTrip: ...
