"""A third-party ESME against the SMPP door: python smpplib (its own PDU codec and
client logic) as transmitter, receiver and transceiver, long messages split by
smpplib itself (UDH), UCS2, receipts and received messages."""

from __future__ import annotations

import time

import pytest

smpplib = pytest.importorskip("smpplib")
import smpplib.client  # noqa: E402
import smpplib.consts  # noqa: E402
import smpplib.gsm  # noqa: E402

from agent.codec import smpp  # noqa: E402
from agent.doors.ids import smpp_id, smpp_task  # noqa: E402

from ..waiting import wait_until  # noqa: E402


class Esme:
    """An smpplib client and what its handlers saw."""

    def __init__(self, address: tuple[str, int], bind: str) -> None:
        self.client = smpplib.client.Client(address[0], address[1], timeout=0.5, allow_unknown_opt_params=True)
        self.sent: list = []  # submit_sm_resp PDUs
        self.received: list = []  # deliver_sm PDUs
        self.client.set_message_sent_handler(lambda pdu: self.sent.append(pdu))
        self.client.set_message_received_handler(lambda pdu: self.received.append(pdu))
        self.client.connect()
        getattr(self.client, f"bind_{bind}")(system_id="branch", password="secret12")

    def pump_until(self, predicate, timeout: float = 15.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.client.read_once()
        return predicate()

    def send_text(self, to: str, text: str, **kw) -> int:
        parts, coding, esm_class = smpplib.gsm.make_parts(text)
        for part in parts:
            self.client.send_message(source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="Branch",
                                     dest_addr_ton=smpplib.consts.SMPP_TON_INTL, destination_addr=to,
                                     short_message=part, data_coding=coding, esm_class=esm_class, **kw)
        return len(parts)

    def close(self) -> None:
        try:
            self.client.unbind()
        finally:
            self.client.disconnect()


@pytest.fixture
def esmes(agent):
    made = []

    def make(bind: str = "transceiver") -> Esme:
        e = Esme(agent.smpp, bind)
        made.append(e)
        return e

    yield make
    for e in made:
        try:
            e.close()
        except Exception:
            pass


def _ids(pdus) -> list[str]:
    return [p.message_id.decode() if isinstance(p.message_id, bytes) else p.message_id for p in pdus]


def test_transceiver_sends_and_gets_its_receipt(agent, esmes):
    e = esmes("transceiver")
    e.send_text("8613800138000", "Hello from smpplib", registered_delivery=1)
    e.pump_until(lambda: len(e.sent) == 1, what="submit_sm_resp")
    assert e.sent[0].status == 0
    [message_id] = _ids(e.sent)
    wait_until(lambda: any(m.text == "Hello from smpplib" for m in agent.sent()), 10, "sent by a modem")
    e.pump_until(lambda: len(e.received) == 1, what="the receipt")
    dlr = e.received[0]
    assert dlr.esm_class & 0x04  # SMSC delivery receipt
    fields = smpp.parse_receipt(dlr.short_message.decode())
    assert (fields["id"], fields["stat"]) == (message_id, "DELIVRD")
    assert dlr.receipted_message_id.decode().rstrip("\0") == message_id


def test_long_ucs2_split_by_smpplib_goes_out_whole(agent, esmes):
    e = esmes("transceiver")
    text = "长短信测试，" * 30  # 180 characters: smpplib makes 3 UCS2 parts with a UDH
    n = e.send_text("8613800138001", text, registered_delivery=1)
    assert n == 3
    e.pump_until(lambda: len(e.sent) == 3, what="three submit_sm_resp")
    assert all(p.status == 0 for p in e.sent)
    ids = _ids(e.sent)
    task = smpp_task(ids[0])[0]
    assert sorted(ids) == [smpp_id(task, 1), smpp_id(task, 2), smpp_id(task, 3)]
    wait_until(lambda: any(m.text == text for m in agent.sent()), 10, "the whole text sent")
    e.pump_until(lambda: len(e.received) == 3, what="a receipt per part")
    assert sorted(p.receipted_message_id.decode().rstrip("\0") for p in e.received) == sorted(ids)


def test_transmitter_and_receiver_apart(agent, esmes):
    tx = esmes("transmitter")
    rx = esmes("receiver")
    tx.send_text("8613800138002", "split roles", registered_delivery=1)
    tx.pump_until(lambda: len(tx.sent) == 1, what="submit_sm_resp")
    [message_id] = _ids(tx.sent)
    rx.pump_until(lambda: len(rx.received) == 1, what="the receipt at the receiver")
    assert rx.received[0].receipted_message_id.decode().rstrip("\0") == message_id
    agent.stack.sim[0].deliver("+8613900000000", "an answer")
    rx.pump_until(lambda: len(rx.received) == 2, what="the MO at the receiver")
    mo = rx.received[1]
    assert (mo.source_addr.decode(), mo.short_message.decode()) == ("8613900000000", "an answer")
    assert tx.received == []  # a transmitter gets no deliver_sm


def test_a_wrong_password_raises_in_smpplib(agent):
    client = smpplib.client.Client(*agent.smpp, timeout=2, allow_unknown_opt_params=True)
    client.connect()
    with pytest.raises(smpplib.exceptions.PDUError) as info:
        client.bind_transceiver(system_id="branch", password="nope")
    assert info.value.args[1] == smpp.ESME_RBINDFAIL
    client.disconnect()
