"""config.ini parsing: typed values, defaults, and errors that name the key."""

from pathlib import Path

import pytest

from agent import redact
from agent.config import Config, load, parse
from agent.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def test_shipped_config_is_valid_and_simulated(tmp_path):
    cfg = load(REPO / "config.ini")
    assert isinstance(cfg, Config)
    assert cfg.simulated
    assert cfg.simulator.lines == 4
    assert cfg.simulator.profiles == ("simcom", "huawei", "quectel", "generic")
    assert cfg.modems.max_parts == 10
    assert cfg.modems.validity_minutes == 1440


def test_defaults_from_empty_file(tmp_path, monkeypatch):
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    cfg = parse("", base_dir=tmp_path)
    assert cfg.agent.state_dir == tmp_path / "var"
    assert cfg.agent.log_level == "INFO"
    assert cfg.modems.health_interval == 30
    assert cfg.modems.status_report is True
    assert cfg.lines == ()


def test_state_directory_from_systemd(tmp_path, monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/sms-agent")
    assert parse("", base_dir=tmp_path).agent.state_dir == Path("/var/lib/sms-agent")


@pytest.fixture
def system_dirs(tmp_path):
    """Stand-ins for /etc/sms-agent and /var/lib/sms-agent."""
    etc, state = tmp_path / "etc" / "sms-agent", tmp_path / "var" / "lib" / "sms-agent"
    etc.mkdir(parents=True)
    return etc, state


def test_a_config_in_the_packaged_folder_means_the_services_state_directory(system_dirs, monkeypatch):
    etc, state = system_dirs
    (etc / "config.ini").write_text("[agent]\nid = b\n")
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)  # a shell
    shell = load(etc / "config.ini", system_dirs=system_dirs).agent
    monkeypatch.setenv("STATE_DIRECTORY", str(state))  # the unit
    service = load(etc / "config.ini", system_dirs=system_dirs).agent
    assert shell.state_dir == service.state_dir == state
    assert shell.database == service.database == state / "sms-agent.db"
    assert f"config is in {etc}" in shell.state_dir_source
    # A unit with another StateDirectory= does not split the database: the config decides.
    monkeypatch.setenv("STATE_DIRECTORY", str(state.parent / "other"))
    assert load(etc / "config.ini", system_dirs=system_dirs).agent.state_dir == state


def test_the_packaged_folder_is_recognised_through_a_symlink(system_dirs, tmp_path, monkeypatch):
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    etc, state = system_dirs
    (etc / "config.ini").write_text("")
    (tmp_path / "link").symlink_to(etc)
    assert load(tmp_path / "link" / "config.ini", system_dirs=system_dirs).agent.state_dir == state


