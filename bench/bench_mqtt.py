"""Figures of the MQTT uplink against a local mosquitto.

* Sustained: events written to the outbox as fast as a writer can (batches of
  100 rows per transaction, as the store writes them with their data), each
  published at QoS 1 and deleted on its PUBACK: events/s from the first
  write to the last row acknowledged, checked in order and exactly once at
  a subscriber in another process.  Also with one durable transaction per
  event (the store's real path for a received call), which bounds the rate
  on slow storage.
* Replay: 10,000 events waiting in the outbox when the uplink connects,
  replayed at ``--replay-rate`` while live events keep coming (``--live``
  per second): the time until the whole backlog is acknowledged, and the
  latency of the live events meanwhile.

    python bench/bench_mqtt.py [--events 20000] [--backlog 10000] [--replay-rate 2000] [--live 100]

Needs mosquitto (``/usr/sbin/mosquitto`` or on the PATH).
"""

from __future__ import annotations

import argparse
import getpass
import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.config import ModemsConfig, MqttConfig  # noqa: E402
from agent.core import Core  # noqa: E402
from agent.modem.bank import ModemBank  # noqa: E402
from agent.model import CallRecord, NullEvents  # noqa: E402
from agent.store.queue import Store  # noqa: E402
from agent.uplink.forward import DESTINATION, KINDS  # noqa: E402
from agent.uplink.mqtt import MqttUplink  # noqa: E402

