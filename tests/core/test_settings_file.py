"""One setting as given (core.settings_file): what the programs sshd runs read instead of
building the whole Settings, so it must agree with ``load_settings`` on where a value
comes from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import load_settings
from core.settings_file import SettingsError, raw_value, read_table
from tests.conftest import ROOT


@pytest.mark.parametrize("table", ["[juki]\n", ""])
def test_one_value_comes_from_where_load_settings_takes_it(tmp_path: Path, table: str) -> None:
    cfg = tmp_path / "juki.toml"
    cfg.write_text(f'{table}console_server_socket = "/srv/j/file.sock"\n', "utf-8")
    for env in ({"JUKI_CONFIG": str(cfg)},
                {"JUKI_CONFIG": str(cfg), "JUKI_CONSOLE_SERVER_SOCKET": "/srv/j/env.sock"},
                {"JUKI_CONFIG": str(cfg), "JUKI_CONSOLE_SERVER_SOCKET": ""},
                {}):
        raw = raw_value("console_server_socket", env)
        full = load_settings(env).console_server_socket
        assert raw == (None if not env.get("JUKI_CONFIG") else full), env
    assert raw_value("console_server_socket", {}) is None
    assert load_settings({}).console_server_socket == "/run/juki/console.sock"


def test_a_file_that_cannot_be_read_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="見つかりません"):
        raw_value("console_server_socket", {"JUKI_CONFIG": str(tmp_path / "none.toml")})
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"console_server_socket = '\xff'\n")  # not UTF-8
    with pytest.raises(SettingsError, match="書式"):
        raw_value("console_server_socket", {"JUKI_CONFIG": str(bad)})
    odd = tmp_path / "odd.toml"
    odd.write_text('juki = "x"\n', "utf-8")
    with pytest.raises(SettingsError, match=r"\[juki\]"):
        load_settings({"JUKI_CONFIG": str(odd)})


def test_a_file_that_does_not_name_the_setting_is_not_parsed(tmp_path: Path) -> None:
    """Even a broken file: the program that asks goes on to the default (and the full
    settings, which check the file, name the problem where they are read)."""
    broken = tmp_path / "broken.toml"
    broken.write_text("[juki\ndata_dir = 1\n", "utf-8")
    assert raw_value("console_server_socket", {"JUKI_CONFIG": str(broken)}) is None
    named = tmp_path / "named.toml"
    named.write_text("[juki\nconsole_server_socket = 1\n", "utf-8")
    with pytest.raises(SettingsError, match="書式"):
        raw_value("console_server_socket", {"JUKI_CONFIG": str(named)})
    escaped = tmp_path / "escaped.toml"  # the name written with an escape is still found
    escaped.write_text('"console\\u005fserver_socket" = "/srv/j/e.sock"\n', "utf-8")
    assert raw_value("console_server_socket", {"JUKI_CONFIG": str(escaped)}) == "/srv/j/e.sock"
    assert load_settings({"JUKI_CONFIG": str(escaped)}).console_server_socket == "/srv/j/e.sock"


SOCKET_FILES = [
    'console_server_socket = "/srv/a.sock"\n',
    '# c\n[juki]\ndata_dir = "/d"\nconsole_server_socket = "/srv/a.sock"\n[other]\nx = 1\n',
    '[ juki ]\nconsole_server_socket="/srv/a.sock"\n',
    'console_server_socket = "/srv/top.sock"\n[juki]\nconsole_server_socket = "/srv/a.sock"\n',
    'console_server_socket = "/srv/top.sock"\n[juki]\ndata_dir = "/d"\n',
    '[other]\nconsole_server_socket = "/srv/o.sock"\n',
    'console_server_socket = "/srv/a.sock" # comment\n',
    "console_server_socket = '/srv/lit.sock'\n",
    'console_server_socket = "/srv/\\u0061.sock"\n',
    'juki.console_server_socket = "/srv/dotted.sock"\n',
    'x = """\n[juki]\nconsole_server_socket = "/srv/in-a-string"\n"""\n'
    'console_server_socket = "/srv/a.sock"\n',
    'x = [\n  "a",\n]\n[juki]\nconsole_server_socket = "/srv/a.sock"\n',
    '[juki.sub]\nconsole_server_socket = "/srv/sub.sock"\n',
    '[[juki]]\nconsole_server_socket = "/srv/arr.sock"\n',
    '"console_server_socket" = "/srv/quoted.sock"\n',
]


@pytest.mark.parametrize("text", SOCKET_FILES)
def test_the_quick_reading_agrees_with_tomllib(tmp_path: Path, text: str) -> None:
    """Plain lines are read without tomllib; whatever the file, the value is tomllib's."""
    cfg = tmp_path / "juki.toml"
    cfg.write_text(text, "utf-8")
    env = {"JUKI_CONFIG": str(cfg)}
    try:
        truth = read_table(str(cfg)).get("console_server_socket")
    except SettingsError:  # [[juki]]: an array of tables is no settings table
        with pytest.raises(SettingsError):
            raw_value("console_server_socket", env)
        return
    assert raw_value("console_server_socket", env) == truth


def test_a_plain_file_is_read_without_tomllib(tmp_path: Path) -> None:
    cfg = tmp_path / "juki.toml"
    cfg.write_text(SOCKET_FILES[1], "utf-8")
    probe = ("import sys; from core.settings_file import raw_value; "
             f"print(raw_value('console_server_socket', {{'JUKI_CONFIG': {str(cfg)!r}}}), "
             "'tomllib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.stdout.split() == ["/srv/a.sock", "False"], done.stderr
