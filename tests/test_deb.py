"""The Debian package: scripts/build-deb builds it, dpkg-deb shows what it holds,
and (as root, where a throw-away overlay of / can be made) it installs, runs,
reinstalls and purges without leaving anything behind.  The host is never
touched: dpkg runs chrooted into an overlay whose upper layer is a tmpfs in a
private mount namespace, gone when the test ends."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VERSION = re.search(r'^version = "(.+)"$', (REPO / "pyproject.toml").read_text(), re.M).group(1)  # type: ignore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def deb(tmp_path_factory) -> Path:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([str(REPO / "scripts" / "build-deb"), "--out", str(out)], capture_output=True,
                          text=True, timeout=500)
    assert done.returncode == 0, done.stdout + done.stderr
    path = out / f"sms-agent_{VERSION}_all.deb"
    assert done.stdout.strip() == str(path)  # the one line it prints: the package
    assert done.stderr == ""  # no pip chatter
    return path


def _field(info: str, name: str) -> str:
    found = re.search(rf"^ {name}: (.*)$", info, re.M)
    assert found, info
    return found.group(1)


def test_the_package_is_architecture_all_and_says_what_it_needs(deb):
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True, check=True).stdout
    assert _field(info, "Package") == "sms-agent"
    assert _field(info, "Version") == VERSION
    assert _field(info, "Architecture") == "all"
    depends = [d.strip() for d in _field(info, "Depends").split(",")]
    assert "python3 (>= 3.11)" in depends and "python3-venv" in depends and "adduser" in depends
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        assert re.search(rf"^\s+\d+ bytes,\s+\d+ lines\s+\*?\s+{script}\b", info, re.M), (script, info)


def _contents(deb: Path) -> dict[str, tuple[str, str]]:
    """path -> (mode string, owner/group) of each entry."""
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    entries = {}
    for line in listing.splitlines():
        mode, owner, _size, _date, _time, name = line.split(None, 5)
        entries[name.split(" -> ")[0].removeprefix(".").rstrip("/") or "/"] = (mode, owner)
    return entries


def test_the_package_holds_the_launcher_the_wheels_the_config_and_the_unit(deb):
    entries = _contents(deb)
    assert entries["/usr/bin/sms-agent"] == ("-rwxr-xr-x", "root/root")
    assert entries["/etc/sms-agent"] == ("drwxr-x---", "root/root")  # group sms-agent: set by postinst
    assert entries["/etc/sms-agent/config.ini"] == ("-rw-r-----", "root/root")
    assert entries["/lib/systemd/system/sms-agent.service"] == ("-rw-r--r--", "root/root")
    assert "/usr/share/doc/sms-agent/copyright" in entries
    wheels = sorted(p.rsplit("/", 1)[1] for p in entries if p.startswith("/opt/sms-agent/wheels/"))
    assert f"sms_agent-{VERSION}-py3-none-any.whl" in wheels
    for dependency in ("pyserial", "paho_mqtt", "bottle", "peewee", "schedule", "waitress", "prometheus_client"):
        assert [w for w in wheels if w.startswith(dependency + "-")], (dependency, wheels)
    assert all(w.endswith("-none-any.whl") for w in wheels), wheels  # pure Python: architecture all
    # Nothing else: no venv (postinst makes it on the target), no bytecode, no build scratch.
    allowed = ("/usr/bin/", "/usr/share/doc/sms-agent", "/etc/sms-agent", "/lib/systemd/system/",
               "/opt/sms-agent/wheels/")
    strays = [p for p, (mode, _) in entries.items() if not mode.startswith("d") and not p.startswith(allowed)]
    assert strays == []


def _control(deb: Path, tmp_path: Path) -> Path:
    control = tmp_path / "DEBIAN"
    subprocess.run(["dpkg-deb", "--control", str(deb), str(control)], check=True)
    return control


def test_the_maintainer_scripts_are_valid_sh_and_the_config_is_a_conffile(deb, tmp_path):
    control = _control(deb, tmp_path)
    assert (control / "conffiles").read_text().split() == ["/etc/sms-agent/config.ini"]
    for name in ("postinst", "prerm", "postrm"):
        script = control / name
        assert os.access(script, os.X_OK), name
        text = script.read_text()
        assert text.startswith("#!/bin/sh\n") and "\nset -e\n" in text, name
        assert "@VERSION@" not in text
        checked = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, (name, checked.stderr)
    postinst = (control / "postinst").read_text()
    assert f"\nVERSION={VERSION}\n" in postinst and '"sms-agent==$VERSION"' in postinst  # this version,
    assert "--no-index --find-links" in postinst  # offline, from the shipped wheels
    assert "dialout" in postinst and "daemon-reload" in postinst
    prerm, postrm = (control / "prerm").read_text(), (control / "postrm").read_text()
    assert "systemctl stop" in prerm and "systemctl disable" in prerm
    assert "/var/lib/sms-agent" in postrm and "deluser" in postrm


def test_the_config_and_the_unit_in_the_package_are_the_wheels_package_data(deb, tmp_path):
    unpacked = tmp_path / "root"
    subprocess.run(["dpkg-deb", "--extract", str(deb), str(unpacked)], check=True)
    wheel = unpacked / "opt" / "sms-agent" / "wheels" / f"sms_agent-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as whl:
        assert whl.read("agent/data/config.ini") == (unpacked / "etc/sms-agent/config.ini").read_bytes()
        assert whl.read("agent/data/sms-agent.service") == \
            (unpacked / "lib/systemd/system/sms-agent.service").read_bytes()
    assert (unpacked / "etc/sms-agent/config.ini").read_bytes() == (REPO / "config.ini").read_bytes()
    unit = (unpacked / "lib/systemd/system/sms-agent.service").read_text()
    assert unit == (REPO / "systemd" / "sms-agent.service").read_text()
    assert "\nStateDirectory=sms-agent\n" in unit and "\nExecStart=/usr/bin/sms-agent " in unit


# Runs chrooted into the overlay.  Prints key=value lines the test reads; any failure stops it (set -e).
_IN_SANDBOX = r"""
set -eu
dpkg -i /tmp/sms-agent.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; exit 1; }
echo "groups=$(id -nG sms-agent)"
echo "shell=$(getent passwd sms-agent | cut -d: -f7)"
echo "etc=$(stat -c '%a %U %G' /etc/sms-agent)"
echo "conf=$(stat -c '%a %U %G' /etc/sms-agent/config.ini)"
echo "launcher=$(/usr/bin/sms-agent pdu encode --to 10086 hi | tail -n 1)"
setpriv --reuid=sms-agent --regid=sms-agent --init-groups \
    /usr/bin/sms-agent --config /etc/sms-agent/config.ini check-config >/dev/null && echo "check=ok"
