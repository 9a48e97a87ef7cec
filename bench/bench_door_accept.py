"""The accept path of the SMPP and CMPP doors alone: submissions per second and CPU per
submission while the lines send nothing (the simulated modems take 60 s per SMS, so the
router, the lines and the receipts stay out of the figure).  Each submission is committed
(synchronous=FULL) before its response, as always; window 10, one session, in-process.

    python bench/bench_door_accept.py [--count 2000] [--profile]

``bench/bench_doors.py`` measures the whole chain (accept, send, receipts) with the agent
as a process; this one shows what the door and the store cost per submission.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.app import App  # noqa: E402
from agent.codec import cmpp, cmpp_client, smpp  # noqa: E402
from agent.config import parse  # noqa: E402
from tests.doors.clients import CmppClient, SmppClient  # noqa: E402

WINDOW = 10


def config(state: Path):
    return parse(f"""[agent]
id = bench
state_dir = {state}
log_level = WARNING
[simulator]
lines = 2
send_delay = 60
[smpp]
listen = 127.0.0.1:0
system_id = branch
password = secret12
[cmpp]
listen = 127.0.0.1:0
source_addr = test01
password = 123456
[http]
host = 127.0.0.1
port = 0
""", base_dir=state)


def run_smpp(address, count: int) -> None:
    c = SmppClient(address)
    assert c.bind().status == 0
    sent = got = 0
    while got < count:
        while sent < count and sent - got < WINDOW:
            c.send(smpp.SUBMIT_SM, fields={"source_addr": "1", "destination_addr": "13800138000",
                                           "short_message": b"hello", "registered_delivery": 1})
            sent += 1
        pdu = c.read(10)
        if pdu is not None and pdu.command_id == smpp.SUBMIT_SM_RESP:
            assert pdu.status == 0, hex(pdu.status)
            got += 1
    c.close()


def run_cmpp(address, count: int) -> None:
    c = CmppClient(address)
    assert c.connect()[0] == 0
    sent = got = 0
    while got < count:
        while sent < count and sent - got < WINDOW:
            c.sock.sendall(cmpp_client.encode_submit(c.next_seq(), version=cmpp.V2,
                                                     dest_terminal_ids=["13800138000"], content="你好".encode("gbk"),
                                                     msg_fmt=15, registered_delivery=1))
            sent += 1
        frame = c.read(10)
        if frame is not None and int.from_bytes(frame[4:8], "big") == cmpp.SUBMIT_RESP:
            assert cmpp_client.decode_submit_resp(frame, cmpp.V2)[1] == 0
            got += 1
    c.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--profile", action="store_true", help="print where the time goes (cProfile of the agent)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        app = App(config(Path(tmp)))
        app.start()
        try:
            doors = {d.name: d.address for d in app.doors}
            for name, runner in (("smpp", run_smpp), ("cmpp", run_cmpp)):
                prof = cProfile.Profile() if args.profile else None
                started, cpu = time.perf_counter(), time.process_time()
                if prof:
                    prof.enable()
                runner(doors[name], args.count)
                if prof:
                    prof.disable()
                wall, used = time.perf_counter() - started, time.process_time() - cpu
                print(f"{name}: {args.count / wall:.0f} submits/s, {used / args.count * 1000:.2f} ms CPU per submit"
                      f" (client and agent in one process), window {WINDOW}, 1 session")
                if prof:
                    pstats.Stats(prof).sort_stats("cumulative").print_stats(15)
        finally:
            app.stop(2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
