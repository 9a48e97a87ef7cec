"""Events a GoIP channel pushes (RECEIVE, DELIVER, RECORD...): stored, then acknowledged.

Every event is handed to the line-event sink (stored durably) before it is
acknowledged; an event the sink cannot store is not acknowledged, so the box
sends it again.  ``RECEIVE`` is a message (the box does not reassemble long
ones: each part is its own message), stored once per receive id and text;
``DELIVER`` a status report (``state`` as the TP-Status, 0 delivered);
``RECORD`` of an incoming call a call record (one per call: a repeated
``RECORD`` is recognised by its receive id once the first was stored).  Other
events are acknowledged and logged; ``AT`` output is never acknowledged.
Runs in the listener's thread.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from ..codec import goip_udp as wire
from ..codec.gsm7 import can_encode
from ..codec.pdu import Deliver
from ..model import CallRecord, DeliveryReport, IncomingSms, LineEvents
from .listener import Listener

log = logging.getLogger(__name__)

RECENT_EVENTS = 256  # receive ids remembered per line, to recognise a repeated event
HELD_MAX = 64  # events held back at once per line (more are stored at once)
SMS_NO_MAX = 0x7FFFFFFF  # a DELIVER naming a bigger sms_no names no send of ours


class Recent:
    """The last :data:`RECENT_EVENTS` keys seen, oldest forgotten first."""

    def __init__(self) -> None:
        self.keys: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self.keys

    def add(self, key: str) -> None:
        self.keys[key] = None
        self.keys.move_to_end(key)
        while len(self.keys) > RECENT_EVENTS:
            self.keys.popitem(last=False)


class Inbound:
    """The events of the channel ``goip_id``, line ``name``: stored in ``events``, acked through ``listener``;
    ``received()`` is called for each RECEIVE stored (not for its repeats)."""

    def __init__(self, name: str, goip_id: str, events: LineEvents, listener: Listener,
                 received: Callable[[], None] = lambda: None) -> None:
        self.name = name
        self._received = received  # called once per message stored (for the line's counter)
        self.goip_id = goip_id
        self._events = events
        self._listener = listener
        self._recent = Recent()
        self._held: list[tuple[wire.Event, tuple[str, int]]] = []

    def hold(self, packet: wire.Event, address: tuple[str, int]) -> bool:
        """Keep ``packet`` unstored and unacknowledged until :meth:`release`; False (nothing
        kept) when :data:`HELD_MAX` are held already."""
        if len(self._held) >= HELD_MAX:
            return False
        self._held.append((packet, address))
        return True

    def release(self) -> None:
        """Store and acknowledge the held events, in the order they came."""
        held, self._held = self._held, []
        for packet, address in held:
            self.event(packet, address)

    def drop(self) -> None:
        """Forget the held events (the agent stops; the box sends them again to the next run)."""
        self._held.clear()

    def event(self, packet: wire.Event, address: tuple[str, int]) -> bool:
        """Store ``packet`` (when it is one to store), then acknowledge it to ``address``;
        False when it could not be stored (not acknowledged: the box sends it again)."""
        verb = packet.verb.upper()
        fields = packet.fields
        now = datetime.now().astimezone()
        key = f"{verb}:{packet.recvid}"
        try:
            if verb == "RECEIVE":
                text = fields.get("msg", "")
                message = Deliver(smsc=fields.get("smscnum") or None, sender=fields.get("srcnum", ""), text=text,
                                  encoding="gsm7" if can_encode(text) else "ucs2", data=None, scts=now, concat=None,
                                  pid=0, dcs=0, message_class=None, udh=(), ports=None, sri=False,
                                  more_messages=False, tpdu_length=0)
                self._events.on_sms(IncomingSms(self.name, "", message, received_at=now,
                                                key=f"goip:{self.goip_id}:{packet.recvid}"))
            elif verb == "DELIVER":
                sms_no, state = _int(fields.get("sms_no", "")), _int(fields.get("state", ""))
                if sms_no is None or not 0 <= sms_no <= SMS_NO_MAX or state is None or not 0 <= state <= 0xFF:
                    log.warning("%s: DELIVER without a usable sms_no/state ignored: %s", self.name, dict(fields))
                else:
                    self._events.on_report(DeliveryReport(self.name, sms_no, state, fields.get("num", ""), None,
                                                          None, f"goip DELIVER {packet.recvid}", now))
            elif verb == "RECORD":
                if fields.get("dir") == "1" and key not in self._recent:
                    self._events.on_call(CallRecord(self.name, fields.get("num", ""), now))
            elif verb == "AT":
                return True  # an AT session's output: no acknowledgement
            else:
                log.info("%s: GoIP %s %s", self.name, verb, "; ".join(f"{k}={v}" for k, v in fields.items())[:200])
        except Exception:
            log.exception("%s: GoIP %s %s not stored: not acknowledged (the box sends it again)", self.name,
                          verb, packet.recvid)
            return False
        if verb == "RECEIVE" and key not in self._recent:
            self._received()
        self._recent.add(key)  # only once stored: an event that failed is stored when the box resends it
        self._listener.send_to(address, wire.ack(packet))
        return True


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except (ValueError, AttributeError):
        return None
