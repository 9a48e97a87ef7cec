"""The CMPP 2.0 client of the Tornado gateway's interface document (section 1), in
Python 3: the same struct packing, with bytes for its str and "!" for its "!!" (which
Python 3's struct refuses), and its prints returned instead."""

from __future__ import annotations

import binascii
import hashlib
import socket
import struct
import time


def run(host: str, port: int, *, username: str = "test01", password: str = "123456",
        dest_addr: str = "13612341234", message: bytes = "你好,短信测试【测试】".encode("gb18030"),
        shortcode: str = "1234", module: str = "TEST") -> dict:
    user, pw = username.encode(), password.encode()
    # 1.create socket and connect
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((host, port))
    out: dict = {}
    try:
        # 2.bind
        t = time.strftime("%m%d%H%M%S", time.gmtime())
        m = hashlib.md5()
        m.update(user)
        m.update(b"\x00\x00\x00\x00\x00\x00\x00\x00\x00")
        m.update(pw)
        m.update(t.encode())
        bind = struct.pack("!LLL6s16sBi", 39, 1, 1, user, m.digest(), 0x20, int(t))
        s.sendall(bind)
        bind_resp = s.recv(30)
        status, = struct.unpack("!12xB17x", bind_resp)
        out["bind"] = status
        if status != 0:
            return out
        # 3.submit
        i = len(message)
        submit = struct.pack("!LLL8xBB2x10s24xB6s8s34x21sB21sB%ds8x" % i, 159 + i, 4, 2,
                             1, 1, module.encode(), 15, user, b"01000000", shortcode.encode(), 1,
                             dest_addr.encode(), i, message)
        s.sendall(submit)
        submit_resp = s.recv(21)
        msg_id, result = struct.unpack("!12x8sB", submit_resp)
        out["submit"] = (result, binascii.hexlify(msg_id).decode())
        # 4.terminate
        term = struct.pack("!LLL", 12, 2, 3)
        s.sendall(term)
        term_resp = s.recv(12)
        out["terminate"] = struct.unpack("!LLL", term_resp)
    finally:
        # 5.close
        s.close()
    return out
