"""Mutation fuzzing of the CMPP decoder: ``--count`` frames, each a valid PDU of CMPP 2.0 or
3.0 (CONNECT, SUBMIT with one or several destinations and UDH content, DELIVER_RESP, ACTIVE_TEST
and its answer, TERMINATE, CANCEL, QUERY, a status-report DELIVER) mutated one to four times
(bits flipped, octets set to edge values, cut, random bytes inserted, Total_Length made to
agree, Command_Id swapped), or 5% plain random bytes, go through :func:`agent.codec.cmpp.decode`
with the frame's version.

Printed: frames, decoded (by PDU type), refused (CmppError, by result code), crashed (any other
exception; must be 0, the first few are shown) and frames/s.  Exit status 1 when a crash was seen.

    python bench/fuzz_cmpp.py [--count 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.codec import cmpp  # noqa: E402
from tests.codec.test_cmpp import _frames, _mutate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    frames = {v: _frames(v) for v in (cmpp.V2, cmpp.V3)}
    decoded: Counter[str] = Counter()
    refused: Counter[int] = Counter()
    crashes = []
    spent = 0.0
    for _ in range(args.count):
        version = rng.choice((cmpp.V2, cmpp.V3))
        if rng.random() < 0.95:
            frame = _mutate(rng, rng.choice(frames[version]))
        else:
            frame = rng.randbytes(rng.randint(0, 300))
        start = time.perf_counter()
        try:
            pdu = cmpp.decode(frame, version)
            decoded[type(pdu).__name__] += 1
        except cmpp.CmppError as e:
            refused[e.result] += 1
        except Exception:  # noqa: BLE001 - a crash is what we count
            crashes.append((version, frame.hex(), traceback.format_exc()))
        spent += time.perf_counter() - start
    print(f"frames:   {args.count} (seed {args.seed})")
    print(f"decoded:  {sum(decoded.values())}  " + ", ".join(f"{k} {n}" for k, n in decoded.most_common()))
    print(f"refused:  {sum(refused.values())}  " + ", ".join(f"result {k}: {n}" for k, n in sorted(refused.items())))
    print(f"crashed:  {len(crashes)}")
    print(f"rate:     {args.count / spent:,.0f} frames/s")
    for version, hexed, tb in crashes[:3]:
        print(f"--- version {version:#x} frame {hexed}\n{tb}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
