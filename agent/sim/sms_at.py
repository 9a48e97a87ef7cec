"""AT handlers of the simulated modem's SMS service (3GPP TS 27.005, PDU mode only).

See :mod:`.replies` for the handler contract.  Storage and sending live in
:mod:`.sms`; these functions only parse arguments and shape the answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .replies import AtError, Reply, int_param, number_type, params
from .sms import tpdu_length

if TYPE_CHECKING:
    from .machine import Machine

# Every memory name is accepted and maps to the one simulated SIM storage.
_MEMORIES = frozenset({"SM", "ME", "MT", "SR"})
# AT+CMGD delete flags -> the stats they remove (flag 0 deletes the given index), 27.005 3.5.4:
# 1 read, 2 read and sent (STO SENT), 3 read, sent and unsent (STO UNSENT), 4 all.
_CMGD_FLAG_STATS = {1: {1}, 2: {1, 3}, 3: {1, 2, 3}, 4: {0, 1, 2, 3}}


def _cmgf(m: Machine, op: str, args: str) -> list[str]:
    m.check_sim_busy()
    if op == "read":
        return ["+CMGF: 0"]
    if op == "test":
        return ["+CMGF: (0-1)"]
    if op == "set" and args.strip() == "0":
        return []
    raise AtError("ERROR")  # text mode is not offered: this gateway speaks PDU only


def _csca(m: Machine, op: str, args: str) -> list[str]:
    m.check_sim_busy()
    m.require_sim("CMS")
    if op == "read":
        return [f'+CSCA: "{m.csca}",{number_type(m.csca)}']
    if op == "set":
        number = params(args)[0]
        if not number:
            raise AtError("ERROR")
        m.csca = number
        return []
    if op == "test":
        return []
    raise AtError("ERROR")


def _cpms(m: Machine, op: str, args: str) -> list[str]:
    m.check_sim_busy()
    if op == "test":
        return [m.profile.cpms_test]
    m.require_sim("CMS")
    used, total = len(m.sms.storage), m.profile.capacity
    if op == "read":
        return ["+CPMS: " + ",".join(f'"{mem}",{used},{total}' for mem in m.sms.memories)]
    if op != "set":
        raise AtError("ERROR")
    names = [p.upper() for p in params(args)]
    if not 1 <= len(names) <= 3 or not all(n in _MEMORIES for n in names):
        raise AtError("CMS", 302)
    m.sms.memories[: len(names)] = names
    return ["+CPMS: " + ",".join(f"{used},{total}" for _ in range(3))]


def _cnmi(m: Machine, op: str, args: str) -> list[str]:
    if op == "read":
        return ["+CNMI: " + ",".join(map(str, m.cnmi))]
    if op == "test":
        return [m.profile.cnmi_test]
    if op != "set":
        raise AtError("ERROR")
    values = params(args)
    limits = (3, 3, 3, 2, 1)
    if len(values) > 5:
        raise AtError("ERROR")
    new = list(m.cnmi)
    for pos, value in enumerate(values):
        if value != "":
            new[pos] = int_param(value, 0, limits[pos])
    m.cnmi = new
    m.after(0, m.sms.flush_network)  # held messages follow the OK, not precede it
    return []


def _csmp(m: Machine, op: str, args: str) -> list[str]:
    if op == "read":
        return [f"+CSMP: {m.csmp}"]
    if op == "set":
        m.csmp = args.strip()
        return []
    if op == "test":
        return []
    raise AtError("ERROR")


def _csms(m: Machine, op: str, args: str) -> list[str]:
    if op == "read":
        return ["+CSMS: 0,1,1,1"]
    if op == "set":
        int_param(args, 0, 1)
        return ["+CSMS: 1,1,1"]
    if op == "test":
        return ["+CSMS: (0-1)"]
    raise AtError("ERROR")


def _cnma(m: Machine, op: str, args: str) -> list[str]:
    return []  # +CMT acknowledgement: nothing to do, the simulated SMSC never retransmits


def _cmgs(m: Machine, op: str, args: str) -> Reply | list[str]:
    if op == "test":
        return []
    if op != "set":
        raise AtError("ERROR")
    try:
        length = int(args.strip())
    except ValueError:
        raise AtError("CMS", 304) from None  # a quoted number: text-mode syntax in PDU mode
    m.require_sim("CMS")
    if not 7 <= length <= 164:
        raise AtError("CMS", 304)
    m.sms.expected_length = length
    m.sms.write_stat = None
    return Reply(prompt=True, final=None)


def _cmgw(m: Machine, op: str, args: str) -> Reply | list[str]:
    """``AT+CMGW=<length>[,<stat>]``: the prompt, then the PDU is stored (stat default 2, STO UNSENT)."""
    if op == "test":
        return []
    if op not in ("set", "exec"):
        raise AtError("ERROR")
    values = params(args)
    try:
        length = int(values[0])
        stat = int(values[1]) if len(values) > 1 and values[1] else 2
    except ValueError:
        raise AtError("CMS", 304) from None  # no length (exec) or text-mode syntax
    m.require_sim("CMS")
    if not 7 <= length <= 176 or not 0 <= stat <= 3 or len(values) > 2:
        raise AtError("CMS", 304)
    m.sms.expected_length = length
    m.sms.write_stat = stat
    return Reply(prompt=True, final=None)


def _cmss(m: Machine, op: str, args: str) -> Reply | list[str]:
    """``AT+CMSS=<index>[,<da>[,<toda>]]``: send a stored SMS-SUBMIT; +CMSS: <mr> after the send delay."""
    if op == "test":
        return []
    if op != "set":
        raise AtError("ERROR")
    m.require_sim("CMS")
    values = params(args)
    index = _index(m, values[0])
    m.sms.send_stored(index, values[1] if len(values) > 1 and values[1] else None)
    return Reply(final=None)  # the answer follows the send delay


def _index(m: Machine, value: str) -> int:
    index = int_param(value, -1, 10**6)
    if not m.sms.first <= index <= m.sms.last:
        raise AtError("CMS", 321)
    return index


def _cmgr(m: Machine, op: str, args: str) -> list[str]:
    if op == "test":
        return []
    if op != "set":
        raise AtError("ERROR")
    m.require_sim("CMS")
    index = _index(m, params(args)[0])
    slot = m.sms.storage.get(index)
    if slot is None:
        return []  # an empty slot reads as a bare OK (SIMCom, Quectel)
    if slot.stat == 0:
        m.sms.storage[index] = slot._replace(stat=1)
    header = m.profile.cmgr_header.format(stat=slot.stat, length=tpdu_length(slot.pdu))
    return [f"+CMGR: {header}", slot.pdu]


def _cmgl(m: Machine, op: str, args: str) -> list[str]:
    if op == "test":
        return ["+CMGL: (0-4)"]
    if op not in ("set", "exec"):
        raise AtError("ERROR")
    wanted = int_param(args.strip() or "0", 0, 4)  # '"ALL"' (text mode) is an ERROR in PDU mode
    m.require_sim("CMS")
    lines = []
    for index in sorted(m.sms.storage):
        slot = m.sms.storage[index]
        if wanted != 4 and slot.stat != wanted:
            continue
        header = m.profile.cmgl_header.format(index=index, stat=slot.stat, length=tpdu_length(slot.pdu))
        lines += [f"+CMGL: {header}", slot.pdu]
        if slot.stat == 0:
            m.sms.storage[index] = slot._replace(stat=1)
    return lines


def _cmgd(m: Machine, op: str, args: str) -> list[str]:
    if op == "test":
        return [f"+CMGD: ({m.sms.first}-{m.sms.last}),(0-4)"]
    if op != "set":
        raise AtError("ERROR")
    m.require_sim("CMS")
    values = params(args)
    flag = int_param(values[1], 0, 4) if len(values) > 1 and values[1] else 0
    if flag == 0:
        m.sms.storage.pop(_index(m, values[0]), None)
    else:
        stats = _CMGD_FLAG_STATS[flag]
        for index in [i for i, slot in m.sms.storage.items() if slot.stat in stats]:
            del m.sms.storage[index]
    m.after(0, m.sms.flush_network)  # freed slots let held messages in, after the OK
    return []


HANDLERS = {
    "+CMGF": _cmgf,
    "+CSCA": _csca,
    "+CPMS": _cpms,
    "+CNMI": _cnmi,
    "+CSMP": _csmp,
    "+CSMS": _csms,
    "+CNMA": _cnma,
    "+CMGS": _cmgs,
    "+CMGW": _cmgw,
    "+CMSS": _cmss,
    "+CMGR": _cmgr,
    "+CMGL": _cmgl,
    "+CMGD": _cmgd,
}
