"""The systemd units in deploy/ run a real ``juki`` command, on a schedule."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

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