def test_a_configured_state_dir_wins_and_other_folders_keep_var(system_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", "/somewhere")
    etc, state = system_dirs
    (etc / "config.ini").write_text("[agent]\nstate_dir = /srv/sms\n")
    explicit = load(etc / "config.ini", system_dirs=system_dirs).agent
    assert (explicit.state_dir, explicit.state_dir_source) == (Path("/srv/sms"), "[agent] state_dir")
    (etc / "config.ini").write_text("[agent]\nstate_dir = data\n")
    assert load(etc / "config.ini", system_dirs=system_dirs).agent.state_dir == etc / "data"
    (tmp_path / "config.ini").write_text("")
    assert load(tmp_path / "config.ini", system_dirs=system_dirs).agent.state_dir == Path("/somewhere")
    monkeypatch.delenv("STATE_DIRECTORY")
    checkout = load(tmp_path / "config.ini", system_dirs=system_dirs).agent
    assert checkout.state_dir == tmp_path / "var" and checkout.database == tmp_path / "var" / "sms-agent.db"


def test_lines_are_typed():
    cfg = parse(
        """
[line:G101]
device = /dev/serial/by-id/usb-SimTech-if02
profile = simcom
pin = 1234
imei = 861234567890123
provider = CMCC
enabled = no
[line:G102]
device = /dev/ttyUSB6
baudrate = 9600
[modems]
validity_minutes = 0
scan = /dev/ttyUSB*, /dev/ttyACM*
"""
    )
    assert not cfg.simulated
    g101, g102 = cfg.lines
    assert (g101.name, g101.profile, g101.pin, g101.provider, g101.enabled) == ("G101", "simcom", "1234", "CMCC", False)
    assert (g102.baudrate, g102.profile, g102.enabled) == (9600, "auto", True)
    assert cfg.modems.validity_minutes is None
    assert cfg.modems.scan == ("/dev/ttyUSB*", "/dev/ttyACM*")


@pytest.mark.parametrize(
    "text, key",
    [
        ("[modems]\nhealth_interval = soon\n", "modems.health_interval"),
        ("[modems]\nhealth_interval = 0\n", "modems.health_interval"),
        ("[modems]\nhelth_interval = 5\n", "modems.helth_interval"),
        ("[modems]\nstatus_report = maybe\n", "modems.status_report"),
        ("[modems]\nsmsc = call-me\n", "modems.smsc"),
        ("[agent]\nlog_level = LOUD\n", "agent.log_level"),
        ("[agent]\ntimezone = Mars/Olympus\n", "agent.timezone"),
        ("[agent]\nid = my box\n", "agent.id"),
        ("[line:G1]\nbaudrate = 9600\n", "line:G1.device"),
        ("[line:G1]\ndevice = /dev/x\nprofile = nokia\n", "line:G1.profile"),
        ("[line:G1]\ndevice = /dev/x\npin = 12\n", "line:G1.pin"),
        ("[line:G1]\ndevice = /dev/x\nspeed = 1\n", "line:G1.speed"),
        ("[line:bad name]\ndevice = /dev/x\n", "line:bad name"),
        ("[simulator]\nprofiles = simcom, nokia\n", "simulator.profiles"),
        ("[simulatr]\nlines = 2\n", "simulatr"),
        ("[goip]\nresult_url = ftp://x/y\n", "goip.result_url"),
        ("[jindi]\npush_url = not a url\n", "jindi.push_url"),
        ("[jindi]\npush_method = PUT\n", "jindi.push_method"),
        ("[http]\nport = 70000\n", "http.port"),
        ("[push]\nworkers = 0\n", "push.workers"),
        ("[line:G1]\ndevice = /dev/x\ndaily_limit = -5\n", "line:G1.daily_limit"),
        ("[queue]\nmax_retries = many\n", "queue.max_retries"),
        ("[somp]\nallow = 10.0.0.0/33\n", "somp.allow"),
        ("[somp]\ntimestamp_window = 0\n", "somp.timestamp_window"),
        ("[batchsend]\nreport_url = mailto:x\n", "batchsend.report_url"),
        ("[batchsend]\nmax_rate = -1\n", "batchsend.max_rate"),
        ("[httpinterface]\nallow = somewhere\n", "httpinterface.allow"),
        ("[templates]\nbad id! = x\n", "templates.bad id!"),
        ("[templates]\nT1 =\n", "templates.t1"),
        # a line is a modem (device) or a GoIP channel (goip_id): both or neither is an error
        ("[line:G1]\ndevice = /dev/x\ngoip_id = g1\ngoip_password = p\n", "line:G1.goip_id"),
        ("[line:G1]\ngoip_password = p\n", "line:G1.device"),
        ("[line:G1]\nprovider = CMCC\n", "line:G1.device"),
        ("[line:G1]\ngoip_id = g1\n", "line:G1.goip_password"),
        ("[line:G1]\ndevice = /dev/x\ngoip_password = p\n", "line:G1.goip_password"),
        ("[line:G1]\ngoip_id = g;1\ngoip_password = p\n", "line:G1.goip_id"),
        ("[line:G1]\ngoip_id = g 1\ngoip_password = p\n", "line:G1.goip_id"),
        ("[line:G1]\ngoip_id = g1\ngoip_password = p:w\n", "line:G1.goip_password"),
        ("[line:G1]\ngoip_id = " + "g" * 65 + "\ngoip_password = p\n", "line:G1.goip_id"),
        ("[line:G1]\ngoip_id = g1\ngoip_password = p\nsend_mode = store\n", "line:G1.send_mode"),
        ("[line:G1]\ngoip_id = g1\ngoip_password = p\n[line:G2]\ngoip_id = g1\ngoip_password = q\n",
         "line:G1.goip_id"),
        ("[goip_udp]\nlisten = 44444\n", "goip_udp.listen"),
        ("[goip_udp]\nlisten = 0.0.0.0\n", "goip_udp.listen"),
        ("[goip_udp]\nlisten = 0.0.0.0:\n", "goip_udp.listen"),
        ("[goip_udp]\nlisten = :44444\n", "goip_udp.listen"),
        ("[goip_udp]\nlisten = 0.0.0.0:70000\n", "goip_udp.listen"),
        ("[goip_udp]\nlisten = 0.0.0.0:port\n", "goip_udp.listen"),
        ("[goip_udp]\nlisten = 0.0.0.0:-1\n", "goip_udp.listen"),
        ("[goip_udp]\nlisen = 0.0.0.0:44444\n", "goip_udp.lisen"),
        ("[goip_udp]\nreply_timeout = 0\n", "goip_udp.reply_timeout"),
        ("[goip_udp]\noffline_after = soon\n", "goip_udp.offline_after"),
        ("[goip_udp]\nretries = -1\n", "goip_udp.retries"),
        ("[goip_udp]\nmax_datagram = 100\n", "goip_udp.max_datagram"),
        ("[simulator]\nkind = goip-box\n", "simulator.kind"),
    ],
)
def test_errors_name_the_key(text, key):
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert info.value.key == key
    assert str(info.value).startswith(key)


def test_goip_lines_and_listener_are_typed():
    cfg = parse("[line:M1]\ndevice = /dev/ttyUSB0\n"
                "[line:C1]\ngoip_id = goip01\ngoip_password = s3cret\nprovider = CMCC\ndaily_limit = 50\n"
                "[line:C2]\ngoip_id = goip02\ngoip_password = other\nenabled = no\n"
                "[goip_udp]\nlisten = 192.168.1.10:9991\noffline_after = 1.5\nreply_timeout = 0.2\nretries = 2\n"
                "wait_timeout = 30\nussd_timeout = 12\nmax_datagram = 8192\n"
                "[simulator]\nkind = goip\n")
    m1, c1, c2 = cfg.lines
    assert not m1.goip and m1.device == "/dev/ttyUSB0"
    assert (c1.goip, c1.goip_id, c1.goip_password, c1.device, c1.provider, c1.daily_limit) == (
        True, "goip01", "s3cret", "", "CMCC", 50)
    assert (c2.goip_id, c2.enabled) == ("goip02", False)
    u = cfg.goip_udp
    assert (u.host, u.port, u.offline_after, u.reply_timeout, u.retries, u.wait_timeout, u.ussd_timeout,
            u.max_datagram) == ("192.168.1.10", 9991, 1.5, 0.2, 2, 30.0, 12.0, 8192)
    assert cfg.simulator.kind == "goip"
    assert (parse("[goip_udp]\nlisten = [::]:44444\n").goip_udp.host, parse("").goip_udp.port) == ("::", 44444)
    shown = redact.masked(cfg)["lines"][1]  # the channel's password is a secret: never shown
    assert (shown["goip_id"], shown["goip_password"]) == ("goip01", "***")
    assert "s3cret" in redact.secret_values(cfg)


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "missing.ini")
    assert "missing.ini" in info.value.key


