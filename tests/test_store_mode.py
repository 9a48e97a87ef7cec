"""send_mode = store through the real wiring (App) on a simulated bank that outlives the agent.

The modems keep what was written with AT+CMGW and mark it "STO SENT" once
AT+CMSS sent it, like real ones; the agent (an App, stopped and started again
on the same database) must settle a send it did not see end from that memory:
sent once and not in doubt, or not sent and sent once later.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.app import App
from agent.config import parse
from agent.sim.bank import SimBank
from agent.model import NewMessage

from .waiting import wait_until


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[SimBank]:
    bank = SimBank(2, profile="simcom", state_dir=str(tmp_path / "sims"), send_delay=0.01, report_delay=0)
    bank.start()
    yield bank
    bank.stop()


def make_app(tmp_path: Path, sims: SimBank, *, stop_timeout: float = 20) -> App:
    lines = "".join(f"[line:{m.name}]\ndevice = {m.path}\nsend_mode = store\n" for m in sims)
    config = parse(f"[agent]\nid = store\nstate_dir = state\nstop_timeout = {stop_timeout}\n[http]\nport = 0\n"
                   f"[queue]\npoll_interval = 0.05\nretry_backoff = 0\n{lines}", base_dir=tmp_path)
    app = App(config)
    app.start()
    assert app.wait_ready(20)
    return app


def rows(app: App) -> dict[int, tuple]:
    con = sqlite3.connect(app.config.agent.database, timeout=5)
    try:
        return {r[0]: r[1:] for r in con.execute("SELECT id, status, in_doubt, stored, delivery FROM smsserver_out")}
    finally:
        con.close()


def sent_texts(sims: SimBank) -> list[str]:
    return sorted(m.text for modem in sims for m in modem.sent)


def test_a_stored_send_goes_out_by_cmss_and_its_copy_is_deleted(tmp_path, sims):
    app = make_app(tmp_path, sims)
    try:
        [i] = app.core.submit([NewMessage("13800000001", "stored " + "y" * 200)], source="test").ids
        wait_until(lambda: rows(app)[i][0] == "S" and rows(app)[i][3] == "delivered", 10, lambda: rows(app))
        modem = next(m for m in sims if m.sent)
        wait_until(lambda: modem.storage == {}, 5, lambda: f"copies deleted: {modem.storage}")
        cmds = [c for c in modem.commands if c.startswith(("AT+CMGW", "AT+CMSS", "AT+CMGS"))]
        assert [c.split("=")[0] for c in cmds] == ["AT+CMGW", "AT+CMGW", "AT+CMSS", "AT+CMSS"]
        assert rows(app)[i][1] == 0 and len(rows(app)[i][2].split(",")) == 2  # two parts, two places
    finally:
        app.stop()
    assert sent_texts(sims) == ["stored " + "y" * 200]


def test_a_send_cut_short_by_the_stop_is_settled_from_the_modem_as_sent_once(tmp_path, sims, caplog):
    app = make_app(tmp_path, sims, stop_timeout=1)
    for modem in sims:
        modem.set_send_delay(3.0)
    try:
        ids = app.core.submit([NewMessage(f"1380000000{n}", f"cut {n}") for n in range(2)], source="test").ids
        wait_until(lambda: all(rows(app)[i][2] for i in ids), 10, lambda: f"both stored: {rows(app)}")
    finally:
        app.stop()  # 1 s: both sends are cut short while the modems still send them
    left = rows(app)
    assert [left[i][0] for i in ids] == ["Q", "Q"] and [left[i][1] for i in ids] == [0, 0]
    wait_until(lambda: len(sent_texts(sims)) == 2, 10, "the modems to finish sending")

    with caplog.at_level(logging.INFO):
        app = make_app(tmp_path, sims)
    try:
        wait_until(lambda: [rows(app)[i][0] for i in ids] == ["S", "S"], 10, lambda: rows(app))
        assert [rows(app)[i][1] for i in ids] == [0, 0]  # sent once, and known to be
        assert "recorded as sent once" in caplog.text
    finally:
        app.stop()
    assert sent_texts(sims) == ["cut 0", "cut 1"]
    assert all(m.storage == {} for m in sims)


def _leave_behind(tmp_path: Path, sims: SimBank, text: str, stats: list[int | None]) -> int:
    """What a run killed mid-send leaves: a row 'Q' on sim1 whose parts were written
    to its storage with the given stats (2 unsent, 3 sent, None: the copy is gone)."""
    from agent.codec import parts
    from agent.modem.channel import Channel
    from agent.modem.port import Port
    from agent.modem.session import Session
    from agent.store.queue import Assignment, Store

    modem = sims[0]
    pdus = parts.encode_submits("13900000001", text, ref=9, max_parts=10, srr=True)
    assert len(pdus) == len(stats)
    port = Port(modem.path)
    port.open()
    try:
        session = Session(Channel(port, on_urc=lambda urc: None, name="t"), line="t", timeout=1, send_timeout=3)
        session.initialise()
        places = []
        for p, stat in zip(pdus, stats):
            index = session.storage.write_pdu(p.tpdu_length, p.hex)
            if stat == 3:
                session.storage.send_stored(index)  # the network took it before the crash
            places.append(f"{session.storage.mem2}:{index}")
            if stat is None:
                session.storage.delete_stored(index)
    finally:
        port.close()
    db = tmp_path / "state" / "sms-agent.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    store = Store(db)
    store.open()
    try:
        [i] = store.enqueue([NewMessage("13900000001", text)]).ids
        store.dispatch.mark_queued([Assignment(i, modem.name, modem.iccid, len(pdus))])
        assert store.dispatch.record_stored(i, places)
    finally:
        store.close()
    return i


@pytest.mark.parametrize("stats, sent_now, in_doubt", [
    ([3, 3], 0, 0),  # sent before the crash: recorded as sent, not sent again
    ([2, 2], 2, 0),  # never sent: sent now, once, not in doubt
    ([3, 2], 1, 0),  # cut between the parts: the rest goes out from the modem's copy
    ([3, None], 2, 1),  # a copy is gone: it cannot be told, sent again in doubt
])
def test_what_a_killed_run_left_is_settled_from_the_modems_memory(tmp_path, sims, caplog, stats, sent_now, in_doubt):
    text = "left " + "z" * 200
    i = _leave_behind(tmp_path, sims, text, stats)
    before = sum(len(m.references) for modem in sims for m in modem.sent)
    with caplog.at_level(logging.INFO):
        app = make_app(tmp_path, sims)
    try:
        wait_until(lambda: rows(app)[i][0] == "S", 10, lambda: rows(app))
        assert rows(app)[i][1] == in_doubt
        wait_until(lambda: all(m.storage == {} for m in sims), 5, lambda: [m.storage for m in sims])
    finally:
        app.stop()
    parts_now = sum(len(m.references) for modem in sims for m in modem.sent) - before
    assert parts_now == sent_now, caplog.text
    assert "Traceback" not in caplog.text
