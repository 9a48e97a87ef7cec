"""The line worker driving simulated modems through pyserial over real ptys."""

from __future__ import annotations

import time

import pytest

from agent.config import LineConfig
from agent.model import FAILED, OFFLINE, READY, RETRY, SENT, OutgoingSms

from ..conftest import wait_state

READY_ = lambda s: s.state == READY  # noqa: E731


def ready(worker, events, timeout=5.0):
    return wait_state(worker, READY_, events, timeout)


# --- start-up and identity ------------------------------------------------------


@pytest.mark.parametrize("profile", ["generic", "simcom", "huawei", "quectel", "zte", "wavecom"])
def test_each_profile_initialises_and_reports_identity(make_bank, make_worker, profile):
    modem = make_bank([profile])[0]
    worker, events = make_worker(modem)
    state = ready(worker, events)
    assert state.imei == modem.imei
    assert state.imsi == modem.imsi
    assert state.iccid == modem.iccid  # Huawei's swapped nibbles and trailing F normalised
    assert state.iccid.startswith("89")
    assert state.profile == profile
    assert state.registered
    assert state.signal_dbm is not None and -113 <= state.signal_dbm <= -51
    assert state.operator
    cmds = modem.commands
    for needed in ("ATE0", "AT+CMEE=1", "AT+CMGF=0", "AT+CLIP=1"):
        assert needed in cmds, f"{needed} not sent to a {profile} modem"
    assert any(c.startswith("AT+CNMI=") for c in cmds)
    assert any(c.startswith("AT+CPMS=") for c in cmds)


