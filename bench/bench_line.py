"""Messages per second through line workers on simulated modems at zero send delay.

Drives the real worker -> channel -> pyserial -> pty -> simulated modem path
(the simulator runs in this process, so the CPU figures include it).
Prints, for 1 line and for 16 lines: messages/s, and CPU seconds per message.

    python bench/bench_line.py [--messages N]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from concurrent.futures import wait
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config import LineConfig, ModemsConfig  # noqa: E402
from agent.model import READY, SENT, NullEvents, OutgoingSms  # noqa: E402
from agent.modem.worker import LineWorker  # noqa: E402
from agent.sim.bank import SimBank  # noqa: E402


def run(lines: int, messages: int, text: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimBank(["generic"] * lines, state_dir=tmp, send_delay=0.0)
        sim.start()
        sim_stop = threading.Event()
        modems = ModemsConfig(health_interval=3600, status_report=False)
        workers = [LineWorker(LineConfig(name=m.name, device=m.path), modems, NullEvents(), sim_stop, inbox_size=messages)
                   for m in sim.modems]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 30
        while not all(w.state.state == READY for w in workers):
            if time.monotonic() > deadline:
                raise SystemExit("lines did not become ready")
            sim_stop.wait(0.05)
        per_line = messages // lines
        cpu0, t0 = time.process_time(), time.perf_counter()
        futures = [w.submit(OutgoingSms(id=i, recipient="+8613912345678", text=text, status_report=False))
                   for w in workers for i in range(per_line)]
        wait(futures, timeout=300)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        ok = sum(f.result().outcome == SENT for f in futures)
        sim_stop.set()
        for w in workers:
            w.wake()
            w.join(5)
        sim.stop()
        if ok != len(futures):
            raise SystemExit(f"only {ok}/{len(futures)} sent")
        return len(futures) / elapsed, cpu / len(futures)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    text = "Your verification code is 482913. It expires in 10 minutes."
    for lines in (1, 16):
        rate, cpu = run(lines, args.messages, text)
        print(f"{lines:2d} line(s): {rate:8.0f} messages/s  {cpu * 1000:.3f} CPU ms/message "
              f"(single-part, zero send delay, simulator included)")


if __name__ == "__main__":
    main()
