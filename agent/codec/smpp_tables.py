"""The numbers of SMPP 3.4 (re-exported by :mod:`agent.codec.smpp`): command ids,
command statuses, TLV tags, message states, and the body layout of every command.

A layout is the command's mandatory parameters in wire order, each as
(name, size): size 1 is an integer octet, a larger size is a C-octet string of
at most that many octets including its NUL. Three names stand for groups:
'sm_length' (sm_length, then that many octets of short_message),
'dest_addresses' (submit_multi's number_of_dests and destination list) and
'unsuccess_smes' (submit_multi_resp's no_unsuccess and unsuccessful SMEs).
"""

from __future__ import annotations

# --- command ids (SMPP 3.4 5.1.2.1) ----------------------------------------------------------------

RESP_BIT = 0x80000000
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
QUERY_SM = 0x00000003
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
REPLACE_SM = 0x00000007
CANCEL_SM = 0x00000008
BIND_TRANSCEIVER = 0x00000009
OUTBIND = 0x0000000B
ENQUIRE_LINK = 0x00000015
SUBMIT_MULTI = 0x00000021
ALERT_NOTIFICATION = 0x00000102
DATA_SM = 0x00000103
BIND_RECEIVER_RESP = BIND_RECEIVER | RESP_BIT
BIND_TRANSMITTER_RESP = BIND_TRANSMITTER | RESP_BIT
QUERY_SM_RESP = QUERY_SM | RESP_BIT
SUBMIT_SM_RESP = SUBMIT_SM | RESP_BIT
DELIVER_SM_RESP = DELIVER_SM | RESP_BIT
UNBIND_RESP = UNBIND | RESP_BIT
REPLACE_SM_RESP = REPLACE_SM | RESP_BIT
CANCEL_SM_RESP = CANCEL_SM | RESP_BIT
BIND_TRANSCEIVER_RESP = BIND_TRANSCEIVER | RESP_BIT
ENQUIRE_LINK_RESP = ENQUIRE_LINK | RESP_BIT
SUBMIT_MULTI_RESP = SUBMIT_MULTI | RESP_BIT
DATA_SM_RESP = DATA_SM | RESP_BIT

# --- command statuses (SMPP 3.4 5.1.3; ESME_RINVDCS from SMPP 5.0) --------------------------------

ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RINVPRTFLG = 0x06
ESME_RINVREGDLVFLG = 0x07
ESME_RSYSERR = 0x08
ESME_RINVSRCADR = 0x0A
ESME_RINVDSTADR = 0x0B
ESME_RINVMSGID = 0x0C
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RCANCELFAIL = 0x11
ESME_RREPLACEFAIL = 0x13
ESME_RMSGQFUL = 0x14
ESME_RINVSERTYP = 0x15
ESME_RINVNUMDESTS = 0x33
ESME_RINVDLNAME = 0x34
ESME_RINVDESTFLAG = 0x40
ESME_RINVSUBREP = 0x42
ESME_RINVESMCLASS = 0x43
ESME_RCNTSUBDL = 0x44
ESME_RSUBMITFAIL = 0x45
ESME_RINVSRCTON = 0x48
ESME_RINVSRCNPI = 0x49
ESME_RINVDSTTON = 0x50
ESME_RINVDSTNPI = 0x51
ESME_RINVSYSTYP = 0x53
ESME_RINVREPFLAG = 0x54
ESME_RINVNUMMSGS = 0x55
ESME_RTHROTTLED = 0x58
ESME_RINVSCHED = 0x61
ESME_RINVEXPIRY = 0x62
ESME_RINVDFTMSGID = 0x63
ESME_RX_T_APPN = 0x64
ESME_RX_P_APPN = 0x65
ESME_RX_R_APPN = 0x66
ESME_RQUERYFAIL = 0x67
ESME_RINVOPTPARSTREAM = 0xC0
ESME_ROPTPARNOTALLWD = 0xC1
ESME_RINVPARLEN = 0xC2
ESME_RMISSINGOPTPARAM = 0xC3
ESME_RINVOPTPARAMVAL = 0xC4
ESME_RDELIVERYFAILURE = 0xFE
ESME_RUNKNOWNERR = 0xFF
ESME_RINVDCS = 0x104

# --- TLV tags (SMPP 3.4 5.3.2) ---------------------------------------------------------------------

