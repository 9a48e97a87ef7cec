"""Throughput of the PDU codec: single-part decodes/s and encodes/s, and the
multipart split+encode rate. Run ``python bench/bench_codec.py`` from the
repository root; it takes a few seconds. Targets: >= 20,000 decodes/s and
>= 20,000 encodes/s on the 2-core edge box.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.codec import parts, pdu  # noqa: E402
from agent.errors import PduError  # noqa: E402

DURATION = 1.5  # seconds per measurement


def rate(func, items) -> float:
    """Call func on the items round-robin for DURATION seconds; return calls/s."""
    count = 0
    start = time.perf_counter()
    deadline = start + DURATION
    while time.perf_counter() < deadline:
        for item in items:
            func(item)
        count += len(items)
    return count / (time.perf_counter() - start)


def decodable_vectors() -> list[tuple[str, bool]]:
    vectors = json.loads((ROOT / "tests" / "data" / "pdu_vectors.json").read_text("utf-8"))
    good = []
    for v in vectors:
        try:
            msg = pdu.decode(v["hex"], has_smsc=v["pdu_includes_smsc_field"])
        except PduError:
            continue
        if getattr(msg, "concat", None) is None:
            good.append((v["hex"], v["pdu_includes_smsc_field"]))
    return good


def main() -> None:
    vectors = decodable_vectors()
    long_gsm = pdu.encode_submit("+441234567890", "x" * 160).hex
    long_ucs2 = pdu.encode_submit("+441234567890", "ж" * 70).hex
    texts = ["Hello World!", "Your code is 493817. Do not share it.", "ΔΣ {braces} €5 [x]", "Привет, мир! 😀",
             "x" * 160, "ж" * 70]
    scts = datetime(2024, 3, 1, 8, 0, tzinfo=timezone.utc)
    long_text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20  # 1140 chars, 8 parts
    long_unicode = "Zażółć gęślą jaźń 😀 " * 30  # 600 chars, 10 parts

    results = [
        ("decode, real vectors (single part)", rate(lambda v: pdu.decode(v[0], has_smsc=v[1]), vectors), "/s"),
        ("decode, 160-septet GSM-7", rate(pdu.decode, [long_gsm]), "/s"),
        ("decode, 70-char UCS-2", rate(pdu.decode, [long_ucs2]), "/s"),
        ("encode_submit, mixed texts", rate(lambda t: pdu.encode_submit("+441234567890", t), texts), "/s"),
        ("encode_submit, 160-septet GSM-7", rate(lambda t: pdu.encode_submit("+441234567890", t), ["x" * 160]),
         "/s"),
        ("encode_deliver, mixed texts", rate(lambda t: pdu.encode_deliver("Bank", t, scts=scts), texts), "/s"),
    ]
    gsm_rate = rate(lambda t: parts.encode_submits("+441234567890", t, ref=1), [long_text])
    ucs2_rate = rate(lambda t: parts.encode_submits("+441234567890", t, ref=1), [long_unicode])
    results += [
        ("split+encode 1140-char GSM-7 (8 parts)", gsm_rate, " messages/s"),
        ("  = parts", gsm_rate * 8, " parts/s"),
        ("split+encode 600-char UCS-2 (10 parts)", ucs2_rate, " messages/s"),
        ("  = parts", ucs2_rate * 10, " parts/s"),
    ]
    width = max(len(name) for name, _, _ in results)
    print(f"Python {sys.version.split()[0]}, {len(vectors)} single-part vectors")
    for name, value, unit in results:
        print(f"{name:<{width}}  {value:>10,.0f}{unit}")


if __name__ == "__main__":
    main()
