"""The agent with both binary doors open on 127.0.0.1 (free ports), over the real
queue, line workers and simulated modems."""

from __future__ import annotations

import pytest

from agent.config import parse

from ..queue_harness import Stack

DOORS = """
[agent]
id = doors-test
state_dir = state
[smpp]
listen = 127.0.0.1:0
system_id = branch
password = secret12
{smpp}
[cmpp]
listen = 127.0.0.1:0
source_addr = test01
password = 123456
{cmpp}
"""


class Agent:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.doors = {d.name: d for d in stack.app.doors}

    @property
    def smpp(self) -> tuple[str, int]:
        return self.doors["smpp"].address

    @property
    def cmpp(self) -> tuple[str, int]:
        return self.doors["cmpp"].address

    @property
    def core(self):
        return self.stack.core

    def sent(self) -> list:
        """Every message the simulated modems sent, complete ones only."""
        return [m for modem in self.stack.sim for m in modem.sent if m.complete]

    def outbox(self, door: str) -> int:
        return self.stack.store.outbox.stats().get(door, {}).get("pending", 0)


@pytest.fixture
def make_agent(make_bank, tmp_path):
    """make_agent(profiles=("generic",)*2, smpp="key = value lines", cmpp=..., extra="more sections",
    db="doors.db") -> Agent (stopped after the test)."""
    made: list[Agent] = []

    def make(profiles=("generic", "generic"), *, smpp: str = "", cmpp: str = "", extra: str = "",
             db: str = "doors.db", bank=None, **stack_kw) -> Agent:
        sim = bank or make_bank(list(profiles))
        state = tmp_path / "state"
        state.mkdir(exist_ok=True)
        text = DOORS.format(smpp=smpp, cmpp=cmpp) + extra + "\n[http]\nhost = 127.0.0.1\nport = 0\n"
        config = parse(text, base_dir=tmp_path)
        stack = Stack(sim, state / db, config=config, **stack_kw).start()
        agent = Agent(stack)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        try:
            agent.stack.stop()
        except Exception:  # already stopped by the test
            pass


@pytest.fixture
def agent(make_agent) -> Agent:
    return make_agent()
