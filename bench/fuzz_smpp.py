"""Mutation fuzzing of the SMPP 3.4 decoder: ``--count`` frames go through
:func:`agent.codec.smpp.decode`, which must raise nothing but PduError.

Frames are built from valid PDUs of every command (encoded by
:func:`agent.codec.smpp.encode`, with and without TLVs), then mutated one to
four times: bits flipped, the frame cut, random bytes inserted, a slice
deleted, a mandatory octet set to 0x00 / 0x7F / 0x80 / 0xFF, NULs removed from
C-octet strings, a random TLV appended (known and unknown tags, honest or
lying lengths), sm_length lied about, command_length lied about (kept honest
four times in five), command_id replaced.  One frame in ten is random bytes
(half with an honest command_length).  Accepted PDUs are also encoded back
(which must not raise either).

Printed: frames, decoded, refused by status (and how many were generic_nack
refusals), crashes (any other exception; must be 0, the first few are shown)
and frames decoded per second.  Exit status 1 when a crash was seen.

    python bench/fuzz_smpp.py [--count 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.codec import smpp  # noqa: E402
from agent.errors import EncodeError  # noqa: E402

_STATUS_NAMES = {value: name for name, value in vars(smpp).items()
                 if name.startswith("ESME_") and isinstance(value, int)}
_SM = {"service_type": "CMT", "source_addr_ton": 5, "source_addr": "Shop", "dest_addr_ton": 1, "dest_addr_npi": 1,
       "destination_addr": "447700900123", "esm_class": 0x40, "registered_delivery": 1,
       "schedule_delivery_time": "240131120000000+", "validity_period": "000001000000000R", "data_coding": 8,
       "short_message": b"\x05\x00\x03\x01\x02\x01" + "héllo".encode("utf-16-be")}
_FIELDS = {
    smpp.BIND_TRANSCEIVER: {"system_id": "smppclient1", "password": "password", "interface_version": 0x34},
    smpp.BIND_RECEIVER: {"system_id": "kannel", "password": "pw", "system_type": "VMA", "address_range": "^44"},
    smpp.BIND_TRANSMITTER: {"system_id": "jasmin", "password": "pw"},
    smpp.SUBMIT_SM: _SM, smpp.DELIVER_SM: dict(_SM, esm_class=4, data_coding=0, short_message=b"id:1 stat:DELIVRD"),
    smpp.DATA_SM: {"source_addr": "123", "destination_addr": "456", "data_coding": 0},
    smpp.QUERY_SM: {"message_id": "42", "source_addr": "123"},
    smpp.REPLACE_SM: {"message_id": "42", "source_addr": "123", "short_message": b"new text"},
    smpp.CANCEL_SM: {"message_id": "42", "source_addr": "123", "destination_addr": "456"},
    smpp.SUBMIT_MULTI: dict({k: v for k, v in _SM.items() if not k.startswith("dest")}, dest_addresses=[
        {"dest_flag": 1, "dest_addr_ton": 1, "destination_addr": "111"}, {"dest_flag": 2, "dl_name": "dl"}]),
    smpp.SUBMIT_MULTI_RESP: {"message_id": "9", "unsuccess_smes": [{"destination_addr": "1", "error_status_code": 11}]},
    smpp.QUERY_SM_RESP: {"message_id": "42", "final_date": "240131120000000+", "message_state": 2},
    smpp.ALERT_NOTIFICATION: {"source_addr": "123", "esme_addr": "esme"},
    smpp.OUTBIND: {"system_id": "smsc", "password": "pw"},
}
_TLVS = [(smpp.SAR_MSG_REF_NUM, smpp.tlv_u16(0x1234)), (smpp.SAR_TOTAL_SEGMENTS, smpp.tlv_u8(2)),
         (smpp.SAR_SEGMENT_SEQNUM, smpp.tlv_u8(1)), (smpp.MESSAGE_PAYLOAD, b"payload"),
         (smpp.RECEIPTED_MESSAGE_ID, smpp.tlv_cstr("abc")), (smpp.MESSAGE_STATE, smpp.tlv_u8(2)),
         (smpp.NETWORK_ERROR_CODE, b"\x03\x00\x01"), (0x1400, b"vendor")]
_TAGS = [tag for tag, _ in _TLVS] + [smpp.SC_INTERFACE_VERSION, smpp.USER_MESSAGE_REFERENCE, 0x0000, 0xFFFF]


def seeds() -> list[bytes]:
    """Valid PDUs of every command, each without and with TLVs."""
    out = []
    for command_id in smpp.NAMES:
        fields = _FIELDS.get(command_id, {"message_id": "m1", "system_id": "agent"})
        out.append(smpp.encode(command_id, 1, fields=fields))
        out.append(smpp.encode(command_id, 0x7FFFFFFF, fields=fields, tlvs=_TLVS))
    return out


def mutate(rng: random.Random, frame: bytes) -> bytes:
    """Return ``frame`` mutated one to four times (see the module docstring)."""
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(10)
        if kind == 0 and data:
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del data[rng.randrange(len(data) + 1):]
        elif kind == 2:
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.randbytes(rng.randint(1, 16))
        elif kind == 3 and len(data) > 16:
            at = rng.randrange(16, len(data))
            del data[at : at + rng.randint(1, 8)]
        elif kind == 4 and len(data) > 16:
            data[rng.randrange(16, len(data))] = rng.choice((0x00, 0x7F, 0x80, 0xFF))
        elif kind == 5 and b"\x00" in data[16:]:
            zeros = [i for i in range(16, len(data)) if data[i] == 0]
            data[rng.choice(zeros)] = rng.randrange(0x20, 0x7F)
        elif kind == 6:
            value = rng.randbytes(rng.randrange(12))
            size = len(value) if rng.random() < 0.7 else rng.randrange(65536)
            data += struct.pack(">HH", rng.choice(_TAGS), size) + value
        elif kind == 7 and len(data) > 16:
            at = rng.randrange(16, len(data))  # sm_length is somewhere in the body: lie at random spots
            data[at] = rng.choice((0, 1, 200, 254, 255))
        elif kind == 8 and len(data) >= 8:
            data[4:8] = struct.pack(">I", rng.choice([*smpp.NAMES, 0, 0x0A, 0x80000102, rng.getrandbits(32)]))
        elif kind == 9 and len(data) >= 4:
            data[:4] = struct.pack(">I", rng.choice((0, 15, 16, len(data) + 1, smpp.MAX_PDU + 1,
                                                     rng.getrandbits(32))))
            continue
        if len(data) >= 4 and rng.random() < 0.8:
            data[:4] = struct.pack(">I", len(data))
    return bytes(data)


def random_frame(rng: random.Random) -> bytes:
    """Random bytes; half of the time with an honest command_length."""
    size = rng.randrange(64)
    if rng.random() < 0.5:
        return struct.pack(">I", 16 + size) + rng.randbytes(12 + size)
    return rng.randbytes(size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    base = seeds()
    frames = [random_frame(rng) if rng.random() < 0.1 else mutate(rng, rng.choice(base)) for _ in range(args.count)]
    decoded, nacks, crashes = 0, 0, []
    refused: Counter[int] = Counter()
    elapsed = 0.0
    for frame in frames:
        start = time.perf_counter()
        try:
            pdu = smpp.decode(frame)
        except smpp.PduError as err:
            elapsed += time.perf_counter() - start
            refused[err.status] += 1
            nacks += err.nack
            continue
        except Exception:  # noqa: BLE001 - a crash is what we count
            elapsed += time.perf_counter() - start
            crashes.append((frame, traceback.format_exc()))
            continue
        elapsed += time.perf_counter() - start
        decoded += 1
        try:
            smpp.encode(pdu.command_id, pdu.sequence, status=pdu.status, fields=pdu.fields,
                        tlvs=list(pdu.tlvs.items()), strict=False)
        except EncodeError:
            pass
        except Exception:  # noqa: BLE001
            crashes.append((frame, "re-encode: " + traceback.format_exc()))
    print(f"frames     {args.count} (seed {args.seed})")
    print(f"decoded    {decoded}")
    print(f"refused    {sum(refused.values())} ({nacks} as generic_nack)")
    for status, count in refused.most_common():
        print(f"  {_STATUS_NAMES.get(status, hex(status)):<24} 0x{status:03X} {count}")
    print(f"crashes    {len(crashes)}")
    for frame, trace in crashes[:3]:
        print(frame.hex(), trace, sep="\n")
    print(f"rate       {args.count / elapsed:,.0f} frames/s decoded or refused")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
