"""AT handlers of the simulated modem: V.250 basics, identity, SIM, network (27.007).

See :mod:`.replies` for the handler contract.  The answers' shapes follow
the profile (see :mod:`.profiles`) and the captures in testdata.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .identity import swapped_iccid
from .replies import AtError, Reply, int_param, number_type, params

if TYPE_CHECKING:
    from .machine import Machine

PUK = "12345678"  # every simulated SIM has this PUK


def _ok(m: Machine, op: str, args: str) -> list[str]:
    return []  # settings a simulated modem accepts and ignores (&C, &D, &W, +IPR...)


def _echo(m: Machine, op: str, args: str) -> list[str]:
    m.echo = int_param(args or "0", 0, 1) == 1
    return []


def _verbose(m: Machine, op: str, args: str) -> list[str]:
    int_param(args or "1", 1, 1)  # V0 (numeric result codes) is not simulated
    return []


def _quiet(m: Machine, op: str, args: str) -> list[str]:
    int_param(args or "0", 0, 0)  # Q1 (no result codes) is not simulated
    return []


def _factory(m: Machine, op: str, args: str) -> list[str]:
    m.factory_defaults()
    return []


def _sreg(m: Machine, op: str, args: str) -> list[str]:
    return ["000"] if args.endswith("?") else []


def _info(m: Machine, op: str, args: str) -> list[str]:
    return [m.fmt(line) for line in m.profile.ati]


def _fixed(attr: str, *, sim: bool = False):  # type: ignore[no-untyped-def]
    """A handler answering one identity value, bare, to the exec and read forms."""

    def handler(m: Machine, op: str, args: str) -> list[str]:
        if op == "test":
            return []
        if op == "set":
            raise AtError("ERROR")
        if sim:
            m.require_sim()
        return [_identity_value(m, attr)]

    return handler


def _identity_value(m: Machine, attr: str) -> str:
    if attr == "revision":
        return m.profile.cgmr_prefix + m.profile.revision
    if attr in ("manufacturer", "model"):
        return getattr(m.profile, attr)
    return getattr(m.identity, attr)


# Every vendor's ICCID command; a profile answers only its own (machine checks).
ICCID_COMMANDS = ("+CCID", "+ICCID", "+CICCID", "^ICCID", "+QCCID")


def _iccid(m: Machine, op: str, args: str) -> list[str]:
    if op in ("test", "set"):
        return []
    m.require_sim()
    iccid = m.identity.iccid
    return [m.profile.iccid_format.format(iccid=iccid, iccid_swapped=swapped_iccid(iccid))]


def _cnum(m: Machine, op: str, args: str) -> list[str]:
    if op == "test":
        return []
    m.require_sim()
    if not m.number:
        return []
    return [f'+CNUM: "","{m.number}",{number_type(m.number)}']


def _cpin(m: Machine, op: str, args: str) -> Reply | list[str]:
    if op == "test":
        return []
    if not m.sim_present:
        raise AtError("CME", 10)
    if op == "read":
        return Reply([f"+CPIN: {m.cpin_state}"], final="OK" if m.profile.cpin_final_ok else None)
    if op != "set":
        raise AtError("ERROR")
    values = params(args)
    if m.pin_ok:
        raise AtError("CME", 3)
    if m.pin_tries > 0:
        if values[0] != m.pin:
            m.pin_tries -= 1
            raise AtError("CME", 16)
    else:
        if values[0] != PUK or len(values) < 2 or not values[1]:
            raise AtError("CME", 16)
        m.pin = values[1]
    m.pin_ok = True
    m.pin_tries = 3
    m.after(0, m.sim_unlocked)
    return []


def _cmee(m: Machine, op: str, args: str) -> list[str]:
    if op == "read":
        return [f"+CMEE: {m.cmee}"]
    if op == "test":
        return ["+CMEE: (0-2)"]
    m.cmee = int_param(args or "0", 0, 2)
    return []


def _csq(m: Machine, op: str, args: str) -> list[str]:
    if op == "test":
        return ["+CSQ: (0-31,99),(0-7,99)"]
    return [f"+CSQ: {m.rssi},99"]


def registration_line(m: Machine, name: str, *, urc: bool = False) -> str:
    """``+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]`` in the profile's shape; URCs drop <n>."""
    n = m.reg_urc[name]
    stat = m.registration
    fields = [] if urc else [str(n)]
    fields.append(str(stat))
    if n == 2 and stat in (1, 5):
        lac, ci = m.identity.lac, m.identity.ci
        if m.profile.creg_style == "hex":
            fields += [f"{lac:X}", f"{ci:X}"]  # Huawei: unquoted, unpadded hex
        else:
            fields += [f'"{lac:04X}"', f'"{ci:08X}"']
            if m.profile.creg_style == "quoted_act" or name == "+CEREG":
                fields.append(str(m.profile.act))
    return f"{name}: " + ",".join(fields)


