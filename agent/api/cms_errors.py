"""Modem error codes in words, for people at the status page.

:func:`describe` turns a line's ``last_error`` (the text the line worker
stored, e.g. ``"'AT+CMGS=23' failed: CMS 21"``) into its code and a short
meaning.  The +CMS ERROR meanings are the table of the GoIP SMS Server
manual's appendix A (the seeds' users know it), checked against 3GPP TS
24.011 / 23.040 / 27.005; the +CME ERROR ones are TS 27.007 9.2.  Codes a
technician meets most often also have a Chinese meaning; the others show
the English one in both languages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# +CMS ERROR <err>: GoIP appendix A.  The appendix lists 312 twice ("PH-SIM PIN
# necessary" and "SIM PUK required"); TS 27.005 gives 312 to PH-SIM PIN and
# 316 to SIM PUK, so that is how they are kept here.  500 is 27.005's own.
CMS: dict[int, str] = {
    1: "Unassigned (unallocated) number", 8: "Operator determined barring", 10: "Call barred",
    17: "Network failure", 21: "Short message transfer rejected", 22: "Memory capacity exceeded",
    27: "Destination out of service", 28: "Unidentified subscriber", 29: "Facility rejected",
    30: "Unknown subscriber", 38: "Network out of order", 41: "Temporary failure", 42: "Congestion",
    47: "Resources unavailable, unspecified", 50: "Requested facility not subscribed",
    69: "Requested facility not implemented", 81: "Invalid short message reference value",
    95: "Invalid message, unspecified", 96: "Invalid mandatory information",
    97: "Message type non-existent or not implemented",
    98: "Message not compatible with short message protocol state",
    99: "Information element non-existent or not implemented", 111: "Protocol error, unspecified",
    127: "Interworking unspecified", 128: "Telematic interworking not supported",
    129: "Short message type 0 not supported", 130: "Cannot replace short message",
    143: "Unspecified TP-PID error", 144: "Data coding scheme (alphabet) not supported",
    145: "Message class not supported", 159: "Unspecified TP-DCS error", 160: "Command cannot be actioned",
    161: "Command unsupported", 175: "Unspecified TP-Command error", 176: "TPDU not supported",
    192: "SC busy", 193: "No SC subscription", 194: "SC system failure", 195: "Invalid SME address",
    196: "Destination SME barred", 197: "SM Rejected-Duplicate SM", 198: "TP-VPF not supported",
    199: "TP-VP not supported", 208: "SIM SMS storage full", 209: "No SMS storage capability in SIM",
    210: "Error in MS", 211: "Memory Capacity Exceeded", 212: "SIM Application Toolkit Busy",
    213: "SIM data download error", 224: "TP_FCS_APPL_ERR_START", 254: "TP_FCS_APPL_ERR_STOP",
    255: "TP_FCS_UNSPECIFIED", 300: "ME failure", 301: "SMS service of ME reserved",
    302: "operation not allowed", 303: "operation not supported", 304: "invalid PDU mode parameter",
    305: "invalid text mode parameter", 310: "SIM not inserted", 311: "SIM PIN required",
    312: "PH-SIM PIN necessary", 313: "SIM failure", 314: "SIM busy", 315: "SIM wrong",
    316: "SIM PUK required", 317: "SIM PIN2 required", 318: "SIM PUK2 required", 319: "incorrect PUK1",
    320: "memory failure", 321: "invalid memory index", 322: "memory full", 330: "SMSC address unknown",
    331: "no network service", 332: "network timeout", 340: "no +CNMA acknowledgement expected",
    500: "unknown error", 512: "MN_SMS_RP_ACK", 513: "MN_SMS_TIMER_EXPIRED", 514: "MN_SMS_FORW_AVAIL_FAILED",
    515: "MN_SMS_FORW_AVAIL_ABORTED", 516: "MS invalid TP-Message-Type-Indicator",
    517: "MS no TP-Status-Report in Phase 1", 518: "MS no TP-Reject-Duplicate in Phase 1",
    519: "MS no TP-Reply-Path in Phase 1", 520: "MS no TP-User-Data-Header in Phase 1",
    521: "MS missing TP-Validity-Period", 522: "MS invalid TP-Service-Centre-Time-Stamp",
    523: "MS missing TP-Destination-Address", 524: "MS invalid TP-Destination-Address",
    525: "MS missing Service-Centre-Address", 526: "MS invalid Service-Centre-Address",
    527: "MS invalid alphabet", 528: "MS invalid TP-User-Data-Length", 529: "MS missing TP-User-Data",
    530: "MS TP-User-Data too long", 531: "MS no Command-Request in Phase 1",
    532: "MS Cmd-Req invalid TP-Destination-Address", 533: "MS Cmd-Req invalid TP-User-Data-Length",
    534: "MS Cmd-Req invalid TP-User-Data", 535: "MS Cmd-Req invalid TP-Command-Type",
    536: "MN MNR creation failed", 537: "MS CMM creation failed", 538: "MS network connection lost",
    539: "MS pending MO SM transfer", 540: "RP-Error OK", 541: "RP-Error OK no icon display",
    542: "SMS-PP Unspecified",
}

# +CME ERROR <err>: TS 27.007 9.2 (the codes modems answer to SMS set-up commands).
CME: dict[int, str] = {
    0: "phone failure", 1: "no connection to phone", 3: "operation not allowed", 4: "operation not supported",
    5: "PH-SIM PIN required", 10: "SIM not inserted", 11: "SIM PIN required", 12: "SIM PUK required",
    13: "SIM failure", 14: "SIM busy", 15: "SIM wrong", 16: "incorrect password", 17: "SIM PIN2 required",
    18: "SIM PUK2 required", 20: "memory full", 21: "invalid index", 22: "not found", 23: "memory failure",
    24: "text string too long", 25: "invalid characters in text string", 26: "dial string too long",
    27: "invalid characters in dial string", 30: "no network service", 31: "network timeout",
    32: "network not allowed - emergency calls only", 100: "unknown", 515: "device busy",
}

# Chinese for the codes seen most in the field; the rest keep the English words.
CMS_ZH: dict[int, str] = {
    1: "号码不存在", 8: "运营商禁止", 10: "呼叫被禁止", 17: "网络故障", 21: "短信被拒收", 22: "存储已满",
    27: "目标号码不在服务区", 28: "用户不明", 29: "业务被拒绝", 30: "未知用户", 38: "网络不可用",
    41: "临时故障", 42: "网络拥塞", 47: "资源不可用", 50: "未开通短信业务", 69: "业务未实现",
    96: "必要信息无效", 111: "协议错误", 127: "互通错误", 192: "短信中心忙", 193: "未签约短信中心",
    194: "短信中心系统故障", 195: "号码无效", 196: "目标号码被禁止", 208: "SIM 卡短信存储已满",
    300: "模块故障", 302: "操作不允许", 303: "操作不支持", 304: "PDU 参数无效", 310: "未插入 SIM 卡",
    311: "需要 SIM 卡 PIN 码", 313: "SIM 卡故障", 314: "SIM 卡忙", 315: "SIM 卡错误", 316: "需要 PUK 码",
    322: "存储已满", 330: "短信中心号码未知", 331: "无网络服务", 332: "网络超时", 500: "未知错误",
    512: "网络确认超时", 513: "发送超时", 538: "网络连接中断",
}
CME_ZH: dict[int, str] = {
    0: "模块故障", 3: "操作不允许", 4: "操作不支持", 10: "未插入 SIM 卡", 11: "需要 SIM 卡 PIN 码",
    12: "需要 PUK 码", 13: "SIM 卡故障", 14: "SIM 卡忙", 15: "SIM 卡错误", 16: "密码错误", 20: "存储已满",
    30: "无网络服务", 31: "网络超时", 32: "仅限紧急呼叫", 100: "未知错误", 515: "设备忙",
}

# How the worker words errors without a code (agent/modem/worker.py, channel.py).
_PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"no final result within", re.I), "the modem did not answer in time", "模块未及时应答"),
    (re.compile(r"port lost|No such file|EIO|device disconnected", re.I), "the USB port went away",
     "USB 端口断开"),
    (re.compile(r"modem not answering", re.I), "the modem does not answer", "模块无应答"),
    (re.compile(r"SIM not inserted|NOT INSERTED", re.I), "SIM not inserted", "未插入 SIM 卡"),
    (re.compile(r"SIM PIN", re.I), "SIM PIN required", "需要 SIM 卡 PIN 码"),
    (re.compile(r"SIM PUK", re.I), "SIM PUK required", "需要 PUK 码"),
)
_CODED = re.compile(r"\b(CMS|CME)(?: ERROR:?)? (\d{1,4})\b")


@dataclass(frozen=True)
class ErrorWords:
    """What a stored error means: ``kind`` 'CMS', 'CME' or '' (no code), ``code``
    the number or None, ``meaning`` words for people, ``raw`` the stored text."""

    kind: str
    code: int | None
    meaning: str
    raw: str


def meaning(kind: str, code: int, language: str = "en") -> str:
    """Given 'CMS' or 'CME' and a code, return its meaning in ``language`` ('en'
    or 'zh'), or ``"unknown error <code>"`` for a code no table knows."""
    table, table_zh = (CMS, CMS_ZH) if kind == "CMS" else (CME, CME_ZH)
    if language == "zh" and code in table_zh:
        return table_zh[code]
    if code in table:
        return table[code]
    return f"未知错误 {code}" if language == "zh" else f"unknown error {code}"


def describe(error: str, language: str = "en") -> ErrorWords | None:
    """Given a line's ``last_error`` text ('' or None: no error), return its
    :class:`ErrorWords`: the CMS/CME code's meaning when the text carries one,
    else plain words for the worker's usual failures, else the text itself."""
    if not error:
        return None
    match = _CODED.search(error)
    if match:
        kind, code = match.group(1), int(match.group(2))
        return ErrorWords(kind, code, meaning(kind, code, language), error)
    for pattern, en, zh in _PATTERNS:
        if pattern.search(error):
            return ErrorWords("", None, zh if language == "zh" else en, error)
    return ErrorWords("", None, error, error)
