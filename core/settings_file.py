"""The settings file and variables as read, before they become ``core.settings.Settings``.

Apart so that the programs sshd runs on every connection (``juki ssh authorized-keys``)
can find the console server's socket cheaply: building ``Settings`` (a dataclass of
every setting, with ``dataclasses`` and ``core.files`` behind it) and even importing
``tomllib`` cost more than the rest of their work (bench/ssh_keys.py).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's, nor collections.abc: see above
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_SERVER_SOCKET = "/run/juki/console.sock"
"""The default of the setting ``console_server_socket``."""


class SettingsError(ValueError):
    """A settings file or variable that cannot be used; the message is in Japanese."""


def read_table(path: str) -> dict[str, object]:
    """The settings table of the TOML file ``path`` (its ``[juki]`` table, or the whole
    file when it has none), unchecked; ``SettingsError`` naming the file when it is
    missing or not TOML."""
    return _table(path, _read(path))


def raw_value(name: str, env: Mapping[str, str] | None = None) -> object | None:
    """One setting as given — ``JUKI_<NAME>`` when set, else the file's (``JUKI_CONFIG``)
    — or None when neither gives it. Not checked: ``load_settings`` does that. A file
    whose text cannot name the setting (neither the name nor a ``\\u`` escape in it) is
    not parsed: tomllib costs a small program more than the rest of its start."""
    env = os.environ if env is None else env
    value = env.get(f"JUKI_{name.upper()}", "")
    if value != "":
        return value
    path = env.get("JUKI_CONFIG")
    if not path:
        return None
    data = _read(path)
    if name.encode() not in data and b"\\u" not in data and b"\\U" not in data:
        return None
    return _table(path, data).get(name)


def server_socket() -> str | None:
    """Where the console server listens (``console_server_socket``), or None when the
    settings cannot say (the caller then reads them whole, ``load_settings``, which names
    the problem). For the programs sshd runs on every connection: no ``Settings``."""
    try:
        value = raw_value("console_server_socket")
    except SettingsError:
        return None
    if value is None:
        return DEFAULT_SERVER_SOCKET
    return value if isinstance(value, str) and value else None


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError as exc:
        raise SettingsError(f"設定ファイル {path} が見つかりません。") from exc
    except OSError as exc:  # e.g. made 0600 but left to another owner: say so plainly
        raise SettingsError(f"設定ファイル {path} を読めません ({exc.strerror})。"
                            "サービスアカウントが所有するファイルにしてください。") from exc


def _table(path: str, data: bytes) -> dict[str, object]:
    import tomllib  # on use: see raw_value

    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"設定ファイル {path} の書式が正しくありません: {exc}") from exc
    section = parsed.get("juki", parsed)
    if not isinstance(section, dict):
        raise SettingsError(f"設定ファイル {path}: [juki] は表でなければなりません。")
    return section
