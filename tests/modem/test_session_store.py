"""Store and send (27.005 AT+CMGW / AT+CMSS) through the Session, over real ptys:
against the simulated modems, and byte-exact against a scripted one."""

from __future__ import annotations

import pytest

from agent.codec import at, pdu
from agent.errors import AtParseError, CommandError, CommandTimeout
from agent.modem.channel import Channel
from agent.modem.port import Port
from agent.modem.session import Session
from agent.modem.storage import same_submit

try:
    from .scripted import ScriptedModem, Step
except ImportError:  # tests/modem is not a package: pytest put this directory on sys.path
    from scripted import ScriptedModem, Step

SUBMIT = pdu.encode_submit("+8613912345678", "stored and sent", srr=True)


@pytest.fixture
def open_session():
    """open_session(path, **session_kw) -> an initialised Session on that pty; closed after the test."""
    ports: list[Port] = []

    def make(path: str, *, initialise: bool = True, **kw) -> Session:
        port = Port(path)
        port.open()
        ports.append(port)
        kw.setdefault("timeout", 0.5)  # wavecom's +CPIN? has no OK: waited out
        kw.setdefault("send_timeout", 3.0)
        session = Session(Channel(port, on_urc=lambda urc: None, name="t"), line="t", **kw)
        if initialise:
            session.initialise()
        return session

    yield make
    for port in ports:
        port.close()


# --- against the simulated modems ---------------------------------------------------------


@pytest.mark.parametrize("profile", ["generic", "simcom", "sim800", "huawei", "quectel", "zte", "wavecom"])
def test_write_send_status_delete_on_every_profile(make_bank, open_session, profile):
    modem = make_bank([profile], send_delay=0.02)[0]
    session = open_session(modem.path)
    assert session.storage.mem1 == session.storage.mem2 == "SM"
    assert any(c == 'AT+CPMS="SM","SM","SM"' for c in modem.commands)
    index = session.storage.write_pdu(SUBMIT.tpdu_length, SUBMIT.hex)
    assert index == modem.profile.first_index and modem.storage[index].pdu == SUBMIT.hex
    assert session.storage.stored_status(index) == 2 and modem.sent == []
    mr = session.storage.send_stored(index)
    assert modem.sent[-1].references == [mr] and modem.sent[-1].text == "stored and sent"
    assert session.storage.stored_status(index) == 3
    assert session.storage.stored_status(index, pdu=SUBMIT.hex) == 3
    assert [(s.index, s.stat) for s in session.storage.stored_submits()] == [(index, 3)]
    session.storage.delete_stored(index)
    assert index not in modem.storage
    assert session.storage.stored_status(index) is None
    session.storage.delete_stored(index)  # already gone: not an error
    if profile == "zte":  # its +CMGR has no stat: the listings told
        assert "AT+CMGL=2" in modem.commands and "AT+CMGL=3" in modem.commands


def test_status_is_read_from_the_written_storage(make_bank, open_session):
    modem = make_bank(["simcom"])[0]
    session = open_session(modem.path)
    index = session.storage.write_pdu(SUBMIT.tpdu_length, SUBMIT.hex)
    session.storage.use("SR")  # a status report was read meanwhile: mem1 points elsewhere
    assert session.storage.stored_status(index) == 2
    assert modem.commands[-2:] == ['AT+CPMS="SM"', f"AT+CMGR={index}"]
    session.storage.use("SR")
    session.storage.delete_stored(index)
    assert modem.commands[-2:] == ['AT+CPMS="SM"', f"AT+CMGD={index}"] and modem.storage == {}


