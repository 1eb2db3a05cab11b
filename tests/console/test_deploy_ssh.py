"""deploy/juki-console (the sshd ForceCommand wrapper) and deploy/sshd_config.d/juki.conf.

The wrapper runs for real on a pty with a stand-in console that reports its environment
and umask. sshd itself checks the snippet here (``sshd -t`` and ``sshd -T`` on Debian's
layout: the drop-in included first) and serves it in tests/console/test_sshd_e2e.py.
"""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
WRAPPER = DEPLOY / "juki-console"
SSHD = Path("/usr/sbin/sshd")


FP = "SHA256:" + "Ab1+/" * 8 + "xyz"


def _conf(tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    report = tmp_path / "report.txt"
    fake = tmp_path / "fake-juki"
    args = tmp_path / "args.txt"  # the arguments the wrapper gave, one a line
    fake.write_text(f"#!/bin/sh\n{{ umask; env; }} > {report}\nprintf '%s\\n' \"$@\" > {args}\n")
    fake.chmod(0o755)
    conf = tmp_path / "console.conf"
    conf.write_text(f"# comment\nJUKI_BIN={fake}\nJUKI_CONFIG=/etc/juki/test.toml\n{extra}")
    return conf, report


def _run_on_pty(conf: Path | list[str], env: dict[str, str]) -> tuple[int, str]:
    """The wrapper on a terminal with ``conf`` as its argument (or with these arguments)."""
    argv = conf if isinstance(conf, list) else [str(conf)]
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(["/bin/bash", str(WRAPPER), *argv], stdin=slave,
                              stdout=slave, stderr=slave, env=env, timeout=30)
    finally:
        os.close(slave)
    out = b""
    try:
        while chunk := os.read(master, 65536):
            out += chunk
    except OSError:
        pass
    os.close(master)
    return proc.returncode, out.decode(errors="replace")


def _report(path: Path) -> tuple[str, dict[str, str]]:
    lines = path.read_text().splitlines()
    return lines[0], dict(line.split("=", 1) for line in lines[1:] if "=" in line)


BASE = {"HOME": "/home/x", "USER": "x", "LOGNAME": "x", "PATH": "/usr/bin:/bin",
        "SSH_CONNECTION": "203.0.113.9 52114 10.0.0.5 22", "SSH_USER_AUTH": "/tmp/auth-x",
        "PYTHONPATH": "/tmp/evil", "TEXTUAL_SCREENSHOT": "1", "LD_PRELOAD": "/tmp/evil.so",
        "LANG": "en_US.ISO-8859-1"}


@pytest.mark.parametrize("term, colorterm, want_term, want_colorterm", [
    ("xterm-256color", "truecolor", "xterm-256color", "truecolor"),
    ("screen-256color", "yes", "screen-256color", None),
    ("evil\x1b]0;x", "24bit", "xterm-256color", "24bit"),
    ("", "", "xterm-256color", None),
])
def test_the_wrapper_fixes_the_environment(
    tmp_path: Path, term: str, colorterm: str, want_term: str, want_colorterm: str | None,
) -> None:
    conf, report = _conf(tmp_path)
    code, out = _run_on_pty(conf, {**BASE, "TERM": term, "COLORTERM": colorterm})
    assert code == 0, out
    umask, env = _report(report)
    assert umask == "0077"
    assert env["TERM"] == want_term and env.get("COLORTERM") == want_colorterm
    assert env["LANG"] == env["LC_ALL"] == "C.UTF-8" and env["ESCDELAY"] == "25"
    assert env["JUKI_CONFIG"] == "/etc/juki/test.toml"
    assert env["SSH_CONNECTION"] == BASE["SSH_CONNECTION"]
    assert env["SSH_USER_AUTH"] == "/tmp/auth-x"
    for dropped in ("PYTHONPATH", "TEXTUAL_SCREENSHOT", "LD_PRELOAD"):
        assert dropped not in env


def test_the_wrapper_takes_ja_jp_and_refuses_other_locales(tmp_path: Path) -> None:
    conf, report = _conf(tmp_path, "JUKI_LANG=ja_JP.UTF-8\n")
    assert _run_on_pty(conf, {**BASE, "TERM": "xterm"})[0] == 0
    assert _report(report)[1]["LC_ALL"] == "ja_JP.UTF-8"
    conf, report = _conf(tmp_path, "JUKI_LANG=en_US.ISO-8859-1\n")
    assert _run_on_pty(conf, {**BASE, "TERM": "xterm"})[0] == 0
    assert _report(report)[1]["LC_ALL"] == "C.UTF-8"


def test_the_wrapper_refuses_without_a_terminal_and_on_a_bad_conf(tmp_path: Path) -> None:
    conf, report = _conf(tmp_path)
    done = subprocess.run(["/bin/bash", str(WRAPPER), str(conf)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=BASE, timeout=30)
    assert done.returncode == 2 and "ssh -t" in done.stderr
    assert not report.exists()
    bad, _ = _conf(tmp_path, "PYTHONPATH=/tmp/evil\n")
    code, out = _run_on_pty(bad, {**BASE, "TERM": "xterm"})
    assert code == 2 and "PYTHONPATH" in out
    assert not report.exists()


def test_the_wrapper_hands_a_key_to_juki_connect(tmp_path: Path) -> None:
    conf, report = _conf(tmp_path)
    args = tmp_path / "args.txt"
    for argv in (["--key", FP, "--conf", str(conf)], [f"--conf={conf}", f"--key={FP}"],
                 ["--key", FP, str(conf)]):
        args.unlink(missing_ok=True)
        code, out = _run_on_pty(argv, {**BASE, "TERM": "xterm"})
        assert code == 0, out
        assert args.read_text().split("\n")[:-1] == ["connect", "--key", FP]
        umask, env = _report(report)
        assert umask == "0077" and env["JUKI_CONFIG"] == "/etc/juki/test.toml"
        assert env["TERM"] == "xterm" and "PYTHONPATH" not in env
    # Without a key (the older ForceCommand set-up): the console itself, no arguments.
    assert _run_on_pty(conf, {**BASE, "TERM": "xterm"})[0] == 0
    assert args.read_text().split() == []


@pytest.mark.parametrize("argv", [
    ["--key", "SHA256:short"], ["--key", FP + ";id"], ["--key", f"{FP} x"], ["--key"],
    ["--conf"], ["--evil"], ["--key", "MD5:" + FP[7:]],
])
def test_the_wrapper_refuses_a_bad_key_or_argument(tmp_path: Path, argv: list[str]) -> None:
    conf, report = _conf(tmp_path)
    code, out = _run_on_pty([*argv, "--conf", str(conf)] if argv[-1] != "--conf" else argv,
                            {**BASE, "TERM": "xterm"})
    assert code == 2 and "juki-console:" in out
    assert not report.exists()


SNIPPET = DEPLOY / "sshd_config.d" / "juki.conf"
DEBIAN_SSHD_CONFIG = """\
Include {dropins}/*.conf
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
"""
"""The active lines of Debian 12's /etc/ssh/sshd_config: the drop-ins come first."""


def _snippet() -> tuple[list[str], dict[str, str]]:
    lines = [line.split(None, 1) for line in SNIPPET.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    return lines[0], {key: value.strip() for key, value in lines[1:]}


def test_the_sshd_snippet_lets_only_the_door_command_name_the_keys() -> None:
    match, settings = _snippet()
    assert match == ["Match", "User juki"]
    assert settings["AuthorizedKeysFile"] == "none"
    assert settings["AuthorizedKeysCommand"] == (
        "/opt/juki/.venv/bin/juki ssh authorized-keys --config /etc/juki/juki.toml %u %t %k")
    assert settings["AuthorizedKeysCommandUser"] == "juki"
    for key, value in {
        "AuthenticationMethods": "publickey", "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no", "DisableForwarding": "yes",
        "PermitTTY": "yes", "PermitUserRC": "no", "ClientAliveInterval": "15",
        "ClientAliveCountMax": "2", "MaxSessions": "1",
    }.items():
        assert settings[key] == value, key
    # The key line's command= is the forced command: a ForceCommand would override it.
    assert "ForceCommand" not in settings and "ExposeAuthInfo" not in settings
    assert os.access(WRAPPER, os.X_OK)  # the key line's command runs it as it is


def _sshd_effective(tmp_path: Path, user: str) -> dict[str, str]:
    """``sshd -T`` for a connection of ``user`` on a Debian layout with the snippet."""
    dropins = tmp_path / "sshd_config.d"
    dropins.mkdir(exist_ok=True)
    shutil.copy(SNIPPET, dropins / "juki.conf")
    host_key = tmp_path / "host_ed25519"
    if not host_key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
                       check=True, timeout=30)
    config = tmp_path / "sshd_config"
    config.write_text(f"HostKey {host_key}\n" + DEBIAN_SSHD_CONFIG.format(dropins=dropins))
    checked = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True,
                             text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    shown = subprocess.run(
        [str(SSHD), "-T", "-f", str(config), "-C",
         f"user={user},host=counter.example,addr=192.0.2.7,laddr=192.0.2.1,lport=22"],
        capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    return dict(line.split(" ", 1) for line in shown.stdout.splitlines() if " " in line)


@pytest.mark.skipif(not SSHD.exists() or os.geteuid() != 0,
                    reason="needs /usr/sbin/sshd (openssh-server) and root (its privsep checks)")
def test_sshd_accepts_the_snippet_in_debians_layout_for_the_service_account_only(
    tmp_path: Path,
) -> None:
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    juki = _sshd_effective(tmp_path, "juki")
    assert juki["authorizedkeysfile"] == "none"
    assert juki["authorizedkeyscommand"].startswith("/opt/juki/.venv/bin/juki ssh authorized-keys")
    assert juki["authorizedkeyscommanduser"] == "juki"
    assert juki["authenticationmethods"] == "publickey"
    assert juki["passwordauthentication"] == juki["kbdinteractiveauthentication"] == "no"
    assert juki["disableforwarding"] == "yes"  # X11, agent, TCP and socket forwarding
    assert juki["permittty"] == "yes" and juki["permituserrc"] == "no"
    assert (juki["clientaliveinterval"], juki["clientalivecountmax"]) == ("15", "2")
    assert juki["maxsessions"] == "1"
    # Another user keeps the host's own settings: the Match ends with the drop-in, and
    # the lines of sshd_config after the Include are not swallowed by it.
    other = _sshd_effective(tmp_path, "admin")
    assert other["x11forwarding"] == "yes" and other["disableforwarding"] == "no"
    assert other["authorizedkeyscommand"] == "none"
    assert other["authorizedkeysfile"] == ".ssh/authorized_keys .ssh/authorized_keys2"
    assert "sftp /usr/lib/openssh/sftp-server" in other["subsystem"]
