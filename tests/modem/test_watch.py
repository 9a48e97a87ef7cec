"""The signs that a modem is back: its device paths, an AT probe."""

from __future__ import annotations

import os
import time

from agent.modem.watch import DeviceWatch, answers


def test_a_device_that_appears_or_is_created_anew_is_news(tmp_path):
    path = tmp_path / "ttyUSB0"
    watch = DeviceWatch(str(path))
    watch.rebase(scan=False)
    assert watch.appeared(scan=False) is None  # nothing there, nothing new
    path.write_text("")
    assert watch.appeared(scan=False) == str(path)
    assert watch.appeared(scan=False) is None  # seen already
    path.unlink()
    assert watch.appeared(scan=False) is None  # only went away: no news
    path.write_text("")
    assert watch.appeared(scan=False) == str(path)
    os.chmod(path, 0o600)  # udev giving the node its group and mode
    assert watch.appeared(scan=False) == str(path)


def test_a_link_pointing_elsewhere_is_news(tmp_path):
    (tmp_path / "ttyUSB0").write_text("")
    (tmp_path / "ttyUSB1").write_text("")
    link = tmp_path / "by-id"
    link.symlink_to(tmp_path / "ttyUSB0")
    watch = DeviceWatch(str(link))
    watch.rebase(scan=False)
    link.unlink()
    link.symlink_to(tmp_path / "ttyUSB1")
    assert watch.appeared(scan=False) == str(link)


def test_a_scanned_port_counts_only_while_the_lines_path_is_gone(tmp_path):
    own = tmp_path / "modem"
    watch = DeviceWatch(str(own), (str(tmp_path / "ttyUSB*"),))
    own.write_text("")
    watch.rebase(scan=True)
    (tmp_path / "ttyUSB3").write_text("")
    assert watch.appeared(scan=True) is None  # the line's own device is there
    own.unlink()
    assert watch.appeared(scan=True) is None  # the first look at the ports: no news yet
    (tmp_path / "ttyUSB4").write_text("")
    assert watch.appeared(scan=False) is None  # the modem cannot be looked for elsewhere
    assert watch.appeared(scan=True) is None  # and a first look again
    (tmp_path / "ttyUSB5").write_text("")
    assert watch.appeared(scan=True) == str(tmp_path / "ttyUSB5")
    assert watch.appeared(scan=True) is None
    (tmp_path / "ttyUSB5").unlink()
    (tmp_path / "ttyUSB5").write_text("")  # created anew: a new node
    assert watch.appeared(scan=True) == str(tmp_path / "ttyUSB5")


def test_the_ports_are_listed_again_only_when_their_directory_changed(tmp_path, monkeypatch):
    from agent.modem import watch as module

    (tmp_path / "ttyUSB0").write_text("")
    watch = DeviceWatch(str(tmp_path / "gone"), (str(tmp_path / "ttyUSB*"),))
    listed = []
    real = module.glob.glob
    monkeypatch.setattr(module.glob, "glob", lambda pattern: listed.append(pattern) or real(pattern))
    watch.rebase(scan=True)
    for _ in range(5):
        assert watch.appeared(scan=True) is None
    assert len(listed) == 1
    (tmp_path / "ttyUSB1").write_text("")
    assert watch.appeared(scan=True) == str(tmp_path / "ttyUSB1")
    assert len(listed) == 2


def test_the_probe_says_whether_the_modem_answers(make_bank, tmp_path):
    modem = make_bank(["generic"])[0]
    assert answers(modem.path, baudrate=115200, timeout=1.0)
    modem.hang()
    t0 = time.monotonic()
    assert not answers(modem.path, baudrate=115200, timeout=0.3)
    assert time.monotonic() - t0 < 1.0
    modem.unhang()
    assert answers(modem.path, baudrate=115200, timeout=1.0)
    assert not answers(str(tmp_path / "nothing"), baudrate=115200, timeout=1.0)
