"""Kannel (bearerbox + smsbox, Debian's ``kannel`` package) as a real third-party
SMPP client of an SMSC on 127.0.0.1, for the binary interop tests.

    with Kannel(tmp_path, host="127.0.0.1", port=smsc_port,
                system_id="kannel", password="secret") as kannel:
        kannel.wait_smsc_online(10)
        status, body = kannel.sendsms("+8613800000000", "hello",
                                      dlr_url=f"{receiver.url}/dlr?type=%d&id=%F")

One config file (``kannel.conf`` in the tmp dir) serves both boxes: a core
group (admin, smsbox ports: free loopback ports picked at run time,
``dlr-storage = internal``), one ``smsc = smpp`` group pointed at the server
under test, an smsbox group with a sendsms port, a sendsms-user and a default
sms-service that never answers (``max-messages = 0``; MO go to ``mo_url`` when
given, as GET ...?from=&to=&text=&coding=&charset=&udh=&smsc=; Kannel joins
concatenated MO, UDH or sar, before; a UCS-2 MO's text comes as its raw
UCS-2 bytes).  Logs (Kannel's own and each box's stdout/stderr) stay in the
tmp dir; the last lines of each are printed when the ``with`` block fails.

Skips the test (pytest.skip) only when bearerbox is not installed; scripts/test
installs it (Debian puts bearerbox and smsbox in /usr/sbin).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ..receiver import free_port
from ..waiting import wait_until

SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")


def find_box(name: str) -> str | None:
    """The path of Kannel's ``bearerbox`` / ``smsbox``, or None."""
    found = shutil.which(name)
    if found:
        return found
    for d in SBIN:
        path = os.path.join(d, name)
        if os.access(path, os.X_OK):
            return path
    return None


