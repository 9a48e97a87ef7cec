"""Time to accept one 50,000-number HttpBatchSendSM batch on a real agent process.

Starts a fresh ``sms-agent run`` (4 simulated lines at zero send delay, as
``bench_http.py`` does) for each run, POSTs ``/msg/HttpBatchSendSM`` with
50,000 distinct numbers as a form (the way the API's clients send big
batches), and measures from the request to the reply.  The reply comes only
once every row is committed with synchronous=FULL; the bench checks that the
50,000 rows are in the database when it arrives.  Also printed: the time of
the store's part alone (``Store.enqueue`` of 50,000 rows in this process, on a
fresh file), so the HTTP and parsing cost can be told apart.

    python bench/bench_batch.py [--runs 3] [--numbers 50000]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_http import HOST, PASSWORD, USER, Agent  # noqa: E402

from agent.model import NewMessage  # noqa: E402
from agent.store.queue import Store  # noqa: E402

TEXT = "【Branch】Your parcel is ready for pickup at counter 3 until 18:00. Reply TD to unsubscribe."


def numbers(count: int) -> list[str]:
    return [f"139{n:08d}" for n in range(count)]


def one_run(count: int) -> tuple[float, int, str, int]:
    agent = Agent()
    try:
        body = urllib.parse.urlencode({"account": USER, "pswd": PASSWORD, "mobile": ",".join(numbers(count)),
                                       "msg": TEXT, "needstatus": "true"}).encode()
        conn = http.client.HTTPConnection(HOST, agent.port, timeout=120)
        t0 = time.monotonic()
        conn.request("POST", "/msg/HttpBatchSendSM", body=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        reply = conn.getresponse().read().decode(errors="replace")
        elapsed = time.monotonic() - t0
        rows = agent.count()
        conn.close()
        return elapsed, rows, reply, len(body)
    finally:
        agent.stop()


def store_only(count: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        store.open()
        messages = [NewMessage(n, TEXT) for n in numbers(count)]
        t0 = time.monotonic()
        store.enqueue(messages, task=True, source="bench")
        elapsed = time.monotonic() - t0
        store.close()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--numbers", type=int, default=50_000)
    args = parser.parse_args()
    times = []
    for run in range(1, args.runs + 1):
        elapsed, rows, reply, size = one_run(args.numbers)
        status = reply.splitlines()[0].split(",")[-1] if reply else "?"
        if status != "0" or rows < args.numbers:
            raise SystemExit(f"run {run}: refused or incomplete: reply {reply[:200]!r}, {rows} rows")
        times.append(elapsed)
        lines = reply.splitlines()
        msgid = lines[1] if len(lines) > 1 else "-"
        print(f"run {run}: {args.numbers:,} numbers ({size / 1024:.0f} KiB form) accepted in {elapsed * 1000:.0f} ms;"
              f" {rows:,} rows committed at the reply; msgid {msgid}")
    print(f"HttpBatchSendSM {args.numbers:,} numbers: median {statistics.median(times) * 1000:.0f} ms,"
          f" worst {max(times) * 1000:.0f} ms (target 1500 ms, durably committed)")
    print(f"store alone (Store.enqueue, one durable transaction): {store_only(args.numbers) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