if systemd-analyze verify /lib/systemd/system/sms-agent.service >/tmp/verify.log 2>&1; then
    echo "verify=$(cat /tmp/verify.log | tr '\n' ' ')"
else
    echo "verify=failed: $(cat /tmp/verify.log | tr '\n' ' ')"
fi
systemctl enable sms-agent.service >/dev/null 2>&1
test -L /etc/systemd/system/multi-user.target.wants/sms-agent.service && echo "enabled=yes"
# What systemd does before ExecStart: the state directory, the user, the umask, $STATE_DIRECTORY.
install -d -o sms-agent -g sms-agent -m 0750 /var/lib/sms-agent
cd /var/lib/sms-agent
STATE_DIRECTORY=/var/lib/sms-agent setpriv --reuid=sms-agent --regid=sms-agent --init-groups \
    sh -c 'umask 0027; exec /usr/bin/sms-agent --config /etc/sms-agent/config.ini run' >/tmp/agent.log 2>&1 &
agent=$!
for _ in $(seq 150); do
    grep -q "running (" /tmp/agent.log && break
    sleep 0.2
done
/opt/sms-agent/venv/bin/python -c 'import urllib.request as u; print("healthz=" +
    u.urlopen("http://127.0.0.1:8060/healthz", timeout=10).read().decode().strip())'