def _q(value: object) -> str:
    """A Kannel config value, quoted (Kannel's conf parser takes "..." with \\ escapes)."""
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Kannel:
    """bearerbox + smsbox against one SMPP SMSC; a context manager.

    In "split" mode Kannel files a message's DLR when its transmitter thread
    reads the submit_sm_resp, and looks receipts up on its receiver thread: a
    receipt sent right behind the resp may be looked up first and dropped
    ("got DLR but could not find message").  Wait for the type 8 (SMSC ack)
    DLR (dlr_mask with 8), which comes after the filing, before sending one.

    ``mode``: "transceiver" (one bind_transceiver on ``port``) or "split"
    (bind_transmitter on ``port`` and bind_receiver on ``receive_port``, the
    same port when not given).  ``msg_id_type``: Kannel's msg-id-type
    (0x00: submit_sm_resp and deliver_sm ids are decimal numbers; None: leave
    it out, ids compared as plain strings).  ``extra_smsc``: more
    ``key = value`` lines for the smsc group (values written as given).
    """

    SMSC_ID = "agent"
    ADMIN_PASSWORD = "adminpw"
    USER = "tester"
    USER_PASSWORD = "testerpw"

    def __init__(self, tmp: Path | str, *, host: str = "127.0.0.1", port: int, system_id: str,
                 password: str, system_type: str = "VMA", mode: str = "transceiver",
                 receive_port: int | None = None, msg_id_type: int | None = 0x00,
                 enquire_link_interval: int = 30, mo_url: str | None = None,
                 extra_smsc: dict[str, str] | None = None, log_level: int = 0) -> None:
        self.bearerbox = find_box("bearerbox")
        self.smsbox = find_box("smsbox")
        if self.bearerbox is None or self.smsbox is None:
            pytest.skip("Kannel is not installed (no bearerbox/smsbox; scripts/test installs the kannel package)")
        if mode not in ("transceiver", "split"):
            raise ValueError(f"mode must be 'transceiver' or 'split', not {mode!r}")
        assert host.startswith("127."), "the binary tests use loopback only"
        self.dir = Path(tmp)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host, self.port = host, port
        self.system_id, self.password, self.system_type = system_id, password, system_type
        self.mode, self.receive_port = mode, receive_port
        self.msg_id_type = msg_id_type
        self.enquire_link_interval = enquire_link_interval
        self.mo_url = mo_url
        self.extra_smsc = extra_smsc or {}
        self.log_level = log_level
        self.admin_port = free_port()
        self.smsbox_port = free_port()
        self.sendsms_port = free_port()
        while len({self.admin_port, self.smsbox_port, self.sendsms_port}) < 3:
            self.sendsms_port = free_port()
        self.conf_path = self.dir / "kannel.conf"
        self.procs: dict[str, subprocess.Popen] = {}
        self._outs: list = []

    # --- config -------------------------------------------------------------------------
    def config(self) -> str:
        d = self.dir
        smsc = {
            "smsc": "smpp",
            "smsc-id": self.SMSC_ID,
            "host": self.host,
            "port": self.port,
            "smsc-username": _q(self.system_id),
            "smsc-password": _q(self.password),
            "system-type": _q(self.system_type),
            "interface-version": 34,
            "enquire-link-interval": self.enquire_link_interval,
            "reconnect-delay": 1,
            "log-file": _q(d / "smsc.log"),
            "log-level": self.log_level,
        }
        if self.msg_id_type is not None:
            smsc["msg-id-type"] = f"0x{self.msg_id_type:02x}"
        smsc.update(self.extra_smsc)
        if self.mode == "transceiver":
            smscs = [{**smsc, "transceiver-mode": "true"}]
        else:
            # Kannel 1.4.5 refuses port and receive-port in one group: two groups
            # with one smsc-id, a transmitter (port) and a receiver (port = 0).
            smscs = [{**smsc, "transceiver-mode": "false"},
                     {**smsc, "transceiver-mode": "false", "port": 0,
                      "receive-port": self.receive_port or self.port}]
        if self.mo_url:
            service = {"keyword": "default", "catch-all": "true", "max-messages": 0,
                       "get-url": _q(self.mo_url + ("&" if "?" in self.mo_url else "?")
                                     + "from=%p&to=%P&text=%a&coding=%c&charset=%C&udh=%u&smsc=%i")}
        else:
            service = {"keyword": "default", "catch-all": "true", "max-messages": 0, "text": _q("")}
        groups = [
            ("core", {
                "admin-port": self.admin_port,
                "admin-interface": "127.0.0.1",
                "admin-password": _q(self.ADMIN_PASSWORD),
                "admin-allow-ip": _q("127.0.0.1"),
                "smsbox-port": self.smsbox_port,
                "smsbox-interface": "127.0.0.1",
                "box-allow-ip": _q("127.0.0.1"),
                "dlr-storage": "internal",
                "log-file": _q(d / "bearerbox.log"),
                "log-level": self.log_level,
                "access-log": _q(d / "access.log"),
            }),
            *(("smsc", g) for g in smscs),
            ("smsbox", {
                "bearerbox-host": "127.0.0.1",
                "bearerbox-port": self.smsbox_port,
                "sendsms-port": self.sendsms_port,
                "sendsms-interface": "127.0.0.1",
                "global-sender": _q("10086"),
                "log-file": _q(d / "smsbox.log"),
                "log-level": self.log_level,
                "access-log": _q(d / "smsbox-access.log"),
            }),
            ("sendsms-user", {
                "username": _q(self.USER),
                "password": _q(self.USER_PASSWORD),
                "concatenation": "true",
                "max-messages": 10,
                "user-allow-ip": _q("127.0.0.1"),
            }),
            ("sms-service", service),
        ]
        lines = []
        for name, keys in groups:
            lines.append(f"group = {name}")
            lines.extend(f"{k} = {v}" for k, v in keys.items())
            lines.append("")
        return "\n".join(lines)

    # --- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> Kannel:
        self.conf_path.write_text(self.config())
        try:
            self._spawn("bearerbox", self.bearerbox)
            # smsbox retries its connection to bearerbox, but starting it once
            # bearerbox is up keeps its log free of connection errors.
            wait_until(lambda: self.started() or self._died("bearerbox"), 10, "bearerbox's start-up")
            self._check_alive("bearerbox")
            self._spawn("smsbox", self.smsbox)
            # smsbox opens its sendsms port before it connects to bearerbox; a
            # sendsms in between makes it PANIC (lock_out: conn != NULL).  Its
            # "Connected to bearerbox" comes once the connection is set; the
            # status page lists the box a moment earlier (on accept), not enough.
            wait_until(lambda: self._logged("smsbox.log", "Connected to bearerbox")
                       or self._died("smsbox") or self._died("bearerbox"), 10, "smsbox connected to bearerbox")
            self._check_alive("bearerbox")
            self._check_alive("smsbox")
        except BaseException:
            self.dump_logs()
            self.stop()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.dump_logs()
        self.stop()

    def started(self) -> bool:
        """bearerbox has logged the end of its start-up ("MAIN: Start-up done").
        An SMSC that refuses the bind (ESME_RINVPASWD, ESME_RINVSYSID) before
        then makes Kannel 1.4.5 PANIC (gwlist_remove_producer in
        bb_smscconn_killed) instead of marking the smsc dead."""
        return self._logged("bearerbox.log", "Start-up done")

    def _logged(self, log: str, text: str) -> bool:
        path = self.dir / log
        return path.exists() and text in path.read_text(errors="replace")

    def _spawn(self, name: str, exe: str) -> None:
        out = open(self.dir / f"{name}.out", "wb")
        self._outs.append(out)
        self.procs[name] = subprocess.Popen(
            [exe, "-v", str(self.log_level), str(self.conf_path)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=self.dir,
            start_new_session=True)

    def _died(self, name: str) -> bool:
        return self.procs[name].poll() is not None

    def _check_alive(self, name: str) -> None:
        if self._died(name):
            raise RuntimeError(f"{name} exited with {self.procs[name].returncode}; see {self.dir}")

    def stop(self, timeout: float = 10.0, smsbox_timeout: float = 3.0) -> None:
        """SIGTERM smsbox, then bearerbox (which unbinds from the SMSC first);
        SIGKILL a box still running after its deadline.  smsbox now and then
        hangs after "SIGINT received, aborting program" (about one stop in
        thirty here), hence its shorter deadline: killing it loses nothing."""
        for name, deadline in (("smsbox", smsbox_timeout), ("bearerbox", timeout)):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(deadline)
            except subprocess.TimeoutExpired:
                print(f"kannel: {name} still running {deadline}s after SIGTERM; killing it", file=sys.stderr)
                proc.kill()
                proc.wait(5)
        for out in self._outs:
            out.close()
        self._outs.clear()

    def dump_logs(self, lines: int = 40) -> None:
        for name in ("bearerbox.log", "smsc.log", "smsbox.log", "bearerbox.out", "smsbox.out"):
            path = self.dir / name
            if not path.exists():
                continue
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            print(f"----- last {len(tail)} lines of {path} -----", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)

    # --- admin ----------------------------------------------------------------------------
    def _get(self, url: str, timeout: float = 5.0) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def status_xml(self) -> ET.Element | None:
        """bearerbox's /status.xml, parsed; None while it does not answer."""
        try:
            code, body = self._get(f"http://127.0.0.1:{self.admin_port}/status.xml?password={self.ADMIN_PASSWORD}", 2)
        except OSError:
            return None
        if code != 200:
            return None
        try:
            return ET.fromstring(body)
        except ET.ParseError:
            return None

    def smsc_status(self) -> str | None:
        """The smsc's status as the admin page says it ("online 3s",
        "connecting", "re-connecting", "dead", ...): in "split" mode the first
        group's that is not online; None before bearerbox answers."""
        statuses = self.smsc_statuses()
        if statuses is None:
            return None
        offline = [s for s in statuses if not s.startswith("online")]
        return (offline or statuses or [""])[0]

    def smsc_statuses(self) -> list[str] | None:
        """The status of each smsc group (two in "split" mode); None before bearerbox answers."""
        root = self.status_xml()
        if root is None:
            return None
        return [(smsc.findtext("status") or "").strip() for smsc in root.iter("smsc")
                if smsc.findtext("id") == self.SMSC_ID]

    def wait_smsc_online(self, timeout: float = 10.0) -> None:
        """Wait until the admin status page shows the smsc online (all its binds up)."""
        for name in self.procs:
            self._check_alive(name)

        def online() -> bool:
            for name in self.procs:
                self._check_alive(name)
            return (self.smsc_status() or "").startswith("online")

        wait_until(online, timeout, lambda: f"Kannel's smsc online (status now {self.smsc_status()!r})")

    # --- sending --------------------------------------------------------------------------
    def sendsms(self, to: str, text: str, *, dlr_url: str | None = None, dlr_mask: int = 31,
                coding: int | None = None, charset: str | None = None, from_: str | None = None,
                **extra: str) -> tuple[int, str]:
        """GET smsbox's /cgi-bin/sendsms; return (HTTP status, body).  ``text`` is
        sent as UTF-8 unless ``charset`` says otherwise; ``extra``: other
        sendsms parameters (e.g. udh=..., mclass=...)."""
        params: dict[str, str] = {"username": self.USER, "password": self.USER_PASSWORD,
                                  "to": to, "smsc": self.SMSC_ID}
        params.update(extra)
        if from_ is not None:
            params["from"] = from_
        if dlr_url is not None:
            params["dlr-url"] = dlr_url
            params["dlr-mask"] = str(dlr_mask)
        if coding is not None:
            params["coding"] = str(coding)
        if charset is not None:
            params["charset"] = charset
        query = urllib.parse.urlencode(params) + "&text=" + urllib.parse.quote(
            text.encode(charset or "utf-8"), safe="")
        return self._get(f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms?{query}", 10)

