"""Events a simulated GoIP line raises, resent until the server answers them (spec §3).

An event is ``VERB:<recvid>;id:..;password:..;...`` sent to the server; the
server answers ``<VERB> <recvid> OK`` (or an error text).  Unanswered, the
box sends it again every ``retransmit`` seconds, at most ``retries`` times,
then gives up.  Everything here runs on the box's I/O thread or under its lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from . import goip_wire as wire

_KEPT = 1000  # events remembered per line, oldest forgotten first


@dataclass
class Event:
    """An event the line sent: ``sends`` counts the first send and each resend;
    ``answer`` is what followed ``<VERB> <recvid>`` in the server's reply ('OK' for an ack)."""

    recvid: int
    verb: str
    data: bytes
    sends: int = 1
    answer: str | None = None
    gave_up: bool = False

    @property
    def acked(self) -> bool:
        return self.answer == "OK"


class EventHost(Protocol):
    """What the events use of their line (see :class:`~.goip_channel.SimChannel`)."""

    id: str
    password: str

    def schedule(self, delay: float, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the I/O thread after ``delay`` seconds."""

    def to_server(self, data: bytes) -> None:
        """Send ``data`` to the server from the line's socket."""

    def next_recvid(self) -> int:
        """A new event id."""

    def resending(self) -> tuple[float, int]:
        """``(retransmit, retries)``: seconds between sends of an unanswered event, and how many resends."""


class Events:
    """The events of one line, in the order they were raised."""

    def __init__(self, host: EventHost) -> None:
        self._host = host
        self._sent: dict[int, Event] = {}

    def __iter__(self):
        return iter(self._sent.values())

    def emit(self, verb: str, fields: Iterable[tuple[str, object]]) -> int:
        """Send the event ``verb`` with ``fields`` (after id and password) now, resend it until
        answered; return its recvid."""
        host = self._host
        recvid = host.next_recvid()
        data = wire.event(verb, recvid, host.id, host.password, [(k, str(v)) for k, v in fields])
        event = self._sent[recvid] = Event(recvid, verb, data)
        while len(self._sent) > _KEPT:
            del self._sent[next(iter(self._sent))]
        host.to_server(data)
        host.schedule(host.resending()[0], lambda: self._resend(event))
        return recvid

    def answer(self, verb: str, tokens: list[str]) -> bool:
        """Take ``<VERB> <recvid> <answer...>`` (split on blanks) for a known event; False when it is
        for no event of ours (unknown recvid, or another verb)."""
        try:
            event = self._sent.get(int(tokens[1]))
        except (IndexError, ValueError):
            return False
        if event is None or event.verb != verb or len(tokens) < 3:
            return False
        event.answer = " ".join(tokens[2:])
        return True

    def _resend(self, event: Event) -> None:
        if event.answer is not None:
            return
        interval, retries = self._host.resending()
        if event.sends - 1 >= retries:
            event.gave_up = True
            return
        event.sends += 1
        self._host.to_server(event.data)
        self._host.schedule(interval, lambda: self._resend(event))