def test_not_ini(tmp_path):
    p = tmp_path / "c.ini"
    p.write_text("this is not ini\n")
    with pytest.raises(ConfigError):
        load(p)


def _shipped_keys() -> list[tuple[str, str]]:
    """(section, key) of every key the shipped config.ini shows, commented out or not."""
    import re

    keys, section = [], ""
    for line in (REPO / "config.ini").read_text().splitlines():
        m = re.match(r"#?\s*\[([^\]]+)\]\s*$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"#?\s*([a-z_]+)\s*=", line)
        if m and section:
            keys.append((section, m.group(1)))
    return keys


def test_every_shipped_key_parses_when_uncommented(tmp_path):
    import re

    text = (REPO / "config.ini").read_text()
    # Uncomment every "# key = value" and "# [section]" line; strip "(required)" notes and ";" comments.
    lines = []
    for line in text.splitlines():
        m = re.match(r"#\s*(\[[^\]]+\]|[a-z_]+\s*=.*)$", line)
        if m:
            line = re.sub(r"\s+(\(required\)|;.*)$", "", m.group(1)).rstrip()
        lines.append(line)
    for name in ("ca.pem", "box.pem", "box.key"):  # the TLS files the example names must exist
        (tmp_path / name).write_text("x")
    cfg = parse("\n".join(lines).replace("/etc/sms-agent/", f"{tmp_path}/"), base_dir=tmp_path)
    modem, goip = cfg.lines  # the two examples: a modem and a channel of a GoIP box
    assert cfg.mqtt.enabled and cfg.mqtt.tls_ca == str(tmp_path / "ca.pem")
    assert modem.name == "G101" and modem.device.startswith("/dev/serial/by-id/") and not modem.goip
    assert (modem.goip_id, modem.goip_password) == ("", "")
    assert goip.name == "G201" and goip.goip and goip.device == ""
    assert (goip.goip_id, goip.goip_password, goip.send_mode) == ("goip01", "1234", "direct")
    assert (cfg.goip_udp.host, cfg.goip_udp.port) == ("0.0.0.0", 44444)
    assert cfg.simulator.kind == "modems"
    assert cfg.agent.timezone == "Asia/Shanghai" and cfg.agent.tz is not None
    assert cfg.modems.scan == ("/dev/ttyUSB*", "/dev/ttyACM*")
    assert cfg.agent.database == tmp_path / "var" / "sms-agent.db"


def test_every_shipped_key_is_documented_in_readme():
    readme = (REPO / "README.md").read_text()
    for section, key in _shipped_keys():
        head = "line:NAME" if section.startswith("line:") else section
        assert f"`[{head}] {key}`" in readme, f"[{section}] {key} is not documented in README.md"


def test_auth_serves_every_dialect_unless_overridden():
    cfg = parse("[auth]\nusername = admin\npassword = pw\n[jindi]\npassword = jpw\n")
    assert (cfg.goip.credentials.username, cfg.goip.credentials.password) == ("admin", "pw")
    assert cfg.jindi.password == "jpw"
    cfg = parse("[auth]\nusername = admin\npassword = pw\n[goip]\nusername = g\npassword = gp\n")
    assert (cfg.goip.credentials.username, cfg.goip.credentials.password, cfg.jindi.password) == ("g", "gp", "pw")


def test_every_key_the_agent_reads_is_shipped_in_config_ini(monkeypatch):
    from agent import config_reader

    read: set[tuple[str, str]] = set()
    original = config_reader.Section._get

    def spy(self, key, default, convert):
        read.add((self.name, key))
        return original(self, key, default, convert)

    monkeypatch.setattr(config_reader.Section, "_get", spy)
    parse("[line:M1]\ndevice = /dev/ttyUSB0\n[line:C1]\ngoip_id = c1\ngoip_password = pw\n")
    shipped = set(_shipped_keys())
    # Any [line:*] key is shown in one of the two examples (G101 a modem, G201 a GoIP channel) ...
    line_keys = {key for section, key in shipped if section.startswith("line:")}
    missing = {(s, k) for s, k in read if not (k in line_keys if s.startswith("line:") else (s, k) in shipped)}
    assert not missing, f"keys the agent reads but config.ini does not show: {sorted(missing)}"
    # ... and each kind's own keys in its own example.
    assert {("line:G101", "device")} <= shipped
    assert {("line:G201", "goip_id"), ("line:G201", "goip_password")} <= shipped


def test_the_shipped_passwords_are_reported_by_key_never_by_value():
    from agent.config import weak_credentials

    shipped = load(REPO / "config.ini")
    # README's quick start logs in with them: the APIs and the status page take admin / change-me.
    assert shipped.auth == shipped.goip.credentials and shipped.auth.username == "admin"
    assert (shipped.status.admin_username, shipped.status.admin_password) == ("admin", shipped.auth.password)
    assert weak_credentials(shipped) == [("[auth] password", "default"), ("[status] admin_password", "default")]
    assert weak_credentials(parse("[auth]\npassword = s3cret\n[status]\nadmin_password = pw\n")) == []
    # Empty where it protects an API: that API is open.  An empty admin password protects nothing (read-only).
    assert weak_credentials(parse("")) == [("[auth] password", "empty")]
    mixed = parse("[auth]\npassword = change-me\n[jindi]\npassword = change-me\n[somp]\npassword = s3cret\n")
    assert weak_credentials(mixed) == [("[auth] password", "default")]  # [jindi]'s is the same: one key to name
    mixed = parse("[auth]\npassword = s3cret\n[jindi]\npassword = change-me\n")
    assert weak_credentials(mixed) == [("[jindi] password", "default")]
    own = "".join(f"[{s}]\npassword = p-{s}\n" for s in ("goip", "jindi", "somp", "batchsend", "httpinterface"))
    assert weak_credentials(parse(own)) == []  # an empty [auth] that no API uses protects nothing
