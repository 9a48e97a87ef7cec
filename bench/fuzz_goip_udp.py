"""Mutation fuzzing of the GoIP UDP parser: ``--count`` datagrams built from the
captures in ``tests/data/goip_udp_captures.json`` go through
:func:`agent.codec.goip_udp.parse`, and every accepted event is acked and every
keepalive answered (those must not raise either).

Mutations, one to four per datagram: bits flipped, random bytes inserted,
the datagram cut, a slice deleted, a ``;``-separated field doubled, a field
made huge (past MAX_DATAGRAM now and then), NULs inserted, invalid UTF-8
inserted (lone continuation bytes, truncated sequences, overlong forms,
encoded surrogates, 0xFF), separators swapped (``;`` ``:`` space), two
captures spliced, CR/LF/NUL/``@`` padding appended.

Printed: datagrams, accepted, refused (DatagramError), crashes (any other
exception; must be 0, the first few are shown), datagrams/s of the parse
calls, how many were oversize, and the most common refusal reasons.  Exit status 1 when a crash was seen.

    python bench/fuzz_goip_udp.py [--count 200000] [--seed 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.codec import goip_udp  # noqa: E402
from agent.errors import DatagramError  # noqa: E402

CAPTURES = [c["datagram"].encode("utf-8")
            for c in json.loads((REPO / "tests" / "data" / "goip_udp_captures.json").read_text("utf-8"))]
BAD_UTF8 = [b"\x80", b"\xbf", b"\xc3", b"\xe6\xb5", b"\xf0\x9f\x98", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
            b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xff", b"\xfe\xff"]
SEPARATORS = b";: "


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    kind = rng.randrange(12)
    at = rng.randrange(len(buf) + 1)
    if kind == 0 and buf:  # bit flips
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # random bytes inserted
        buf[at:at] = rng.randbytes(rng.randint(1, 16))
    elif kind == 2:  # cut
        del buf[at:]
    elif kind == 3:  # a slice deleted
        del buf[at:at + rng.randint(1, 12)]
    elif kind == 4:  # a field doubled
        fields = bytes(buf).split(b";")
        i = rng.randrange(len(fields))
        fields.insert(i, fields[i])
        buf = bytearray(b";".join(fields))
    elif kind == 5:  # a field made huge
        fields = bytes(buf).split(b";")
        i = rng.randrange(len(fields))
        fields[i] += rng.choice([b"9", b"\xe6\xb5\x8b", b";", b":", b" ", b"\x00"]) * rng.choice([100, 1500, 5000])
        buf = bytearray(b";".join(fields))
    elif kind == 6:  # NULs
        buf[at:at] = b"\x00" * rng.randint(1, 4)
    elif kind == 7:  # invalid UTF-8
        buf[at:at] = rng.choice(BAD_UTF8)
    elif kind == 8 and buf:  # a separator swapped
        places = [i for i, b in enumerate(buf) if b in SEPARATORS]
        if places:
            buf[rng.choice(places)] = rng.choice(SEPARATORS)
    elif kind == 9:  # two captures spliced
        other = rng.choice(CAPTURES)
        buf = buf[:at] + other[rng.randrange(len(other) + 1):]
    elif kind == 10:  # padding after or before
        pad = rng.choice([b"\r\n", b"\n", b"\x00" * 8, b"@" * 7, b" \t", b"\r\n\x00@"])
        buf = buf + pad if rng.random() < 0.8 else pad + buf
    else:  # a byte overwritten
        if buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf)


def datagram(rng: random.Random) -> bytes:
    data = rng.choice(CAPTURES)
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        data = mutate(rng, data)
    return data


def use(result: object) -> None:
    """What the backend does with a parse result; must not raise for any result."""
    if isinstance(result, goip_udp.Event):
        goip_udp.ack(result)
        goip_udp.ack(result, error="not find this id")
    elif isinstance(result, goip_udp.Keepalive):
        goip_udp.reg(result.count)
        _ = (result.signal, result.gsm_login, result.operator)
    elif isinstance(result, goip_udp.Reply):
        goip_udp.sms_no(result)
        goip_udp.error_status(result)
        goip_udp.ussd_failed(result)
        if result.verb.upper() == "ERROR":
            goip_udp.classify_error(result)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    inputs = [datagram(rng) for _ in range(args.count)]
    accepted = refused = 0
    refusals: list[str] = []
    crashes: list[tuple[bytes, str]] = []
    start = time.perf_counter()
    for data in inputs:
        try:
            goip_udp.parse(data)
        except DatagramError as exc:
            refused += 1
            refusals.append(exc.reason)
            continue
        except Exception:  # noqa: BLE001 - a crash is what this counts
            crashes.append((data, traceback.format_exc()))
            continue
        accepted += 1
    elapsed = time.perf_counter() - start
    reasons = Counter(re.sub(r"[0-9]{2,}", "N", r.partition(": ")[2] or r) for r in refusals)
    for data in inputs:  # the answers, outside the timed loop
        try:
            use(goip_udp.parse(data))
        except DatagramError:
            pass
        except Exception:  # noqa: BLE001
            crashes.append((data, traceback.format_exc()))
    figures = {"datagrams": len(inputs), "accepted": accepted, "refused": refused, "crashes": len(crashes),
               "datagrams_per_s": round(len(inputs) / elapsed),
               "oversize": sum(len(d) > goip_udp.MAX_DATAGRAM for d in inputs),
               "reasons": dict(reasons.most_common(8))}
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            if key != "reasons":
                print(f"{key:16} {value}")
        for reason, n in reasons.most_common(8):
            print(f"  refused {n:7}  {reason}")
    for data, trace in crashes[:3]:
        print(f"\ncrash on {data[:200]!r}:\n{trace}", file=sys.stderr)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