DEST_ADDR_SUBUNIT = 0x0005
DEST_NETWORK_TYPE = 0x0006
DEST_BEARER_TYPE = 0x0007
DEST_TELEMATICS_ID = 0x0008
SOURCE_ADDR_SUBUNIT = 0x000D
SOURCE_NETWORK_TYPE = 0x000E
SOURCE_BEARER_TYPE = 0x000F
SOURCE_TELEMATICS_ID = 0x0010
QOS_TIME_TO_LIVE = 0x0017
PAYLOAD_TYPE = 0x0019
ADDITIONAL_STATUS_INFO_TEXT = 0x001D
RECEIPTED_MESSAGE_ID = 0x001E
MS_MSG_WAIT_FACILITIES = 0x0030
PRIVACY_INDICATOR = 0x0201
SOURCE_SUBADDRESS = 0x0202
DEST_SUBADDRESS = 0x0203
USER_MESSAGE_REFERENCE = 0x0204
USER_RESPONSE_CODE = 0x0205
SOURCE_PORT = 0x020A
DESTINATION_PORT = 0x020B
SAR_MSG_REF_NUM = 0x020C
LANGUAGE_INDICATOR = 0x020D
SAR_TOTAL_SEGMENTS = 0x020E
SAR_SEGMENT_SEQNUM = 0x020F
SC_INTERFACE_VERSION = 0x0210
CALLBACK_NUM_PRES_IND = 0x0302
CALLBACK_NUM_ATAG = 0x0303
NUMBER_OF_MESSAGES = 0x0304
CALLBACK_NUM = 0x0381
DPF_RESULT = 0x0420
SET_DPF = 0x0421
MS_AVAILABILITY_STATUS = 0x0422
NETWORK_ERROR_CODE = 0x0423
MESSAGE_PAYLOAD = 0x0424
DELIVERY_FAILURE_REASON = 0x0425
MORE_MESSAGES_TO_SEND = 0x0426
MESSAGE_STATE = 0x0427
USSD_SERVICE_OP = 0x0501
DISPLAY_TIME = 0x1201
SMS_SIGNAL = 0x1203
MS_VALIDITY = 0x1204
ALERT_ON_MESSAGE_DELIVERY = 0x130C
ITS_REPLY_TYPE = 0x1380
ITS_SESSION_INFO = 0x1383

# The TLVs of a fixed size: decode refuses another size, encode sizes int values by them.
TLV_WIDTHS: dict[int, int] = {
    DEST_ADDR_SUBUNIT: 1, DEST_NETWORK_TYPE: 1, DEST_BEARER_TYPE: 1, DEST_TELEMATICS_ID: 2,
    SOURCE_ADDR_SUBUNIT: 1, SOURCE_NETWORK_TYPE: 1, SOURCE_BEARER_TYPE: 1, SOURCE_TELEMATICS_ID: 1,
    QOS_TIME_TO_LIVE: 4, PAYLOAD_TYPE: 1, MS_MSG_WAIT_FACILITIES: 1, PRIVACY_INDICATOR: 1,
    USER_MESSAGE_REFERENCE: 2, USER_RESPONSE_CODE: 1, SOURCE_PORT: 2, DESTINATION_PORT: 2, SAR_MSG_REF_NUM: 2,
    LANGUAGE_INDICATOR: 1, SAR_TOTAL_SEGMENTS: 1, SAR_SEGMENT_SEQNUM: 1, SC_INTERFACE_VERSION: 1,
    CALLBACK_NUM_PRES_IND: 1, NUMBER_OF_MESSAGES: 1, DPF_RESULT: 1, SET_DPF: 1, MS_AVAILABILITY_STATUS: 1,
    NETWORK_ERROR_CODE: 3, DELIVERY_FAILURE_REASON: 1, MORE_MESSAGES_TO_SEND: 1, MESSAGE_STATE: 1,
    USSD_SERVICE_OP: 1, DISPLAY_TIME: 1, SMS_SIGNAL: 2, MS_VALIDITY: 1, ALERT_ON_MESSAGE_DELIVERY: 0,
    ITS_REPLY_TYPE: 1, ITS_SESSION_INFO: 2,
}
# The TLVs that are C-octet strings (a str value is written NUL-terminated).
TLV_CSTRINGS = frozenset({ADDITIONAL_STATUS_INFO_TEXT, RECEIPTED_MESSAGE_ID})

# --- message_state values (SMPP 3.4 5.2.28) --------------------------------------------------------

ENROUTE = 1
DELIVERED = 2
EXPIRED = 3
DELETED = 4
UNDELIVERABLE = 5
ACCEPTED = 6
UNKNOWN = 7
REJECTED = 8
# message_state -> the 'stat:' word of a delivery receipt (SMPP 3.4 appendix B)
RECEIPT_STAT = {ENROUTE: "ENROUTE", DELIVERED: "DELIVRD", EXPIRED: "EXPIRED", DELETED: "DELETED",
                UNDELIVERABLE: "UNDELIV", ACCEPTED: "ACCEPTD", UNKNOWN: "UNKNOWN", REJECTED: "REJECTD"}

# --- body layouts ----------------------------------------------------------------------------------

_BIND = (("system_id", 16), ("password", 9), ("system_type", 13), ("interface_version", 1), ("addr_ton", 1),
         ("addr_npi", 1), ("address_range", 41))
