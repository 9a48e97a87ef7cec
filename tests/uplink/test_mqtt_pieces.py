"""The uplink's pure parts, without a broker: the outbox cursor and bound, the SOMP dialect, events."""

from __future__ import annotations

from datetime import datetime

import pytest

from agent.api import somp_mqtt
from agent.api.mqtt_dialects import FORMATTERS
from agent.errors import Refused
from agent.model import CallRecord, Publication
from agent.store.queue import OutboxItem, Store
from agent.uplink.forward import DESTINATION, publications


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "o.db", push_targets={"call": {DESTINATION, "other"}})
    s.open()
    yield s
    s.close()


def test_outbox_cursor_and_bound(store):
    for i in range(10):
        store.inbox.store_call(CallRecord("x", f"{i}", datetime.now()))
    ids = [item.id for item in store.outbox.after(DESTINATION, 0, 100)]
    assert len(ids) == 10 and ids == sorted(ids)
    assert store.outbox.last_id(DESTINATION) == ids[-1]
    assert [i.id for i in store.outbox.after(DESTINATION, ids[3], 3)] == ids[4:7]
    assert [i.id for i in store.outbox.after(DESTINATION, ids[3], 100, upto=ids[5])] == ids[4:6]
    store.outbox.retry(ids[0], 4e9, "later")  # a retry time does not hide a row from the cursor
    assert store.outbox.after(DESTINATION, 0, 1)[0].id == ids[0]

    assert store.outbox.trim(DESTINATION, 4) == 6
    assert [i.id for i in store.outbox.after(DESTINATION, 0, 100)] == ids[6:]
    assert store.outbox.trim(DESTINATION, 4) == 0
    stats = store.outbox.stats()
    assert stats[DESTINATION]["dropped"] == 6 and stats[DESTINATION]["pending"] == 4
    assert stats["other"] == {"pending": 10, "dropped": 0, "oldest": stats["other"]["oldest"]}  # untouched
    assert store.outbox.last_id("nobody") == 0


def test_somp_send_requests():
    m = somp_mqtt.send_request("13612345678", "您好".encode(), max_parts=10)
    assert (m.recipient, m.text, m.parts) == ("13612345678", "您好", 1)
    assert somp_mqtt.send_request("13612345678", b"x" * 300, max_parts=10).parts == 2
    for phone, payload, why in [("1361234567x", b"hi", "phone"), ("12", b"hi", "phone"),
                                ("13612345678", b"", "empty"), ("13612345678", b"\xff\xfe", "UTF-8"),
                                ("13612345678", b"x" * 16380, "limit"), ("13612345678", b"x" * 2000, "parts")]:
        with pytest.raises(Refused, match=why):
            somp_mqtt.send_request(phone, payload, max_parts=10)


def test_somp_received_topics_and_words():
    mo = somp_mqtt.received("mo", {"originator": "+86 138/00#", "text": "hé"})
    assert mo == Publication("somp/receive/M86 138_00_", "hé".encode())
    base = {"recipient": "+8613800000000"}
    words = {("receipt", True, None): "DELIVRD", ("receipt", False, None): "UNDELIV",
             ("result", None, "EXPIRED"): "EXPIRED", ("result", None, "BAD_NUMBER"): "REJECTD",
             ("result", None, "GATEWAY_FAILURE"): "UNDELIV"}
    for (kind, delivered, cause), word in words.items():
        payload = {**base, "delivered": delivered, "status": "failed", "failure_cause": cause}
        assert somp_mqtt.received(kind, payload) == Publication("somp/receive/R8613800000000", word.encode())
    assert somp_mqtt.received("result", {**base, "status": "sent"}) is None
    assert somp_mqtt.received("call", {"caller": "1"}) is None


def test_events_become_topics():
    def item(kind, payload):
        return OutboxItem(7, DESTINATION, kind, payload, 0.0, 0, 0.0)
    (call,) = publications(item("call", {"caller": "1"}), replayed=True, formatters=FORMATTERS)
    assert call.topic == "calls" and call.payload == b'{"seq":7,"kind":"call","replayed":true,"caller":"1"}'
    dr, somp = publications(item("receipt", {"recipient": "1", "delivered": True}), replayed=False, formatters=FORMATTERS)
    assert dr.topic == "dr" and somp.topic == "somp/receive/R1"
    assert [p.topic for p in publications(item("mo", {"originator": "9", "text": "t"}), replayed=False, formatters=FORMATTERS)] == \
        ["mo", "somp/receive/M9"]
    assert publications(item("fax", {}), replayed=False, formatters=FORMATTERS) == []
    assert publications(item("mo", {"unreadable": "{"}), replayed=False, formatters=FORMATTERS) == []


def test_the_mqtt_section_masked():
    from agent import redact
    from agent.config import MqttConfig

    shown = redact.masked(MqttConfig(host="h", password="p", tls_key="/k.pem"))
    assert shown == {**shown, "password": "***", "tls_key": "/k.pem", "host": "h"}
    assert redact.masked(MqttConfig())["password"] == ""
