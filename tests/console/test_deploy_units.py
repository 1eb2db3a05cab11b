"""The systemd units in deploy/ run a real ``juki`` command, on a schedule."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from console.cli import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _unit(name: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read(DEPLOY / name, encoding="utf-8")
    return cp


def test_apply_due_service_runs_the_apply_due_command() -> None:
    svc = _unit("juki-apply-due.service")
    argv = shlex.split(svc["Service"]["ExecStart"])
    assert Path(argv[0]).name == "juki"
    args = build_parser().parse_args(argv[1:])
    assert (args.cmd, args.access_cmd) == ("access", "apply-due")
    assert svc["Service"]["Type"] == "oneshot"
    assert svc["Service"]["User"] != "root"


def test_the_timer_triggers_it_and_catches_up() -> None:
    text = (DEPLOY / "juki-apply-due.timer").read_text("utf-8")
    assert "OnCalendar=*-*-* 00:01:00" in text and "Persistent=true" in text
    assert "WantedBy=timers.target" in text


def test_the_alert_scanner_service_runs_audit_watch_and_restarts() -> None:
    svc = _unit("juki-alerts.service")
    argv = shlex.split(svc["Service"]["ExecStart"])
    args = build_parser().parse_args(argv[1:])
    assert (args.cmd, args.audit_cmd, args.once) == ("audit", "watch", False)
    assert svc["Service"]["Restart"] == "always" and svc["Service"]["User"] != "root"


def test_the_console_server_unit_runs_the_server_as_the_service_account() -> None:
    svc = _unit("juki-console-server.service")["Service"]
    argv = shlex.split(svc["ExecStart"])
    assert argv[0] == "/opt/juki/.venv/bin/juki"
    assert build_parser().parse_args(argv[1:]).cmd == "console-server"
    assert (svc["User"], svc["Group"]) == ("juki", "juki")
    # The socket's folder: /run/juki, the service account's alone (console_server_socket).
    assert (svc["RuntimeDirectory"], svc["RuntimeDirectoryMode"]) == ("juki", "0700")
    assert svc["Environment"] == "JUKI_CONFIG=/etc/juki/juki.toml"
    for key, value in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/juki",
        "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes", "UMask": "0077",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6", "CapabilityBoundingSet": "",
        "Restart": "always",
    }.items():
        assert svc[key] == value, key


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_console_server_unit(tmp_path: Path) -> None:
    # verify needs the program to exist: the same unit with a stand-in for the venv's juki.
    juki = tmp_path / "juki"
    juki.write_text("#!/bin/sh\n")
    juki.chmod(0o755)
    text = (DEPLOY / "juki-console-server.service").read_text("utf-8")
    unit = tmp_path / "juki-console-server.service"
    unit.write_text(text.replace("/opt/juki/.venv/bin/juki", str(juki)), "utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60)
    # verify warns about unknown keys and bad values on stderr and still exits 0.
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