# A subscriber in its own process (the uplink's process is measured alone): it
# reports when it has seen ``expected`` events, with order and latency figures.
SUBSCRIBER = r"""
import json, sys, threading, time
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
port, topic, expected = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
seen, dups, out_of_order, latencies = set(), 0, 0, []
last = {True: 0, False: 0}
backlog_done = None
done = threading.Event()
def on_message(c, u, m):
    global dups, out_of_order, backlog_done
    e = json.loads(m.payload)
    now = time.time()
    if e["seq"] in seen:
        dups += 1
        return
    seen.add(e["seq"])
    if e["seq"] < last[e["replayed"]]:
        out_of_order += 1
    last[e["replayed"]] = e["seq"]
    if not e["replayed"] and "t" in e:
        latencies.append(now - e["t"])
    if e["replayed"]:
        backlog_done = now
    if len(seen) >= expected:
        done.set()
def on_connect(c, u, f, rc, p):
    c.subscribe(topic, 1)
c = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub", protocol=paho.MQTTv5)
c.on_message = on_message
c.on_connect = on_connect
c.on_subscribe = lambda *a: print("ready", flush=True)
c.connect("127.0.0.1", port)
c.loop_start()
done.wait(600)
latencies.sort()
pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None
print(json.dumps({"received": len(seen), "dups": dups, "out_of_order": out_of_order, "end": time.time(),
                  "backlog_done": backlog_done, "live": len(latencies), "p50": pick(0.5), "p99": pick(0.99),
                  "max": latencies[-1] if latencies else None}), flush=True)
c.disconnect()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        conf = folder / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nuser {getpass.getuser()}\nallow_anonymous true\n"
                        "persistence false\nmax_queued_messages 1000000\n")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                threading.Event().wait(0.02)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Subscriber:
    def __init__(self, port: int, topic: str, expected: int) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(port), topic, str(expected)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def result(self, timeout: float = 600) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.proc.wait(timeout)
        return json.loads(line)


def uplink_for(db: Path, port: int, replay_rate: float) -> tuple[MqttUplink, Store, threading.Event]:
    store = Store(db, push_targets={kind: {DESTINATION} for kind in KINDS})
    store.open()
    stop = threading.Event()
    core = Core(store, ModemBank((), ModemsConfig(), NullEvents(), stop), ())
    config = MqttConfig(host="127.0.0.1", port=port, replay_rate=replay_rate, status_interval=60)
    return MqttUplink(config, core, "bench", stop, outbox=store, version="bench"), store, stop


def write_events(db: Path, n: int, *, batch: int = 100, start: int = 0,
                 committed: Callable[[], None] = lambda: None) -> None:
    """Insert ``n`` 'mo'-like events for destination mqtt, ``batch`` per transaction,
    calling ``committed`` after each."""
    con = sqlite3.connect(db, timeout=30, isolation_level=None)
    con.execute("PRAGMA synchronous = NORMAL")
    for first in range(start, start + n, batch):
        now = time.time()
        rows = [(DESTINATION, "mo", json.dumps({"id": i, "line": "sim1", "originator": "+8613800000000",
                                                  "text": f"bench event {i}", "encoding": "7", "t": now}),
                 now, now) for i in range(first, min(first + batch, start + n))]
        con.execute("BEGIN IMMEDIATE")
        con.executemany("INSERT INTO outbox (destination, kind, payload, created, next_attempt)"
                        " VALUES (?, ?, ?, ?, ?)", rows)
        con.execute("COMMIT")
        committed()
    con.close()


def wait_empty(store: Store, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while store.outbox.stats().get(DESTINATION, {}).get("pending", 0):
        if time.monotonic() > deadline:
            raise TimeoutError("outbox not emptied")
        threading.Event().wait(0.01)
    return time.monotonic()


def sustained(root: Path, broker: Broker, events: int, *, durable_each: bool) -> None:
    db = root / f"sustained-{int(durable_each)}.db"
    uplink, store, stop = uplink_for(db, broker.port, 2000)
    sub = Subscriber(broker.port, "sms-agent/bench/calls" if durable_each else "sms-agent/bench/mo", events)
    uplink.start()
    while not uplink.connected:
        threading.Event().wait(0.01)
    t0 = time.monotonic()
    if durable_each:
        for i in range(events):
            store.inbox.store_call(CallRecord("sim1", f"1380000{i:04d}", datetime.now()))
            if i % 50 == 0:
                uplink.wake()
        uplink.wake()
    else:
        write_events(db, events, committed=uplink.wake)  # as the store's sink wakes it
    written = time.monotonic() - t0
    end = wait_empty(store)
    result = sub.result()
    stop.set()
    uplink.stop(5)
    store.close()
    what = "one durable transaction per event" if durable_each else "batched writes (100 per transaction)"
    print(f"sustained, {what}: {events} events written in {written:.2f} s, all acknowledged after "
          f"{end - t0:.2f} s: {events / (end - t0):,.0f} events/s; received {result['received']}, "
          f"duplicates {result['dups']}, out of order {result['out_of_order']}")


def replay(root: Path, broker: Broker, backlog: int, rate: float, live_rate: float) -> None:
    db = root / "replay.db"
    uplink, store, stop = uplink_for(db, broker.port, rate)
    write_events(db, backlog)  # waiting before the uplink connects: all of it is the backlog
    live_total = int(live_rate * (backlog / rate + 1.0))
    sub = Subscriber(broker.port, "sms-agent/bench/mo", backlog + live_total)
    uplink.start()
    while not uplink.connected:
        threading.Event().wait(0.001)
    t0 = time.time()
    m0 = time.monotonic()

    def live() -> None:
        con = sqlite3.connect(db, timeout=30, isolation_level=None)
        period = 1.0 / live_rate
        for i in range(live_total):
            target = m0 + i * period
            threading.Event().wait(max(0.0, target - time.monotonic()))
            now = time.time()
            con.execute("INSERT INTO outbox (destination, kind, payload, created, next_attempt) VALUES (?,?,?,?,?)",
                        (DESTINATION, "mo", json.dumps({"id": -i, "line": "sim1", "text": "live", "t": now}), now, now))
            uplink.wake()
        con.close()

    producer = threading.Thread(target=live)
    producer.start()
    result = sub.result()
    producer.join()
    wait_empty(store)
    stop.set()
    uplink.stop(5)
    store.close()
    print(f"replay of {backlog} events at replay_rate {rate:g}/s with {live_rate:g} live events/s: backlog "
          f"received in {result['backlog_done'] - t0:.2f} s; {result['live']} live events meanwhile, latency "
          f"p50 {result['p50'] * 1000:.1f} ms, p99 {result['p99'] * 1000:.1f} ms, max {result['max'] * 1000:.1f} ms; "
          f"duplicates {result['dups']}, out of order {result['out_of_order']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--durable-events", type=int, default=3000)
    parser.add_argument("--backlog", type=int, default=10000)
    parser.add_argument("--replay-rate", type=float, default=2000.0)
    parser.add_argument("--live", type=float, default=100.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        broker = Broker(root)
        try:
            sustained(root, broker, args.events, durable_each=False)
            sustained(root, broker, args.durable_events, durable_each=True)
            replay(root, broker, args.backlog, args.replay_rate, args.live)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