_SOURCE = (("source_addr_ton", 1), ("source_addr_npi", 1), ("source_addr", 21))
_DEST = (("dest_addr_ton", 1), ("dest_addr_npi", 1), ("destination_addr", 21))
_MESSAGE = (("esm_class", 1), ("protocol_id", 1), ("priority_flag", 1), ("schedule_delivery_time", 17),
            ("validity_period", 17), ("registered_delivery", 1), ("replace_if_present_flag", 1),
            ("data_coding", 1), ("sm_default_msg_id", 1), ("sm_length", 1))
_SM = (("service_type", 6),) + _SOURCE + _DEST + _MESSAGE
_MESSAGE_ID = (("message_id", 65),)

LAYOUTS: dict[int, tuple[tuple[str, int], ...]] = {
    GENERIC_NACK: (),
    BIND_RECEIVER: _BIND, BIND_TRANSMITTER: _BIND, BIND_TRANSCEIVER: _BIND,
    BIND_RECEIVER_RESP: (("system_id", 16),), BIND_TRANSMITTER_RESP: (("system_id", 16),),
    BIND_TRANSCEIVER_RESP: (("system_id", 16),),
    QUERY_SM: _MESSAGE_ID + _SOURCE,
    QUERY_SM_RESP: _MESSAGE_ID + (("final_date", 17), ("message_state", 1), ("error_code", 1)),
    SUBMIT_SM: _SM, SUBMIT_SM_RESP: _MESSAGE_ID,
    DELIVER_SM: _SM, DELIVER_SM_RESP: _MESSAGE_ID,
    UNBIND: (), UNBIND_RESP: (),
    REPLACE_SM: _MESSAGE_ID + _SOURCE + (("schedule_delivery_time", 17), ("validity_period", 17),
                                         ("registered_delivery", 1), ("sm_default_msg_id", 1), ("sm_length", 1)),
    REPLACE_SM_RESP: (),
    CANCEL_SM: (("service_type", 6),) + _MESSAGE_ID + _SOURCE + _DEST,
    CANCEL_SM_RESP: (),
    OUTBIND: (("system_id", 16), ("password", 9)),
    ENQUIRE_LINK: (), ENQUIRE_LINK_RESP: (),
    SUBMIT_MULTI: (("service_type", 6),) + _SOURCE + (("dest_addresses", 1),) + _MESSAGE,
    SUBMIT_MULTI_RESP: _MESSAGE_ID + (("unsuccess_smes", 1),),
    ALERT_NOTIFICATION: (("source_addr_ton", 1), ("source_addr_npi", 1), ("source_addr", 65),
                         ("esme_addr_ton", 1), ("esme_addr_npi", 1), ("esme_addr", 65)),
    DATA_SM: (("service_type", 6), ("source_addr_ton", 1), ("source_addr_npi", 1), ("source_addr", 65),
              ("dest_addr_ton", 1), ("dest_addr_npi", 1), ("destination_addr", 65), ("esm_class", 1),
              ("registered_delivery", 1), ("data_coding", 1)),
    DATA_SM_RESP: _MESSAGE_ID,
}

_COMMANDS = ("GENERIC_NACK", "BIND_RECEIVER", "BIND_TRANSMITTER", "QUERY_SM", "SUBMIT_SM", "DELIVER_SM", "UNBIND",
             "REPLACE_SM", "CANCEL_SM", "BIND_TRANSCEIVER", "OUTBIND", "ENQUIRE_LINK", "SUBMIT_MULTI",
             "ALERT_NOTIFICATION", "DATA_SM")
NAMES: dict[int, str] = {globals()[name]: name.lower() for name in _COMMANDS}
NAMES.update({command | RESP_BIT: name + "_resp" for command, name in list(NAMES.items())
              if command | RESP_BIT in LAYOUTS and command != GENERIC_NACK})

# Responses that SMPP 3.4 sends without a body when command_status is not 0.
BODY_OMITTED_ON_ERROR = frozenset({BIND_RECEIVER_RESP, BIND_TRANSMITTER_RESP, BIND_TRANSCEIVER_RESP,
                                   QUERY_SM_RESP, SUBMIT_SM_RESP, DATA_SM_RESP})

# The status for a C-octet string parameter that is longer than its maximum.
FIELD_STATUS = {"system_id": ESME_RINVSYSID, "password": ESME_RINVPASWD, "system_type": ESME_RINVSYSTYP,
                "service_type": ESME_RINVSERTYP, "source_addr": ESME_RINVSRCADR, "destination_addr": ESME_RINVDSTADR,
                "schedule_delivery_time": ESME_RINVSCHED, "validity_period": ESME_RINVEXPIRY,
                "message_id": ESME_RINVMSGID, "dl_name": ESME_RINVDLNAME}

__all__ = [name for name in globals() if name.isupper() and not name.startswith("_")]
