"""The console server's and client's small rules, without processes: what a console's
environment may hold, and what ``juki connect`` takes as its argument."""

from __future__ import annotations

import os
import pwd
import re
from pathlib import Path

import pytest

from console.connect import key_argument
from console.server import COLORTERMS, DEFAULT_TERM, TERMS, console_env

WRAPPER = Path(__file__).resolve().parents[2] / "deploy" / "juki-console"
FP = "SHA256:" + "Ab1+/" * 8 + "xyz"


def test_the_terminal_types_are_the_wrappers() -> None:
    text = WRAPPER.read_text()
    block = re.search(r'case "\$term" in\n(.*?)\) ;;', text, re.S)
    assert block is not None
    listed = {t.strip() for t in block.group(1).replace("\\\n", "").split("|")}
    assert listed == TERMS
    colors = re.search(r'case "\$\{COLORTERM:-\}" in\n\s*(.*?)\)', text)
    assert colors is not None and set(colors.group(1).split("|")) == COLORTERMS


@pytest.mark.parametrize("asked, term, lang, colorterm", [
    ({"TERM": "tmux-256color", "LANG": "ja_JP.UTF-8", "COLORTERM": "truecolor"},
     "tmux-256color", "ja_JP.UTF-8", "truecolor"),
    ({"TERM": "evil\x1b]0;x", "LANG": "en_US.ISO-8859-1", "COLORTERM": "yes"},
     DEFAULT_TERM, "C.UTF-8", None),
    ({"TERM": ["xterm"], "LANG": 7}, DEFAULT_TERM, "C.UTF-8", None),
    ({}, DEFAULT_TERM, "C.UTF-8", None),
])
def test_a_consoles_environment_is_the_allowlists_only(
    asked: dict, term: str, lang: str, colorterm: str | None,
) -> None:
    asked = {**asked, "PYTHONPATH": "/tmp/evil", "LD_PRELOAD": "/tmp/evil.so",
             "TEXTUAL_SCREENSHOT": "1", "JUKI_DATABASE_URL": "sqlite:////tmp/other",
             "HOME": "/tmp/evil", "SSH_CONNECTION": "203.0.113.9 52114 10.0.0.5 22"}
    env = console_env(asked)
    account = pwd.getpwuid(os.getuid())
    assert env == {
        "HOME": account.pw_dir, "USER": account.pw_name, "LOGNAME": account.pw_name,
        "PATH": "/usr/bin:/bin", "LANG": lang, "LC_ALL": lang, "TERM": term,
        "ESCDELAY": "25", "SSH_CONNECTION": "203.0.113.9 52114 10.0.0.5 22",
        **({"COLORTERM": colorterm} if colorterm else {}),
    }


@pytest.mark.parametrize("value", [
    "203.0.113.9 52114 10.0.0.5 22\x1b[2J", "203.0.113.9 52114 10.0.0.5", "a b c d e",
    "203.0.113.9 x 10.0.0.5 22", "1.2.3.4 1 5.6.7.8 2 " + "9" * 300, "$(id) 1 2 3",
])
def test_a_strange_ssh_connection_is_left_out(value: str) -> None:
    assert "SSH_CONNECTION" not in console_env({"SSH_CONNECTION": value})
    assert console_env({"SSH_CONNECTION": "2001:db8::7 50123 2001:db8::1 22"})[
        "SSH_CONNECTION"] == "2001:db8::7 50123 2001:db8::1 22"


def test_connect_takes_one_key_argument() -> None:
    assert key_argument(["--key", FP]) == FP
    assert key_argument([f"--key={FP}"]) == FP
    for bad in ([], ["--key"], [FP], ["--key", FP, "x"], ["--key", FP[:-1]],
                ["--key", "MD5:" + FP[7:]], ["--key", FP + "\n"], ["--config", FP]):
        assert key_argument(bad) is None, bad
