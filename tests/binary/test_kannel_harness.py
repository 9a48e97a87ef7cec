"""The Kannel harness works, shown against a fake SMSC (not the agent's server):
Kannel binds, its sendsms reaches the SMSC as submit_sm, and the SMSC's
delivery receipt comes back to the test's dlr-url as type=1 (delivered)."""

from __future__ import annotations

import threading
import time

import pytest

from ..receiver import Receiver
from ..waiting import wait_until
from .fake_smsc import FakeSmsc
from .kannel import Kannel


@pytest.fixture
def dlr_receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def _delivered(hits):
    return [h for h in hits if h.path == "/dlr" and dict(h.query).get("type") == "1"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", ["transceiver", "split"])
def test_sendsms_reaches_the_smsc_and_the_receipt_reaches_the_dlr_url(tmp_path, dlr_receiver, mode):
    started = time.monotonic()
    # Split binds: Kannel reads the submit_sm_resp (and files the DLR) on the
    # transmitter's thread and the receipt on the receiver's; a receipt sent
    # right behind the resp can be looked up first and dropped ("got DLR but
    # could not find message").  So there the receipt goes once Kannel has
    # reported the SMSC's ack (type 8), which it does after filing the DLR.
    auto_receipt = mode == "transceiver"
    with FakeSmsc("kannel", "secret", receipts=auto_receipt) as smsc, \
            Kannel(tmp_path, port=smsc.port, system_id="kannel", password="secret", mode=mode) as kannel:
        kannel.wait_smsc_online(10)
        binds = sorted(p.command for p in smsc.pdus if p.command.startswith("bind_"))
        assert binds == (["bind_transceiver"] if mode == "transceiver" else ["bind_receiver", "bind_transmitter"])
        assert {p.fields["system_type"] for p in smsc.pdus if p.command.startswith("bind_")} == {"VMA"}
        assert {p.fields["interface_version"] for p in smsc.pdus if p.command.startswith("bind_")} == {0x34}

        status, body = kannel.sendsms("8613800138000", "hello from kannel",
                                      dlr_url=f"{dlr_receiver.url}/dlr?type=%d&id=%F&smsc=%i")
        assert status == 202, body

        [submit] = smsc.wait(lambda s: s.seen("submit_sm"), 10)
        assert submit.fields["destination_addr"] == "8613800138000"
        assert submit.fields["short_message"] == b"hello from kannel"
        assert submit.fields["data_coding"] == 0
        assert submit.fields["registered_delivery"] & 0x01  # the receipt was asked for

        if not auto_receipt:
            dlr_receiver.wait(lambda hits: any(dict(h.query).get("type") == "8" for h in hits), 10)
            smsc.send_receipt(submit)
        hits = dlr_receiver.wait(_delivered, 10)
        [delivered] = _delivered(hits)
        assert dict(delivered.query) == {"type": "1", "id": submit.fields["message_id"], "smsc": Kannel.SMSC_ID}
        # Kannel answered the receipt
        smsc.wait(lambda s: any(p.command == "deliver_sm_resp" and p.status == 0 for p in s.pdus), 5)
    assert smsc.wait(lambda s: s.seen("unbind"), 5), "bearerbox did not unbind on SIGTERM"
    assert kannel.procs["bearerbox"].returncode is not None and kannel.procs["smsbox"].returncode is not None
    assert time.monotonic() - started < 15


def test_unicode_goes_as_ucs2_and_long_text_as_udh_parts(tmp_path):
    with FakeSmsc("kannel", "secret", receipts=False) as smsc, \
            Kannel(tmp_path, port=smsc.port, system_id="kannel", password="secret") as kannel:
        kannel.wait_smsc_online(10)
        status, body = kannel.sendsms("+8613800138000", "你好 ü", coding=2, charset="UTF-8")
        assert status == 202, body
        [submit] = smsc.wait(lambda s: s.seen("submit_sm"), 10)
        assert submit.fields["data_coding"] == 0x08
        assert submit.fields["short_message"] == "你好 ü".encode("utf-16-be")
        assert submit.fields["dest_addr_ton"] == 1 and submit.fields["destination_addr"] == "8613800138000"

        # 7-bit text: GSM 03.38, one septet an octet; 160 + 140: two parts of
        # 153 behind a UDH (IEI 0x00, 8-bit reference), esm_class UDHI | store-and-forward
        text = "@" + "a" * 299
        status, body = kannel.sendsms("8613800138000", text)
        assert status == 202, body
        submits = smsc.wait(lambda s: len(s.seen("submit_sm")) == 3 and s.seen("submit_sm"), 10)
        one, two = submits[1].fields, submits[2].fields
        assert one["esm_class"] == two["esm_class"] == 0x43
        assert one["data_coding"] == two["data_coding"] == 0
        udh1, udh2 = one["short_message"][:6], two["short_message"][:6]
        assert udh1[:3] == udh2[:3] == b"\x05\x00\x03" and udh1[3] == udh2[3] and udh1[4:] == b"\x02\x01"
        assert udh2[4:] == b"\x02\x02"
        assert one["short_message"][6:] + two["short_message"][6:] == b"\x00" + b"a" * 299


def test_a_refused_bind_leaves_the_smsc_dead(tmp_path):
    # Kannel gives up on an smsc whose bind is refused for its password (no
    # retry: status "dead").  The fake answers the bind only once bearerbox is
    # through its start-up: a refusal before then makes Kannel 1.4.5 panic.
    up = threading.Event()
    with FakeSmsc("kannel", "secret", hold_binds=up) as smsc, \
            Kannel(tmp_path, port=smsc.port, system_id="kannel", password="wrong") as kannel:
        wait_until(kannel.started, 10, "bearerbox's start-up")
        up.set()
        [bind] = smsc.wait(lambda s: s.seen("bind_transceiver"), 10)
        assert bind.fields["password"] == "wrong"
        wait_until(lambda: kannel.smsc_status() == "dead", 10, lambda: f"smsc dead, not {kannel.smsc_status()!r}")
        with pytest.raises(AssertionError, match="online"):
            kannel.wait_smsc_online(0.3)