def test_errors_of_store_and_send(make_bank, open_session):
    from dataclasses import replace

    from agent.sim.profiles import PROFILES

    modem = make_bank([replace(PROFILES["generic"], capacity=2)])[0]
    session = open_session(modem.path)
    with pytest.raises(CommandError) as empty:
        session.storage.send_stored(1)
    assert (empty.value.kind, empty.value.code, empty.value.command) == ("CMS", 321, "AT+CMSS=1")
    first = session.storage.write_pdu(SUBMIT.tpdu_length, SUBMIT.hex)
    session.storage.write_pdu(SUBMIT.tpdu_length, SUBMIT.hex)
    with pytest.raises(CommandError) as full:
        session.storage.write_pdu(SUBMIT.tpdu_length, SUBMIT.hex)
    assert (full.value.kind, full.value.code, full.value.command) == ("CMS", 322, "AT+CMGW")
    with pytest.raises(CommandError) as bad:
        session.storage.write_pdu(SUBMIT.tpdu_length + 1, SUBMIT.hex)
    assert (bad.value.kind, bad.value.code) == ("CMS", 304)
    modem.fail_next_send(38)
    with pytest.raises(CommandError) as failed:
        session.storage.send_stored(first)
    assert (failed.value.kind, failed.value.code) == ("CMS", 38)
    assert session.storage.stored_status(first) == 2  # a refused send leaves it unsent
    other = pdu.encode_submit("+8613900000000", "another message")
    assert session.storage.stored_status(first, pdu=other.hex) is None  # not the message we wrote there
    assert session.storage.stored_status(25) is None  # out of range: CMS 321


def test_a_send_cut_short_is_resolved_from_the_modem(make_bank, open_session):
    modem = make_bank(["quectel"], send_delay=0.4)[0]
    session = open_session(modem.path, send_timeout=0.1)
    index = session.storage.write_pdu(SUBMIT.tpdu_length, SUBMIT.hex)
    with pytest.raises(CommandTimeout):
        session.storage.send_stored(index)  # the agent gives up; the modem goes on and sends it
    assert modem.wait_for(lambda m: m.storage[index].stat == 3, 3)
    assert session.storage.stored_status(index) == 3 and len(modem.sent) == 1
    # Power lost before the network answered: the message is still unsent, and can be sent.
    second = session.storage.write_pdu(SUBMIT.tpdu_length, SUBMIT.hex)
    with pytest.raises(CommandTimeout):
        session.storage.send_stored(second)
    modem.reset()
    assert modem.wait_for(lambda m: m.ready, 3)
    session.initialise()
    assert session.storage.stored_status(second) == 2
    session.send_timeout = 3.0
    session.storage.send_stored(second)
    assert session.storage.stored_status(second) == 3 and len(modem.sent) == 2


def test_the_status_survives_the_agent_dying_mid_send(make_bank, open_session):
    modem = make_bank(["simcom"], send_delay=0.3)[0]
    first = open_session(modem.path)
    index = first.storage.write_pdu(SUBMIT.tpdu_length, SUBMIT.hex)
    first.channel.port.write(f"AT+CMSS={index}\r".encode())  # ... and the agent is killed
    first.channel.port.close()
    second = open_session(modem.path)  # the restarted agent (initialise waits out the send)
    assert second.storage.stored_status(index) == 3
    assert len(modem.sent) == 1


# --- byte-exact, against a scripted modem ----------------------------------------------------


@pytest.fixture
def scripted(open_session):
    modems: list[ScriptedModem] = []

    def make(steps, **kw) -> Session:
        modem = ScriptedModem(steps)
        modems.append(modem)
        session = open_session(modem.path, initialise=False, timeout=kw.pop("timeout", 1.0), **kw)
        modem.start()
        session.modem = modem  # type: ignore[attr-defined]
        return session

    yield make
    for modem in modems:
        modem.close()


def test_write_pdu_with_echo_and_urcs_around_the_prompt(scripted):
    command = f"AT+CMGW={SUBMIT.tpdu_length}\r".encode()
    session = scripted([
        Step(command, command + b'\r\n+ZPASR: "UMTS"\r\n\r\n> '),
        Step(SUBMIT.hex.encode() + b"\x1a", SUBMIT.hex.encode() + b'\r\n^RSSI:12\r\n\r\n+CMGW: 7\r\n\r\nOK\r\n'),
    ])
    assert session.storage.write_pdu(SUBMIT.tpdu_length, SUBMIT.hex) == 7
    session.modem.check()  # type: ignore[attr-defined]


