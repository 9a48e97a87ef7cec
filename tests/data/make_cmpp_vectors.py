"""Regenerate cmpp_vectors.json from the third-party CMPP clients on PyPI (not project
dependencies): run with a Python that has ``pip install cmppy==0.3 pycmpp==2.0.2``.

    python tests/data/make_cmpp_vectors.py > tests/data/cmpp_vectors.json

Their clock is pinned (Timestamp 0102030405) so that the bytes are stable."""

import json
import sys
from importlib.metadata import version

import cmppy.request as cmppy_request
import pycmpp.request as pycmpp_request

TIME = "0102030405"
sys.modules["cmppy.request.ConnectReq"]._get_strtime = lambda: TIME
pycmpp_request.get_string_time = lambda: TIME

vectors = []


def add(name, package, cmpp_version, frame, **expect):
    vectors.append({"name": name, "made_by": f"{package} {version(package)}", "cmpp_version": cmpp_version,
                    "hex": frame.hex(), "expect": expect})


connect = cmppy_request.ConnectReq("901234", "s3cret")
add("cmppy connect (3.0)", "cmppy", "3.0", connect.message, source_addr="901234", secret="s3cret",
    version=0x30, timestamp=int(TIME))
submit = cmppy_request.SubmitReq("901234", "你好，世界", src_id="1065012345", dest_terminal_id=["13800138000"],
                                 service_id="TEST", feecode="000000", linkid="LINK1")
add("cmppy submit (3.0, UCS2)", "cmppy", "3.0", submit.message, msg_fmt=8, text="你好，世界",
    src_id="1065012345", dest_terminal_ids=["13800138000"], service_id="TEST", link_id="LINK1", msg_src="901234",
    fee_code="000000", fee_usertype=2)
submit = cmppy_request.SubmitReq("901234", "hi", src_id="1065012345",
                                 dest_terminal_id=["13800138000", "13900139000"], service_id="TEST")
add("cmppy submit (3.0, two destinations)", "cmppy", "3.0", submit.message, msg_fmt=8, text="hi",
    src_id="1065012345", dest_terminal_ids=["13800138000", "13900139000"], service_id="TEST", link_id="",
    msg_src="901234", fee_code="103013", fee_usertype=2)
add("cmppy terminate", "cmppy", "both", cmppy_request.TerminateReq().message)

add("pycmpp connect (2.0, Version 0x21)", "pycmpp", "2.0",
    pycmpp_request.ConnectRequestInstance().create("300250", "300250"), source_addr="300250", secret="300250",
    version=0x21, timestamp=int(TIME))
add("pycmpp submit (2.0, UCS2)", "pycmpp", "2.0",
    pycmpp_request.SubmitRequestInstance().create("300250", "测试短信", ["15059171009"], src_id="10658300250"),
    msg_fmt=8, text="测试短信", src_id="10658300250", dest_terminal_ids=["15059171009"], service_id="",
    link_id="", msg_src="300250", fee_code="000000", fee_usertype=2)
head = bytes([5, 0, 3, 0x42, 2, 1])
add("pycmpp submit (2.0, long message part 1 of 2, TP_udhi)", "pycmpp", "2.0",
    pycmpp_request.SubmitRequestInstance().create("300250", "第一部分", ["15059171009"], msg_head=head,
                                                  src_id="10658300250", pk_total=2, pk_number=1, tp_pid=1,
                                                  tp_udhi=1),
    msg_fmt=8, text="第一部分", src_id="10658300250", dest_terminal_ids=["15059171009"], service_id="",
    link_id="", msg_src="300250", fee_code="000000", fee_usertype=2, concat=[0x42, 2, 1])
add("pycmpp active test", "pycmpp", "2.0", pycmpp_request.ActiveTestRequestInstance().create())
add("pycmpp terminate", "pycmpp", "2.0", pycmpp_request.TerminateRequestInstance().create())

print(json.dumps(vectors, ensure_ascii=False, indent=1))
