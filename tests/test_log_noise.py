"""waitress's "Task queue depth is N" comes at most once a minute."""

from __future__ import annotations

import logging
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent.logs import OncePerInterval, quiet_waitress_queue

from .agent_process import AgentProcess


def _record(message: str = "Task queue depth is %d", *args: object) -> logging.LogRecord:
    return logging.LogRecord("waitress.queue", logging.WARNING, __file__, 1, message, args or (3,), None)


def test_once_per_interval_lets_one_line_a_minute_through_and_counts_the_rest():
    now = [100.0]
    limit = OncePerInterval(60, note="waiting for a worker", clock=lambda: now[0])
    first = _record("Task queue depth is %d", 1)
    assert limit.filter(first) and first.getMessage() == "Task queue depth is 1 (waiting for a worker)"
    passed = 0
    for depth in range(2, 500):
        now[0] += 0.1  # 50 s of warnings
        passed += limit.filter(_record("Task queue depth is %d", depth))
    assert passed == 0
    now[0] = 160.0  # a minute after the first
    later = _record("Task queue depth is %d", 7)
    assert limit.filter(later)
    assert later.getMessage() == ("Task queue depth is 7 (waiting for a worker; 498 more such line(s) in the last"
                                  " 60 s not shown)")
    now[0] = 230.0  # a quiet minute: no count to tell
    quiet = _record("Task queue depth is %d", 2)
    assert limit.filter(quiet) and quiet.getMessage() == "Task queue depth is 2 (waiting for a worker)"


def test_setup_puts_one_limit_on_waitress_queue_logger():
    logger = logging.getLogger("waitress.queue")
    before = list(logger.filters)
    try:
        quiet_waitress_queue()
        quiet_waitress_queue()  # again (setup is called again in tests): still one
        assert len([f for f in logger.filters if isinstance(f, OncePerInterval)]) == 1
    finally:
        logger.filters[:] = before


@pytest.mark.slow
def test_a_burst_beyond_the_http_threads_logs_one_queue_warning_a_minute(tmp_path):
    """The real agent with 2 HTTP threads, 600 requests from 40 clients at once:
    without the limit waitress logged "Task queue depth" for most of them."""
    agent = AgentProcess(tmp_path, "[agent]\nid = burst\nstate_dir = state\n[http]\nport = 0\nthreads = 2\n"
                                   "[simulator]\nlines = 1\n").start()
    try:
        deadline = time.monotonic() + 30
        while not agent.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        base = agent.url()
        assert agent.running() and base, agent.output

        def get(_: int) -> int:
            with urllib.request.urlopen(base + "/status.json", timeout=60) as reply:
                reply.read()
                return reply.status

        started = time.monotonic()
        with ThreadPoolExecutor(40) as pool:
            codes = list(pool.map(get, range(600)))
        minutes = (time.monotonic() - started) / 60
        assert codes == [200] * 600
        agent.signal(15)
        assert agent.wait(30) == 0, agent.output
    finally:
        agent.stop()
    warnings = [line for line in agent.lines if "Task queue depth is" in line]
    assert 1 <= len(warnings) <= 1 + int(minutes), "".join(warnings)  # the burst did queue: one line says so
    assert "requests waiting for a free HTTP worker thread: [http] threads" in warnings[0]