def test_write_pdu_error_before_the_prompt_and_no_prompt(scripted):
    command = f"AT+CMGW={SUBMIT.tpdu_length}\r".encode()
    session = scripted([Step(command, b"\r\n+CMS ERROR: 322\r\n"), Step(command, b""), Step(b"\x1b", b"\r\nOK\r\n")],
                       timeout=0.3)
    with pytest.raises(CommandError) as full:
        session.storage.write_pdu(SUBMIT.tpdu_length, SUBMIT.hex)
    assert full.value.code == 322
    with pytest.raises(CommandTimeout):
        session.storage.write_pdu(SUBMIT.tpdu_length, SUBMIT.hex)
    session.modem.check()  # type: ignore[attr-defined]


def test_send_stored_answers(scripted):
    session = scripted([
        Step(b"AT+CMSS=4\r", b'\r\n+CMSS: 183,"24/01/01,12:00:00+32"\r\n\r\nOK\r\n'),
        Step(b"AT+CMSS=4\r", b"\r\nOK\r\n"),  # OK without +CMSS: probably sent
        Step(b"AT+CMSS=4\r", b"\r\n+CMSS: 9\r\n"),  # and no OK: taken as sent
        Step(b"AT+CMSS=4\r", b"\r\n+ZPASR: \"UMTS\"\r\n"),  # nothing but noise: a timeout
    ], send_timeout=0.3)
    assert session.storage.send_stored(4) == 183
    with pytest.raises(AtParseError):
        session.storage.send_stored(4)
    assert session.storage.send_stored(4) == 9
    with pytest.raises(CommandTimeout):
        session.storage.send_stored(4)
    session.modem.check()  # type: ignore[attr-defined]


def test_stored_status_answers(scripted):
    stored = SUBMIT.hex
    session = scripted([
        Step(b"AT+CMGR=3\r", f'\r\n+CMGR: 3,"",{SUBMIT.tpdu_length}\r\n{stored}\r\n\r\nOK\r\n'.encode()),
        Step(b"AT+CMGR=3\r", b"\r\nOK\r\n"),  # empty slot: bare OK (SIMCom, Quectel)
        Step(b"AT+CMGR=3\r", b"\r\n+CMS ERROR: 321\r\n"),  # empty slot: invalid index
        Step(b"AT+CMGR=3\r", b"\r\n+CMGR: 0,,0\r\n\r\nOK\r\n"),  # empty slot: an empty PDU
        # ZTE: no stat in +CMGR; the listings tell (not in the unsent one, in the sent one).
        Step(b"AT+CMGR=3\r", f"\r\n+CMGR: ,,{SUBMIT.tpdu_length}\r\n{stored}\r\n\r\nOK\r\n".encode()),
        Step(b"AT+CMGL=2\r", f"\r\n+CMGL: 1,2,,{SUBMIT.tpdu_length}\r\n{stored}\r\n\r\nOK\r\n".encode()),
        Step(b"AT+CMGL=3\r", f"\r\n+CMGL: 3,3,,{SUBMIT.tpdu_length}\r\n{stored}\r\n\r\nOK\r\n".encode()),
        # A modem that filled in the SMSC and the TP-MR: still our message.
        Step(b"AT+CMGR=3\r", f"\r\n+CMGR: 3,,{SUBMIT.tpdu_length}\r\n07911326040000F0{stored[2:4]}2A{stored[6:]}"
                             "\r\n\r\nOK\r\n".encode()),
        Step(b"AT+CMGR=3\r", b"\r\nERROR\r\n"),  # not an answer about the slot: raised
    ])
    assert session.storage.stored_status(3) == 3
    assert session.storage.stored_status(3) is None
    assert session.storage.stored_status(3) is None
    assert session.storage.stored_status(3) is None
    assert session.storage.stored_status(3) == 3
    assert session.storage.stored_status(3, pdu=stored) == 3
    with pytest.raises(CommandError):
        session.storage.stored_status(3)
    session.modem.check()  # type: ignore[attr-defined]


