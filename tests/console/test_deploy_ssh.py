"""deploy/juki-console (the sshd ForceCommand wrapper) and deploy/sshd_config.d/juki.conf.

The wrapper runs for real on a pty with a stand-in console that reports its environment
and umask; sshd itself reads the snippet in tests/console/test_sshd_e2e.py (``sshd -t``
and a real connection).
"""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
WRAPPER = DEPLOY / "juki-console"


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


def test_the_sshd_snippet_forces_the_wrapper_and_closes_every_side_door() -> None:
    lines = [line.split(None, 1) for line in
             (DEPLOY / "sshd_config.d" / "juki.conf").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert lines[0] == ["Match", "Group juki"]
    settings = {key: value.strip() for key, value in lines[1:]}
    assert settings["ForceCommand"] == "/opt/juki/deploy/juki-console"
    for key, value in {
        "AllowTcpForwarding": "no", "AllowStreamLocalForwarding": "no",
        "AllowAgentForwarding": "no", "X11Forwarding": "no", "PermitTunnel": "no",
        "PermitTTY": "yes", "ExposeAuthInfo": "yes", "PermitUserRC": "no",
        "ClientAliveInterval": "15", "ClientAliveCountMax": "2",
    }.items():
        assert settings[key] == value, key
    assert os.access(WRAPPER, os.X_OK)
