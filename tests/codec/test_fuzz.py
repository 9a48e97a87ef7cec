"""Fuzz the decoder with 100,000+ random and mutated PDUs: only PduError may
escape, and never through the decoder's safety net (which would mean a bug)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from agent.codec import pdu
from agent.errors import PduError

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "pdu_vectors.json").read_text("utf-8"))
SEEDS = [bytes.fromhex(("" if v["pdu_includes_smsc_field"] else "00") + v["hex"]) for v in VECTORS]
ROUNDS = 100_000


def length_offsets(data: bytes) -> list[int]:
    """Offsets of the octets that carry lengths (SMSC length, address length,
    TP-UDL): changing them is what breaks decoders."""
    offsets = [0]
    tpdu = data[0] + 1
    if tpdu >= len(data):
        return offsets
    mti = data[tpdu] & 3
    address = tpdu + (1 if mti == 0 or mti == 3 else 2)
    offsets.append(address)
    if address < len(data):
        after_address = address + 2 + (data[address] + 1) // 2
        if mti in (0, 3):
            offsets.append(after_address + 9)  # PID, DCS, SCTS, then TP-UDL
        elif mti == 1:
            vp = {0: 0, 2: 1}.get((data[tpdu] >> 3) & 3, 7)
            offsets.append(after_address + 2 + vp)
    return [o for o in offsets if o < len(data)]


def mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    kind = rng.randrange(6)
    if kind == 0:  # bit flips
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncation
        del data[rng.randrange(len(data)) :]
    elif kind == 2:  # a length octet changed, often by a little
        i = rng.choice(length_offsets(bytes(data)))
        data[i] = (data[i] + rng.choice([-2, -1, 1, 2, rng.randrange(256)])) % 256
    elif kind == 3:  # random octet overwritten
        data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 4:  # octets inserted or appended
        i = rng.randrange(len(data) + 1)
        data[i:i] = rng.randbytes(rng.randint(1, 8))
    else:  # a slice deleted
        i = rng.randrange(len(data))
        del data[i : i + rng.randint(1, 8)]
    return bytes(data)


def check(pdu_input, has_smsc: bool = True) -> bool:
    """Decode and return True when it worked, False on PduError."""
    try:
        pdu.decode(pdu_input, has_smsc=has_smsc)
    except PduError as exc:
        assert exc.__cause__ is None, f"safety net hit for {pdu_input!r}: {exc.__cause__!r}"
        return False
    return True


def test_fuzz_random_and_mutated_pdus():
    rng = random.Random(20240229)
    decoded = 0
    for n in range(ROUNDS):
        choice = n % 10
        if choice < 7:
            candidate = mutate(rng, rng.choice(SEEDS))
            if rng.random() < 0.3:  # stack a second mutation
                candidate = mutate(rng, candidate) if candidate else candidate
            decoded += check(candidate.hex() if n % 2 else candidate)
        elif choice < 9:
            decoded += check(rng.randbytes(rng.randrange(64)), has_smsc=bool(n % 3))
        else:  # malformed hex text: odd lengths, stray characters
            text = rng.choice(SEEDS).hex()[: rng.randrange(120)]
            if text and rng.random() < 0.5:
                i = rng.randrange(len(text))
                text = text[:i] + rng.choice("gz :\x00é") + text[i + 1 :]
            check(text)
    # the mutations must not all be trivially rejected, or the fuzz would test little
    assert decoded > ROUNDS // 10


def test_length_offsets_point_at_lengths():
    deliver = bytes.fromhex("07912143658709F1040B918100551512F20000111010214365000AE8329BFD4697D9EC37")
    assert [deliver[i] for i in length_offsets(deliver)] == [0x07, 0x0B, 0x0A]
    submit = bytes.fromhex("0011000B914356143254F60000AA04483E7B0F")
    assert [submit[i] for i in length_offsets(submit)] == [0x00, 0x0B, 0x04]