def test_own_number_when_the_sim_has_it(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    assert ready(worker, events).number == modem.number


def test_sim_busy_at_boot_is_waited_out(make_bank, make_worker):
    bank = make_bank(["generic"], sim_busy=3)
    worker, events = make_worker(bank[0])
    ready(worker, events)
    assert sum(1 for c in bank[0].commands if c in ("AT+CSCA?", "AT+CMGF=0", 'AT+CPMS="SM","SM","SM"')) >= 2


def test_sim_pin_entered_from_config(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    modem.set_pin("4321")
    worker, events = make_worker(modem, line=LineConfig(name="p", device=modem.path, pin="4321"))
    ready(worker, events)
    assert 'AT+CPIN="4321"' in modem.commands


def test_sim_pin_missing_is_reported_not_retried_in_a_loop(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    modem.set_pin("4321")
    worker, events = make_worker(modem)
    state = wait_state(worker, lambda s: s.state == OFFLINE, events)
    assert "SIM PIN required" in state.last_error
    assert not any(c.startswith("AT+CPIN=") for c in modem.commands)


def test_no_sim(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    modem.insert_sim(False)
    worker, events = make_worker(modem)
    state = wait_state(worker, lambda s: s.state == OFFLINE, events)
    assert "SIM not inserted" in state.last_error
    assert state.imei == modem.imei  # the modem itself answered


# --- sending --------------------------------------------------------------------------


def test_send_single_part(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    result = worker.submit(OutgoingSms(id=7, recipient="+8613912345678", text="Hello from the box")).result(5)
    assert result.outcome == SENT and result.id == 7 and result.parts == 1
    assert len(result.references) == 1
    sent = modem.sent[-1]
    assert (sent.recipient, sent.text, sent.encoding) == ("+8613912345678", "Hello from the box", "gsm7")
    assert sent.srr is True
    assert list(result.references) == list(sent.references)
    assert worker.state.sent_parts == 1 and worker.state.last_send_at is not None


def test_send_long_gsm7_in_parts(make_bank, make_worker):
    modem = make_bank(["simcom"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    text = "Branch office report: all tills balanced {ok} [EUR 100€]. " * 6
    result = worker.submit(OutgoingSms(id=1, recipient="13912345678", text=text)).result(5)
    assert result.outcome == SENT and result.parts == 3
    sent = modem.sent[-1]
    assert sent.text == text and len(sent.parts) == 3 and sent.recipient == "13912345678"


def test_send_long_chinese_ucs2(make_bank, make_worker):
    modem = make_bank(["huawei"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    text = "您好，这是来自分行的短信网关的测试消息😀。" * 5
    result = worker.submit(OutgoingSms(id=2, recipient="+8613800000000", text=text)).result(5)
    assert result.outcome == SENT and result.parts == 2
    assert modem.sent[-1].text == text and modem.sent[-1].encoding == "ucs2"


def test_flash_without_report(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    worker.submit(OutgoingSms(id=3, recipient="+100", text="x", status_report=False, flash=True)).result(5)
    assert modem.sent[-1].srr is False and modem.sent[-1].flash is True


@pytest.mark.parametrize("cms, outcome", [(38, RETRY), (500, RETRY), (21, FAILED), (28, FAILED)])
def test_cms_errors_classified(make_bank, make_worker, cms, outcome):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    modem.fail_next_send(cms)
    result = worker.submit(OutgoingSms(id=4, recipient="+100", text="fail me")).result(5)
    assert (result.outcome, result.error_code) == (outcome, cms)
    assert not result.in_doubt
    assert worker.state.state == READY  # an error answer is not a broken modem
    ok = worker.submit(OutgoingSms(id=5, recipient="+100", text="next one")).result(5)
    assert ok.outcome == SENT


def test_text_that_cannot_be_encoded_fails_without_touching_the_modem(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem, max_parts=2)
    ready(worker, events)
    before = len(modem.commands)
    result = worker.submit(OutgoingSms(id=6, recipient="+100", text="x" * 1000)).result(5)
    assert result.outcome == FAILED and "parts" in result.error
    assert not any(c.startswith("AT+CMGS") for c in modem.commands[before:])


def test_status_report_matches_the_reference(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    result = worker.submit(OutgoingSms(id=8, recipient="+8613912345678", text="report me")).result(5)
    assert events.wait(lambda: events.reports, 5)
    report = events.reports[0]
    assert report.reference == result.references[0]
    assert report.delivered and report.final
    assert report.recipient == "+8613912345678"


# --- receiving ---------------------------------------------------------------------------


def test_incoming_sms_is_handed_over_then_deleted(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    modem.deliver("+8613700000001", "余额不足，请充值")
    assert events.wait(lambda: events.sms, 5)
    sms = events.sms[0]
    assert sms.message.sender == "+8613700000001" and sms.message.text == "余额不足，请充值"
    assert modem.wait_for(lambda m: not m.storage, 5)


def test_long_incoming_sms_arrives_as_parts(make_bank, make_worker):
    modem = make_bank(["quectel"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    text = "A long incoming message. " * 12
    modem.deliver("+447700900123", text)
    assert events.wait(lambda: len(events.sms) == 2, 5)
    concat = sorted(s.message.concat.seq for s in events.sms)
    assert concat == [1, 2]
    assert "".join(s.message.text for s in sorted(events.sms, key=lambda s: s.message.concat.seq)) == text


def test_messages_stored_before_start_are_read(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    modem.deliver("+100", "while you were away")
    modem.deliver("+101", "and this too")
    worker, events = make_worker(modem)
    assert events.wait(lambda: len(events.sms) == 2, 5)
    assert {s.message.text for s in events.sms} == {"while you were away", "and this too"}
    assert modem.wait_for(lambda m: not m.storage, 5)


def test_message_stays_on_the_sim_when_the_sink_refuses(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem, health_interval=1.0)
    ready(worker, events)
    events.refuse_sms = True
    modem.deliver("+100", "keep me")
    assert modem.wait_for(lambda m: any(c.startswith("AT+CMGR") for c in m.commands), 5)
    assert len(modem.storage) == 1
    events.refuse_sms = False  # the store is back: the next sweep hands it over
    assert events.wait(lambda: events.sms, 5)
    assert events.sms[0].message.text == "keep me"
    assert modem.wait_for(lambda m: not m.storage, 5)


def test_undecodable_pdu_is_handed_over_raw(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    modem.deliver_pdu("07911326040000F0040B911346610089F6000020806291731408FF")
    assert events.wait(lambda: events.sms, 5)
    assert events.sms[0].message is None and events.sms[0].error
    assert events.sms[0].pdu.startswith("07911326040000F0")
    assert modem.wait_for(lambda m: not m.storage, 5)


# --- calls and USSD ---------------------------------------------------------------------------


def test_a_call_is_recorded_once_and_hung_up(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    modem.ring("+8613811112222", times=3)
    assert events.wait(lambda: events.calls, 5)
    assert modem.wait_for(lambda m: m.calls and m.calls[-1][1], 5)  # ATH received
    assert [c.caller for c in events.calls] == ["+8613811112222"]


def test_ussd_balance(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    reply = worker.ussd("*100#", timeout=3).result(5)
    assert reply.code == "*100#" and reply.text
    assert "balance" in reply.text.lower() or "余额" in reply.text


def test_ussd_bad_code_is_refused(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    with pytest.raises(ValueError):
        worker.ussd('*100#",1;ATD').result(5)


# --- recovery ---------------------------------------------------------------------------------


def test_hung_modem_is_quarantined_then_taken_back(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    modem.hang()
    fut = worker.submit(OutgoingSms(id=9, recipient="+100", text="into the void"))
    result = fut.result(10)
    assert result.outcome == RETRY and result.in_doubt
    state = wait_state(worker, lambda s: s.state == OFFLINE, events, 15)
    assert state.recovery_step == "quarantine"
    steps = {s.recovery_step for s in events.states}
    assert {"ping", "reinit", "reset", "reopen", "quarantine"} <= steps
    bounced = worker.submit(OutgoingSms(id=10, recipient="+100", text="bounced")).result(5)
    assert bounced.outcome == RETRY and not bounced.in_doubt
    modem.unhang()
    ready(worker, events, 10)
    assert worker.submit(OutgoingSms(id=11, recipient="+100", text="back")).result(5).outcome == SENT


def test_garbage_does_not_break_the_line(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    modem.garbage(b"\x00\xff\xfe garbage \r\n\x1b[31m\r\n+CM")
    assert worker.submit(OutgoingSms(id=12, recipient="+100", text="still here")).result(5).outcome == SENT


def test_unplug_and_replug_at_the_same_path(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    modem.unplug()
    wait_state(worker, lambda s: s.state != READY, events)
    modem.replug()
    ready(worker, events, 10)
    assert worker.submit(OutgoingSms(id=13, recipient="+100", text="replugged")).result(5).outcome == SENT
    assert modem.sent[-1].text == "replugged"


def test_modem_returning_on_another_port_is_found_by_imei(make_bank, tmp_path):
    import glob
    import threading

    from agent.modem.bank import ModemBank

    from ..conftest import FAST, RecordingEvents

    sim = make_bank(["generic", "generic"])
    modem = sim[0]
    stop = threading.Event()
    events = RecordingEvents()
    scan = str(tmp_path / "sim0" / "*")
    lines = tuple(LineConfig(name=m.name, device=m.path) for m in sim.modems)
    from dataclasses import replace

    bank = ModemBank(lines, replace(FAST, scan=(scan,)), events, stop)
    bank.start()
    try:
        worker = bank[modem.name]
        ready(worker, events)
        modem.unplug()
        wait_state(worker, lambda st: st.state != READY, events)  # the worker noticed
        new_path = modem.replug(new_path=True)
        assert new_path != lines[0].device and new_path in glob.glob(scan)
        state = ready(worker, events, 10)
        assert state.device == new_path
        assert worker.submit(OutgoingSms(id=14, recipient="+100", text="found you")).result(5).outcome == SENT
        assert modem.sent[-1].text == "found you"
    finally:
        stop.set()
        bank.stop()


def test_modem_restart_mid_session_reinitialises(make_bank, make_worker):
    modem = make_bank(["simcom"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    inits = modem.commands.count("ATE0")
    modem.reset()
    assert modem.wait_for(lambda m: m.commands.count("ATE0") > inits, 5)
    ready(worker, events)
    assert worker.submit(OutgoingSms(id=15, recipient="+100", text="after reset")).result(5).outcome == SENT


def test_one_hung_line_does_not_stall_the_others(make_bank, make_worker):
    bank = make_bank(["generic", "generic"])
    bad, good = bank[0], bank[1]
    w_bad, e_bad = make_worker(bad)
    w_good, e_good = make_worker(good)
    ready(w_bad, e_bad)
    ready(w_good, e_good)
    bad.hang()
    w_bad.submit(OutgoingSms(id=16, recipient="+100", text="stuck"))
    results = [w_good.submit(OutgoingSms(id=i, recipient="+100", text=f"m{i}")).result(5) for i in range(20)]
    assert all(r.outcome == SENT for r in results)


def test_health_follows_signal_and_registration(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem, health_interval=1.0)
    ready(worker, events)
    modem.set_state(signal=5, registered=False)
    state = wait_state(worker, lambda s: not s.registered, events, 5)
    assert state.signal_dbm == -113 + 2 * 5
    assert not state.can_send
    modem.set_state(signal=20, registered=True)
    wait_state(worker, lambda s: s.registered and s.signal_dbm == -73, events, 5)


def test_disable_and_enable(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    worker.set_enabled(False)
    wait_state(worker, lambda s: s.state == "disabled", events)
    worker.set_enabled(True)
    ready(worker, events)


def test_status_report_stored_and_announced_by_cdsi(make_bank, make_worker):
    modem = make_bank(["wavecom"])[0]  # its profile asks for reports as +CDSI (CNMI ds=2)
    worker, events = make_worker(modem)
    ready(worker, events)
    assert "AT+CNMI=2,1,0,2,0" in modem.commands
    result = worker.submit(OutgoingSms(id=20, recipient="+8613912345678", text="report via storage")).result(5)
    assert events.wait(lambda: events.reports, 5)
    assert events.reports[0].reference == result.references[0]
    assert modem.wait_for(lambda m: not m.storage, 5)  # read, handed over, then deleted


def test_report_for_a_failed_delivery(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    modem.auto_status_reports = False
    worker, events = make_worker(modem)
    ready(worker, events)
    result = worker.submit(OutgoingSms(id=21, recipient="+100", text="expired")).result(5)
    modem.status_report(result.references[0], status=0x46)  # validity period expired
    assert events.wait(lambda: events.reports, 5)
    report = events.reports[0]
    assert report.status == 0x46 and not report.delivered and report.final


def test_ussd_on_a_huawei_stick(make_bank, make_worker):
    modem = make_bank(["huawei"])[0]
    worker, events = make_worker(modem)
    ready(worker, events)
    modem.set_ussd_answer("*101#", "Balance: 12.50 CNY\nValid until 2027-01-31")
    reply = worker.ussd("*101#", timeout=3).result(5)
    assert reply.text == "Balance: 12.50 CNY\nValid until 2027-01-31"
    assert "AT^USSDMODE=0" in modem.commands


def test_stopping_cuts_a_send_in_flight_short_and_answers_every_request(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    worker, events = make_worker(modem, send_timeout=60.0)
    ready(worker, events)
    modem.hang()
    first = worker.submit(OutgoingSms(id=22, recipient="+100", text="in flight"))
    queued = worker.submit(OutgoingSms(id=23, recipient="+100", text="queued"))
    wait_state(worker, lambda s: s.state == "busy", events)  # waiting for the hung modem's answer
    t0 = time.monotonic()
    make_worker.stop.set()
    worker.wake()
    assert worker.join(5)
    assert time.monotonic() - t0 < 1.0  # not the 60 s an AT+CMGS may take
    assert (first.result(1).outcome, first.result(1).in_doubt) == (RETRY, True)
    assert queued.result(1).outcome == RETRY


def test_a_link_vanishing_while_locate_resolves_it_is_taken_as_is(monkeypatch):
    # os.path.realpath raises when a link goes between its lstat and its readlink
    # (a modem unplugged meanwhile); that once ended the line's worker.
    import os

    from agent.modem import bank

    def vanished(path):
        raise FileNotFoundError(path)

    monkeypatch.setattr(os.path, "realpath", vanished)
    assert bank._real("/dev/serial/by-id/usb-gone") == "/dev/serial/by-id/usb-gone"


def test_an_unexpected_error_while_opening_does_not_end_the_line(make_bank, make_worker):
    modem = make_bank(["generic"])[0]
    calls = []

    def broken_locate(imei, line):
        calls.append(imei)
        raise RuntimeError("a bug in locate")

    worker, events = make_worker(modem, locate=broken_locate)
    ready(worker, events)
    modem.unplug()
    assert events.wait(lambda: calls, 5)
    modem.replug()
    ready(worker, events, 10)  # the worker lived on and took the modem back
    assert worker.alive
