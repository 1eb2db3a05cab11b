"""The settings file and variables as read, before they become ``core.settings.Settings``.

Apart so that the programs sshd runs on every connection (``juki ssh authorized-keys``)
can find the console server's socket for the price of ``tomllib``: building ``Settings``
(a dataclass of every setting, with ``dataclasses`` and ``core.files`` behind it) costs
more than the rest of their work (bench/ssh_keys.py).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping

DEFAULT_SERVER_SOCKET = "/run/juki/console.sock"
"""The default of the setting ``console_server_socket``."""


class SettingsError(ValueError):
    """A settings file or variable that cannot be used; the message is in Japanese."""


def read_table(path: str) -> dict[str, object]:
    """The settings table of the TOML file ``path`` (its ``[juki]`` table, or the whole
    file when it has none), unchecked; ``SettingsError`` naming the file when it is
    missing or not TOML."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise SettingsError(f"設定ファイル {path} が見つかりません。") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"設定ファイル {path} の書式が正しくありません: {exc}") from exc
    section = data.get("juki", data)
    if not isinstance(section, dict):
        raise SettingsError(f"設定ファイル {path}: [juki] は表でなければなりません。")
    return section


def raw_value(name: str, env: Mapping[str, str] | None = None) -> object | None:
    """One setting as given — ``JUKI_<NAME>`` when set, else the file's (``JUKI_CONFIG``)
    — or None when neither gives it. Not checked: ``load_settings`` does that."""
    env = os.environ if env is None else env
    value = env.get(f"JUKI_{name.upper()}", "")
    if value != "":
        return value
    path = env.get("JUKI_CONFIG")
    return read_table(path).get(name) if path else None