def _reg_handler(name: str):  # type: ignore[no-untyped-def]
    """The handler of AT+CREG / +CGREG / +CEREG (handlers are not told their own name)."""

    def handler(m: Machine, op: str, args: str) -> list[str]:
        if name == "+CEREG" and not m.profile.has_cereg:
            raise AtError("RAW", m.profile.unknown_final)
        if op == "read":
            return [registration_line(m, name)]
        if op == "test":
            return [f"{name}: (0-2)"]
        if op == "set":
            m.reg_urc[name] = int_param(args, 0, 2)
            return []
        raise AtError("ERROR")

    return handler


def network_changed(m: Machine, before: tuple[int, int]) -> None:
    """Emit the registration URCs a change from ``before`` = (stat, rssi) calls for."""
    if m.registration != before[0]:
        for name, n in m.reg_urc.items():
            if n and (name != "+CEREG" or m.profile.has_cereg):
                m.urc(registration_line(m, name, urc=True))
        m.after(0, m.sms.flush_network)  # the network hands over what it held


def _cops(m: Machine, op: str, args: str) -> list[str]:
    if op == "read":
        if not m.registered:
            return ["+COPS: 0"]
        return [f'+COPS: 0,0,"{m.operator}",{m.profile.act}']
    if op == "test":
        code = m.identity.mccmnc
        return [f'+COPS: (2,"{m.operator}","{m.operator[:8]}","{code}",{m.profile.act}),,(0-4),(0-2)']
    return []


def _cfun(m: Machine, op: str, args: str) -> Reply | list[str]:
    if op == "read":
        return [m.fmt(m.profile.cfun_query)]
    if op == "test":
        return ["+CFUN: (0,1,4),(0-1)"]
    if op != "set":
        raise AtError("ERROR")
    values = params(args)
    level = int_param(values[0], 0, 4)
    if level not in (0, 1, 4):
        raise AtError("CME", 4)
    if len(values) > 1 and values[1] and int_param(values[1], 0, 1) == 1:
        return Reply(then=m.reboot)  # OK first, then the modem restarts
    before = (m.registration, m.rssi)
    m.cfun = level
    network_changed(m, before)
    return []


def _cscs(m: Machine, op: str, args: str) -> list[str]:
    if op == "read":
        return [f'+CSCS: "{m.cscs}"']
    if op == "test":
        return ['+CSCS: ("IRA","GSM","UCS2")']
    charset = params(args)[0].upper()
    if charset not in ("IRA", "GSM", "UCS2"):
        raise AtError("CME", 4)
    m.cscs = charset
    return []


def _flag(attr: str, read: str):  # type: ignore[no-untyped-def]
    """A 0/1 setting handler (AT+CLIP, AT+CRC, AT^CURC...) answering ``read`` to '?'."""

    def handler(m: Machine, op: str, args: str) -> list[str]:
        if op == "read":
            return [read.format(int(getattr(m, attr)))]
        if op == "test":
            return []
        setattr(m, attr, int_param(params(args)[0] or "0", 0, 1) == 1)
        return []

    return handler


def _cclk(m: Machine, op: str, args: str) -> list[str]:
    if op != "read":
        return []
    now = m.settings.wallclock()
    offset = now.utcoffset()
    quarters = int(offset.total_seconds() // 900) if offset is not None else 0
    return [f'+CCLK: "{now:%y/%m/%d,%H:%M:%S}{quarters:+03d}"']


HANDLERS = {
    "E": _echo,
    "V": _verbose,
    "Q": _quiet,
    "Z": _factory,
    "&F": _factory,
    "&C": _ok,
    "&D": _ok,
    "&W": _ok,
    "X": _ok,
    "L": _ok,
    "M": _ok,
    "S": _sreg,
    "I": _info,
    "+IPR": _ok,
    "+IFC": _ok,
    "+CGMI": _fixed("manufacturer"),
    "+GMI": _fixed("manufacturer"),
    "+CGMM": _fixed("model"),
    "+GMM": _fixed("model"),
    "+CGMR": _fixed("revision"),
    "+GMR": _fixed("revision"),
    "+CGSN": _fixed("imei"),
    "+GSN": _fixed("imei"),
    "+CIMI": _fixed("imsi", sim=True),
    **{name: _iccid for name in ICCID_COMMANDS},
    "+CNUM": _cnum,
    "+CPIN": _cpin,
    "+CMEE": _cmee,
    "+CSQ": _csq,
    "+CREG": _reg_handler("+CREG"),
    "+CGREG": _reg_handler("+CGREG"),
    "+CEREG": _reg_handler("+CEREG"),
    "+COPS": _cops,
    "+CFUN": _cfun,
    "+CSCS": _cscs,
    "+CLIP": _flag("clip", "+CLIP: {},1"),
    "+CRC": _flag("crc", "+CRC: {}"),
    "^CURC": _flag("curc", "^CURC: {}"),
    "^USSDMODE": _flag("ussd_packed", "^USSDMODE: {}"),
    "+CCLK": _cclk,
}
