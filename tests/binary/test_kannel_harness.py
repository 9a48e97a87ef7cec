"""The Kannel harness works, shown against a fake SMSC (not the agent's server):
Kannel binds, its sendsms reaches the SMSC as submit_sm, and the SMSC's
delivery receipt comes back to the test's dlr-url as type=1 (delivered)."""

from __future__ import annotations

import time

import pytest

from ..receiver import Receiver
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
    with FakeSmsc("kannel", "secret") as smsc, \
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

        hits = dlr_receiver.wait(_delivered, 10)
        [delivered] = _delivered(hits)
        assert dict(delivered.query) == {"type": "1", "id": submit.fields["message_id"], "smsc": Kannel.SMSC_ID}
        # Kannel answered the receipt
        smsc.wait(lambda s: any(p.command == "deliver_sm_resp" and p.status == 0 for p in s.pdus), 5)
    assert smsc.wait(lambda s: s.seen("unbind"), 5), "bearerbox did not unbind on SIGTERM"
    assert kannel.procs["bearerbox"].returncode is not None and kannel.procs["smsbox"].returncode is not None
    assert time.monotonic() - started < 15


def test_unicode_goes_as_ucs2_with_coding_2(tmp_path):
    with FakeSmsc("kannel", "secret", receipts=False) as smsc, \
            Kannel(tmp_path, port=smsc.port, system_id="kannel", password="secret") as kannel:
        kannel.wait_smsc_online(10)
        status, body = kannel.sendsms("+8613800138000", "你好 ü", coding=2, charset="UTF-8")
        assert status == 202, body
        [submit] = smsc.wait(lambda s: s.seen("submit_sm"), 10)
        assert submit.fields["data_coding"] == 0x08
        assert submit.fields["short_message"] == "你好 ü".encode("utf-16-be")
        assert submit.fields["dest_addr_ton"] == 1 and submit.fields["destination_addr"] == "8613800138000"


def test_wrong_password_keeps_the_smsc_offline(tmp_path):
    with FakeSmsc("kannel", "secret") as smsc, \
            Kannel(tmp_path, port=smsc.port, system_id="kannel", password="wrong") as kannel:
        smsc.wait(lambda s: s.seen("bind_transceiver"), 10)
        assert not (kannel.smsc_status() or "").startswith("online")
        with pytest.raises(AssertionError, match="online"):
            kannel.wait_smsc_online(0.5)
