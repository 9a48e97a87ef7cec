"""The agent with GoIP lines, end to end: :class:`agent.app.App` wired from a config whose
``[line:*]`` sections name channels of a GoIP box (``goip_id``), and a simulated box
(:class:`agent.sim.SimGoip`) whose channels register with the agent's listener over real
UDP on 127.0.0.1.  Short timers (``[goip_udp] reply_timeout = 0.2``, ``offline_after = 1.5``,
keepalives every 0.5 s) keep the tests quick; every wait is on a condition with a deadline.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.app import App
from agent.config import parse
from agent.model import NewMessage
from agent.sim import ChannelSpec, SimGoip
from agent.sim.goip_channel import channel_specs

from ..waiting import wait_until

USER, PASSWORD = "admin", "s3cret"
GOIP_UDP = {"reply_timeout": "0.2", "offline_after": "1.5", "retries": "3", "wait_timeout": "5", "ussd_timeout": "3"}
BOX = {"keepalive": 0.5, "retransmit": 0.2, "retries": 3, "reboot_time": 0.5, "seed": 1}
FINAL = ("S", "F")


def config_text(state: Path, specs: Sequence[ChannelSpec], *, port: int = 0, goip_udp: dict[str, str] | None = None,
                queue: dict[str, str] | None = None, extra: str = "", modems: dict[str, str] | None = None,
                names: Sequence[str] | None = None) -> str:
    """A config with one ``[line:chN]`` per channel spec (``names`` instead of chN), the modem
    lines ``modems`` (name -> device), the listener on 127.0.0.1:``port``, and ``extra``."""
    udp = {**GOIP_UDP, **(goip_udp or {})}
    q = {"poll_interval": "0.1", "retry_backoff": "0", **(queue or {})}
    text = (f"[agent]\nid = goip-test\nstate_dir = {state}\nstop_timeout = 5\n"
            f"[http]\nhost = 127.0.0.1\nport = 0\n[auth]\nusername = {USER}\npassword = {PASSWORD}\n"
            f"[goip_udp]\nlisten = 127.0.0.1:{port}\n" + "".join(f"{k} = {v}\n" for k, v in udp.items())
            + "[queue]\n" + "".join(f"{k} = {v}\n" for k, v in q.items()))
    for name, device in (modems or {}).items():
        text += f"[line:{name}]\ndevice = {device}\n"
    for i, spec in enumerate(specs):
        name = names[i] if names else f"ch{i + 1}"
        text += f"[line:{name}]\ngoip_id = {spec.id}\ngoip_password = {spec.password}\n"
    return text + extra


class Rig:
    """An App with GoIP lines ``ch1``... and the simulated box whose channels they are.

    :meth:`start` starts the App (its listener on a free port), then the box pointed at it;
    :meth:`restart` stops the App and starts a new one on the same database and port, the
    box untouched (it keeps its sessions, ledger and faults)."""

    def __init__(self, directory: Path, specs: Sequence[ChannelSpec], *, box: dict[str, Any] | None = None,
                 box_specs: Sequence[ChannelSpec] | None = None, **config: Any) -> None:
        self.directory = directory
        self.state_dir = directory / "state"
        self.specs = list(specs)
        self.box_specs = list(box_specs if box_specs is not None else specs)
        self.box_options = {**BOX, **(box or {})}
        self.config_options = config
        self.names = list(config.get("names") or [f"ch{i + 1}" for i in range(len(specs))])
        self.app: App | None = None
        self.box: SimGoip | None = None
        self.port = 0

    # --- life ---------------------------------------------------------------------------

    def start_app(self) -> App:
        cfg = parse(config_text(self.state_dir, self.specs, port=self.port, **self.config_options),
                    base_dir=self.directory)
        app = self.app = App(cfg)
        app.start()
        assert app.goip is not None
        self.port = app.goip.address[1]
        return app

    def start_box(self, specs: Sequence[ChannelSpec] | None = None, **options: Any) -> SimGoip:
        box = self.box = SimGoip(("127.0.0.1", self.port), list(specs or self.box_specs),
                                 **{**self.box_options, **options})
        box.start()
        return box

    def start(self, *, wait: bool = True) -> Rig:
        self.start_app()
        self.start_box()
        if wait:
            self.wait_ready()
        return self

    def restart(self, *, wait: bool = True) -> App:
        """Stop the App and start another on the same database and UDP port."""
        assert self.app is not None
        self.app.stop(10)
        app = self.start_app()
        if wait:
            self.wait_ready()
        return app

    def stop(self) -> None:
        if self.app is not None:
            self.app.stop(10)
        if self.box is not None:
            self.box.stop()

    # --- lines --------------------------------------------------------------------------

    def line(self, name: str) -> Any:
        assert self.app is not None and self.app.goip is not None
        return self.app.goip.lines[name]

    def state(self, name: str) -> Any:
        return self.line(name).state

    def wait_ready(self, names: Iterable[str] | None = None, timeout: float = 10.0) -> None:
        names = list(names or self.names)
        wait_until(lambda: all(self.state(n).can_send for n in names), timeout,
                   lambda: f"lines ready: {[(n, self.state(n).state, self.state(n).last_error) for n in names]}")

    # --- messages -----------------------------------------------------------------------

    @property
    def core(self) -> Any:
        assert self.app is not None and self.app.core is not None
        return self.app.core

    def submit(self, *messages: NewMessage | str, task: bool = False) -> list[int]:
        msgs = [m if isinstance(m, NewMessage) else NewMessage(f"1380013{i:04d}", m) for i, m in enumerate(messages)]
        return self.core.submit(msgs, task=task, source="test").ids

    def row(self, msg_id: int) -> dict[str, Any]:
        row = self.core.message(msg_id)
        assert row is not None
        return row

    def row_after_stop(self, msg_id: int) -> dict[str, Any]:
        """The row as the database holds it (the App may be stopped)."""
        cols = ("id", "status", "in_doubt", "errors", "line")
        [values] = self.sql(f"SELECT {', '.join(cols)} FROM smsserver_out WHERE id = ?", (msg_id,))
        return dict(zip(cols, values))

    def rows(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        return [self.row(i) for i in ids]

    def wait_rows(self, ids: Sequence[int], predicate: Callable[[dict[str, Any]], Any],
                  timeout: float = 15.0) -> list[dict[str, Any]]:
        wait_until(lambda: all(predicate(r) for r in self.rows(ids)), timeout,
                   lambda: "rows: " + "; ".join(f"{r['id']} {r['status']} {r['line']} e{r['errors']} "
                                                f"d{r['in_doubt']} {r['failure_cause']}"
                                                for r in self.rows(ids) if not predicate(r)))
        return self.rows(ids)

    def sent(self) -> Counter[tuple[str, str]]:
        """(number, text) -> how many times the box's network sent it (the ledger)."""
        assert self.box is not None
        return Counter((s.number, s.text) for s in self.box.ledger)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        con = sqlite3.connect(self.state_dir / "sms-agent.db", timeout=5)
        try:
            return con.execute(query, params).fetchall()
        finally:
            con.close()

    # --- HTTP ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.app is not None and self.app.http is not None
        return self.app.http.url

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return resp.read()

    def post_json(self, path: str, obj: dict[str, Any]) -> Any:
        body = json.dumps({"auth": {"username": USER, "password": PASSWORD}, **obj}).encode()
        req = urllib.request.Request(self.url + path, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{path}: HTTP {err.code} {err.read()!r}") from None


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """make_rig(channels=4, *, box={SimGoip options}, start=True, **config options) -> a Rig,
    started (lines ready) unless ``start`` is False; stopped after the test."""
    rigs: list[Rig] = []

    def make(channels: int | Sequence[ChannelSpec] = 4, *, start: bool = True, **kw: Any) -> Rig:
        specs = channel_specs(channels) if isinstance(channels, int) else list(channels)
        rig = Rig(tmp_path / f"rig{len(rigs)}", specs, **kw)
        rigs.append(rig)
        return rig.start() if start else rig

    yield make
    for rig in reversed(rigs):
        rig.stop()


@pytest.fixture
def rig(make_rig: Callable[..., Rig]) -> Rig:
    return make_rig()
