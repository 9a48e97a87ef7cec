"""``sms-agent pdu``: decode and encode SMS PDUs from the command line.

Usage (argv excludes ``pdu``)::

    sms-agent pdu decode [--no-smsc] HEX
    sms-agent pdu encode --to NUMBER [--srr] [--flash] [--ucs2]
                         [--validity MINUTES | --no-validity] [--smsc NUMBER]
                         [--ref N] [--max-parts N] TEXT

``decode`` prints one JSON object on one line (:func:`agent.codec.pdu.to_json`).
HEX starts with the SMSC field (``00`` when there is none) unless ``--no-smsc``
says it is the bare TPDU.

``encode`` prints, for each part in sequence order, exactly two lines::

    AT+CMGS=<length>
    <PDU hex, upper case, starting with the SMSC field>

where <length> is the TPDU length in octets (the SMSC field excluded). The
validity defaults to 1440 minutes; a text longer than one SMS is split (at most
``--max-parts``, default 10) with an 8-bit concatenation reference, random
unless ``--ref`` gives it.

Exit status: 0 on success; 2 on a PDU that cannot be decoded, a message that
cannot be encoded or bad usage, with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

from agent.codec import parts, pdu
from agent.errors import CodecError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sms-agent pdu", description="Decode and encode SMS PDUs.")
    commands = parser.add_subparsers(dest="command", required=True)

    decode = commands.add_parser("decode", help="decode one PDU and print it as JSON")
    decode.add_argument("--no-smsc", action="store_true", help="HEX is the TPDU alone, without the SMSC field")
    decode.add_argument("hex", metavar="HEX")

    encode = commands.add_parser("encode", help="print AT+CMGS commands and PDUs for a message")
    encode.add_argument("--to", required=True, metavar="NUMBER", help="+international or national number")
    encode.add_argument("--srr", action="store_true", help="request a status report")
    encode.add_argument("--flash", action="store_true", help="class 0 (flash) message")
    encode.add_argument("--ucs2", action="store_true", help="force UCS-2 even if GSM 7-bit would do")
    validity = encode.add_mutually_exclusive_group()
    validity.add_argument("--validity", type=int, default=1440, metavar="MINUTES",
                          help="relative validity period (default 1440)")
    validity.add_argument("--no-validity", action="store_true", help="send without a validity period")
    encode.add_argument("--smsc", metavar="NUMBER", help="SMSC number (default: the modem's)")
    encode.add_argument("--ref", type=int, metavar="N", help="concatenation reference 0-255 (default random)")
    encode.add_argument("--max-parts", type=int, default=10, metavar="N", help="most parts allowed (default 10)")
    encode.add_argument("text", metavar="TEXT")
    return parser


def main(argv: list[str]) -> int:
    """Given the arguments after ``pdu``, run the command, print its output on
    stdout and return the exit status (see the module docstring)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.command == "decode":
            msg = pdu.decode(args.hex, has_smsc=not args.no_smsc)
            print(json.dumps(pdu.to_json(msg), ensure_ascii=False))
            return 0
        encoded = parts.encode_submits(
            args.to,
            args.text,
            ref=random.randrange(256) if args.ref is None else args.ref,
            encoding="ucs2" if args.ucs2 else None,
            max_parts=args.max_parts,
            srr=args.srr,
            validity_minutes=None if args.no_validity else args.validity,
            flash=args.flash,
            smsc=args.smsc,
        )
    except CodecError as exc:
        print(f"sms-agent pdu {args.command}: {exc}", file=sys.stderr)
        return 2
    for part in encoded:
        print(f"AT+CMGS={part.tpdu_length}")
        print(part.hex)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
