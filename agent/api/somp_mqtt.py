"""The SOMP MQTT dialect (seed ``001``, ``spec/somp.md``), under the box's topic prefix.

The seed's gateway *is* a broker: a client publishes a UTF-8 text to the
topic ``<phone>`` to send it, and subscribes to ``receive`` to get MOs as
``M<phone>`` and status reports as ``R<phone>`` (payload: the text, or the
status description).  Here the agent is a client of someone else's broker,
so the dialect lives under ``<prefix>/somp/``:

* ``<prefix>/somp/<phone>`` (subscribed, QoS 1): the payload, UTF-8 text,
  is sent to ``<phone>`` (``+``? and 3 to 20 digits; a ``+`` cannot appear
  in an MQTT topic, so in practice digits, ``00`` for international).  The
  seed's limit on the packet (Remaining Length <= 16383) is kept, and the
  text must fit ``max_parts`` SMS parts.  There is no reply in this dialect:
  a refused text is logged (one line), nothing is queued.
* ``<prefix>/somp/receive/M<phone>``: each received SMS, payload its text.
* ``<prefix>/somp/receive/R<phone>``: each delivery report (``DELIVRD`` or
  ``UNDELIV``), and each send that failed (``UNDELIV``, ``EXPIRED`` when its
  validity ran out first, ``REJECTD`` for a number or text the network or
  the agent refused): the SMPP ``stat`` words SOMP reports carry.

This module is pure: no MQTT library, no I/O.  Received and reported events
come from the outbox like every other MQTT event (:func:`received` is a formatter
of :mod:`agent.uplink.forward`); :func:`handler` serves the ``somp`` requests.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from ..codec.parts import split
from ..errors import EncodeError, Refused, TooManyParts
from ..model import NewMessage, Publication

SEND_FILTER = "somp/+"  # under the prefix; matches somp/<phone> (and somp/receive, ignored)
RECEIVE = "somp/receive"
MAX_PACKET = 16383  # the seed's bound on a PUBLISH's Remaining Length
SOURCE = "somp-mqtt"

_PHONE = re.compile(r"\+?[0-9]{3,20}")
_UNSAFE = re.compile(r"[/+#\x00-\x1f\x7f]")  # not allowed (or not wise) in an MQTT topic level
_REJECTED = {"BAD_NUMBER", "BAD_FORMAT"}

log = logging.getLogger(__name__)


def send_request(phone: str, payload: bytes, *, max_parts: int) -> NewMessage:
    """Given the topic level after ``somp/`` and the payload, return the message
    to queue.  Raise :class:`~agent.errors.Refused` (status 0: the dialect has no
    reply; reason ``bad_number``, ``too_big``, ``not_utf8``, ``empty``,
    ``too_long`` or ``not_encodable``) when the number, the text or its size
    cannot be sent."""
    if not _PHONE.fullmatch(phone):
        raise Refused(0, "bad_number", f"{phone[:40]!r} is not a phone number (3 to 20 digits)")
    if len(payload) + len(phone) + 8 > MAX_PACKET:  # topic, its length and the packet id count too
        raise Refused(0, "too_big",
                      f"payload of {len(payload)} bytes is over the dialect's {MAX_PACKET}-byte packet limit")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(0, "not_utf8", f"payload is not UTF-8 (byte {exc.start})") from None
    if not text:
        raise Refused(0, "empty", "empty text")
    try:
        parts = len(split(text, max_parts=max_parts))
    except TooManyParts as exc:
        raise Refused(0, "too_long", f"text needs {exc.needed} SMS parts, at most {exc.maximum} allowed") from None
    except EncodeError as exc:
        raise Refused(0, "not_encodable", f"text cannot be sent: {exc}") from None
    return NewMessage(recipient=phone, text=text, encoding="7", parts=parts)


def handler(submit: Callable[[NewMessage], int | None], *, max_parts: int) -> Callable[[str, bytes], None]:
    """The ``somp/<phone>`` request handler of the MQTT transport: queue the text
    through ``submit`` (which returns the task id), or log why it is refused.
    ``somp/receive`` is where the box publishes: a message there is no request."""

    def send(phone: str, payload: bytes) -> None:
        if phone == RECEIVE.rpartition("/")[2]:
            return
        try:
            message = send_request(phone, payload, max_parts=max_parts)
        except Refused as exc:
            log.warning("mqtt: SOMP send to %s refused: %s", phone[:40], exc)
            return
        log.info("mqtt: SOMP send to %s queued as task %s", phone, submit(message))

    return send


def topic_phone(number: str) -> str:
    """A phone number or sender name as one topic level: a leading ``+`` dropped,
    characters MQTT forbids in a topic name replaced by ``_``; ``unknown`` if empty."""
    return _UNSAFE.sub("_", number.lstrip("+")) or "unknown"


def received(kind: str, payload: dict[str, Any]) -> Publication | None:
    """The ``somp/receive/...`` message for an outbox event, None when the dialect
    has none for it (calls, successful sends, reports still pending)."""
    if kind == "mo":
        text = payload.get("text") or ""
        return Publication(f"{RECEIVE}/M{topic_phone(str(payload.get('originator') or ''))}",
                           text.encode("utf-8", "backslashreplace"))
    status = _status(kind, payload)
    if status is None:
        return None
    return Publication(f"{RECEIVE}/R{topic_phone(str(payload.get('recipient') or ''))}", status.encode())


def _status(kind: str, payload: dict[str, Any]) -> str | None:
    if kind == "receipt":
        return "DELIVRD" if payload.get("delivered") is True else "UNDELIV"
    if kind == "result" and payload.get("status") == "failed":
        cause = payload.get("failure_cause")
        return "EXPIRED" if cause == "EXPIRED" else "REJECTD" if cause in _REJECTED else "UNDELIV"
    return None