# --- pure parts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("line, index", [("+CMGW: 5", 5), ("+CMGW:0", 0), ("  +CMGW: 123 ", 123)])
def test_parse_cmgw(line, index):
    assert at.parse_cmgw(line) == index


@pytest.mark.parametrize("line, mr", [("+CMSS: 183", 183), ("+CMSS:7", 7), ('+CMSS: 12,"24/01/01,12:00:00+32"', 12)])
def test_parse_cmss(line, mr):
    assert at.parse_cmss(line) == mr


@pytest.mark.parametrize("parse, line", [
    (at.parse_cmgw, "+CMGW: "), (at.parse_cmgw, "+CMGW: x"), (at.parse_cmgw, "+CMGS: 5"),
    (at.parse_cmss, "+CMSS:"), (at.parse_cmss, "+CMSS: -1"), (at.parse_cmss, "+CMGS: 1"), (at.parse_cmss, "OK"),
])
def test_parse_store_answers_refuse_other_shapes(parse, line):
    with pytest.raises(AtParseError):
        parse(line)


def test_same_submit():
    other_recipient = pdu.encode_submit("+8613912345679", "stored and sent", srr=True)
    other_text = pdu.encode_submit("+8613912345678", "stored and sent!", srr=True)
    with_smsc = "07911326040000F0" + SUBMIT.hex[2:]
    with_mr = SUBMIT.hex[:4] + "FF" + SUBMIT.hex[6:]
    assert same_submit(SUBMIT.hex, SUBMIT.hex.lower())
    assert same_submit(with_smsc, SUBMIT.hex) and same_submit(with_mr, SUBMIT.hex)
    assert not same_submit(other_recipient.hex, SUBMIT.hex)
    assert not same_submit(other_text.hex, SUBMIT.hex)
    assert not same_submit("", SUBMIT.hex)


# --- the receiver's sweep and the line's own stored messages --------------------------------------


def _stored_then_received(modem, open_session) -> tuple[int, int, int]:
    """Leave on ``modem`` one unsent and one sent message of ours and one received SMS."""
    session = open_session(modem.path)
    unsent = session.storage.write_pdu(SUBMIT.tpdu_length, SUBMIT.hex)
    sent = session.storage.write_pdu(SUBMIT.tpdu_length, SUBMIT.hex)
    session.storage.send_stored(sent)
    session.channel.port.close()
    (received,) = modem.deliver("+8613700000001", "an SMS for the box")
    return unsent, sent, received


@pytest.mark.parametrize("keep", [False, True])
def test_the_sweep_keeps_stored_submits_when_told(make_bank, open_session, keep):
    import threading

    from agent.config import LineConfig
    from agent.model import READY
    from agent.modem.worker import LineWorker

    from ..conftest import FAST, RecordingEvents, wait_state

    modem = make_bank(["simcom"])[0]
    unsent, sent, received = _stored_then_received(modem, open_session)
    events, stop = RecordingEvents(), threading.Event()
    worker = LineWorker(LineConfig(name="s", device=modem.path), FAST, events, stop)
    worker._receiver.keep_stored_submits = keep
    worker.start()
    try:
        wait_state(worker, lambda s: s.state == READY, events)
        assert events.wait(lambda: len(events.sms) == (1 if keep else 3))
        texts = sorted(s.message.text for s in events.sms)
        if keep:
            assert texts == ["an SMS for the box"]
            assert modem.wait_for(lambda m: received not in m.storage, 3)
            assert {i: s.stat for i, s in modem.storage.items()} == {unsent: 2, sent: 3}
        else:  # today's behaviour: everything stored is handed over and deleted
            assert texts == ["an SMS for the box", "stored and sent", "stored and sent"]
            assert modem.wait_for(lambda m: m.storage == {}, 3)
    finally:
        stop.set()
        worker.wake()
        assert worker.join(5)