kill -TERM "$agent"
wait "$agent" && echo "agent_exit=0" || { cat /tmp/agent.log; exit 1; }
echo "db=$(stat -c '%a %U %G' /var/lib/sms-agent/sms-agent.db)"
# A reinstall (the upgrade path): the administrator's edit of the conffile stays.
echo "# edited" >>/etc/sms-agent/config.ini
dpkg -i --force-confold /tmp/sms-agent.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; exit 1; }
tail -n 1 /etc/sms-agent/config.ini | grep -q "^# edited$" && echo "conffile_kept=yes"
echo "conf_again=$(stat -c '%a %U %G' /etc/sms-agent/config.ini)"
/usr/bin/sms-agent --config /etc/sms-agent/config.ini check-config >/dev/null && echo "check_again=ok"
dpkg --purge sms-agent >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; exit 1; }
getent passwd sms-agent >/dev/null || echo "user=gone"
getent group sms-agent >/dev/null || echo "group=gone"
left=""
for path in /opt/sms-agent /etc/sms-agent /var/lib/sms-agent /usr/bin/sms-agent \
        /lib/systemd/system/sms-agent.service /etc/systemd/system/multi-user.target.wants/sms-agent.service; do
    if [ -e "$path" ] || [ -L "$path" ]; then left="$left $path"; fi
done
echo "left=$left"
echo "overrides=$(dpkg-statoverride --list | grep -c sms-agent || true)"
dpkg -s sms-agent >/dev/null 2>&1 || echo "status=not-installed"
"""

# Runs in a private mount and network namespace: the overlay of / over a tmpfs, and dpkg chrooted into it.
_SANDBOX = r"""
set -eu
top=$1 deb=$2
mount -t tmpfs tmpfs "$top"
mkdir "$top/upper" "$top/work" "$top/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$top/upper,workdir=$top/work" "$top/root"
mount -t proc proc "$top/root/proc"
mount --rbind /dev "$top/root/dev"
ip link set lo up 2>/dev/null || python3 -c 'import fcntl, socket, struct
s = socket.socket(); flags = struct.pack("16sH", b"lo", 0x1 | 0x8)
fcntl.ioctl(s, 0x8914, flags)'
cp "$deb" "$top/root/tmp/sms-agent.deb"
exec chroot "$top/root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 /bin/sh -c "$3"
"""


def _can_sandbox() -> str | None:
    if os.geteuid() != 0:
        return "installing needs root (the package is installed into a throw-away overlay of /)"
    for tool in ("unshare", "chroot", "setpriv", "dpkg", "systemctl", "adduser"):
        if shutil.which(tool) is None:
            return f"{tool} is missing"
    for package in ("python3", "python3-venv"):
        if subprocess.run(["dpkg", "-s", package], capture_output=True).returncode != 0:
            return f"the package's dependency {package} is not installed here"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    return None if probe.returncode == 0 else "no mount namespace here"


def test_the_package_installs_runs_upgrades_and_purges_cleanly_in_a_throwaway_overlay(deb, tmp_path):
    reason = _can_sandbox()
    if reason:
        pytest.skip(reason)
    top = tmp_path / "overlay"
    top.mkdir()
    host_before = _host_state()
    done = subprocess.run(["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", _SANDBOX,
                           "sandbox", str(top), str(deb), _IN_SANDBOX], capture_output=True, text=True, timeout=500)
    facts = dict(line.split("=", 1) for line in done.stdout.splitlines() if re.match(r"^[a-z_]+=", line))
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(facts["groups"].split()) == {"sms-agent", "dialout"}
    assert facts["shell"] == "/usr/sbin/nologin"
    assert facts["etc"] == "750 root sms-agent"
    assert facts["conf"] == facts["conf_again"] == "640 root sms-agent"
    assert facts["launcher"].startswith("0011")  # the PDU: the venv made by postinst works
    assert facts["check"] == facts["check_again"] == "ok"
    assert facts["verify"] == ""  # systemd-analyze verify: the installed unit, with its ExecStart there
    assert facts["enabled"] == "yes"
    assert facts["healthz"] == "ok" and facts["agent_exit"] == "0"
    assert facts["db"] == "640 sms-agent sms-agent"
    assert facts["conffile_kept"] == "yes"
    assert facts["user"] == facts["group"] == "gone"
    assert facts["left"] == "" and facts["overrides"] == "0" and facts["status"] == "not-installed"
    assert _host_state() == host_before  # nothing of it reached the host
    assert not list(top.iterdir())  # the tmpfs went with the namespace


def _host_state() -> tuple[object, ...]:
    user = subprocess.run(["getent", "passwd", "sms-agent"], capture_output=True, text=True).stdout
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "sms-agent"], capture_output=True, text=True).stdout
    return user, status, Path("/opt/sms-agent").exists(), Path("/etc/sms-agent").exists()
