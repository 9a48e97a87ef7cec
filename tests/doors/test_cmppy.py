"""A third-party CMPP 3.0 client against the CMPP door: cmppy (PyPI), which connects,
submits UCS2 text, reads the response and terminates on its own."""

from __future__ import annotations

import pytest

cmppy = pytest.importorskip("cmppy")
from cmppy.request import SubmitReq  # noqa: E402

from agent.doors.ids import cmpp_task  # noqa: E402

from ..waiting import wait_until  # noqa: E402


def test_cmppy_submits_over_cmpp_3(agent, capsys):
    host, port = agent.cmpp
    res = cmppy.Cmppy(host, port, "test01", "123456").request(
        SubmitReq("test01", "你好，来自 cmppy", src_id="10657001", dest_terminal_id=["13800138030", "13800138031"],
                  service_id="TEST"))
    capsys.readouterr()  # cmppy prints every frame
    assert res.result == 0
    task, part = cmpp_task(res.msg_id if isinstance(res.msg_id, int) else int.from_bytes(res.msg_id, "big"))
    rows = agent.core.messages_by_task(task)
    assert sorted((r["recipient"], r["text"]) for r in rows) == [("13800138030", "你好，来自 cmppy"),
                                                                 ("13800138031", "你好，来自 cmppy")]
    wait_until(lambda: sum(m.text == "你好，来自 cmppy" for m in agent.sent()) == 2, 10, "both sent")


def test_cmppy_with_a_wrong_secret_is_refused(agent, capsys):
    host, port = agent.cmpp
    res = cmppy.Cmppy(host, port, "test01", "wrong!").request(
        SubmitReq("test01", "x", src_id="1", dest_terminal_id=["13800138030"], service_id="TEST"))
    capsys.readouterr()
    assert res is None  # cmppy's answer to a CMPP_CONNECT_RESP with a non-zero Status
    assert agent.core.queue_depths().get("U", 0) == 0
