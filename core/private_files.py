"""The private data: the register, the My Number key and the settings file are the
service account's alone, or the console does not start (docs/ssh.md "Private data").

Which files: the SQLite database with its ``-wal`` and ``-shm`` (with PostgreSQL there is
no file here: the server's own access rules guard the data), the My Number key
(``identifier_key_file``), the key that signs the trail's anchors
(``audit_signing_key_file``) and the settings file ``JUKI_CONFIG`` names. The settings file
is checked whatever it holds: a ``database_url`` may carry a password, a collector's URL
a token, and a rule "only when it holds a secret" would have to know every setting added
later; nobody but the service account has to read it (sshd runs the
AuthorizedKeysCommand as the service account too), so ``chmod 600`` costs nothing.

The check refuses instead of narrowing: a file found open to the group or to others has
been so for some time (a restore, a copy, an old set-up), and the operator must learn it
and fix what made it so. juki itself makes every file 0600 (``core.files``). A file that
is missing, or that this account cannot even look at, is not a finding here: the
database is then made 0600 when opened, and a missing key is said at its first use.

Only the standard library and the settings: the console runs this before the database
layers load (its sign-in paints first), so the SQLite URL is read here, not by SQLAlchemy.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from core.errors import Refused
from core.settings import Settings

OPEN_BITS = 0o077
"""Permission bits for the group and for others: none may be set on a private file."""

HEAD = ("個人データのファイルがサービスアカウント以外にも開かれているため、"
        "コンソールを起動しません (docs/ssh.md \"Private data\"):")


@dataclass(frozen=True)
class Problem:
    """One private file with a permission bit for the group or for others."""

    what: str
    path: Path
    mode: int

    def line(self) -> str:
        """The file, its mode, who may do what, and the command that fixes it."""
        return (f"  {self.what} {self.path}: モード {self.mode:04o} "
                f"({_who(self.mode)})。直し方: chmod 600 {shlex.quote(str(self.path))}")


def _who(mode: int) -> str:
    """What the mode gives beyond the owner, in words: 「グループに読み取りの権限」."""
    parts = []
    for name, shift in (("グループ", 3), ("その他のアカウント", 0)):
        bits = (mode >> shift) & 0o7
        if bits:
            kinds = [kind for bit, kind in ((4, "読み取り"), (2, "書き込み"), (1, "実行"))
                     if bits & bit]
            parts.append(f"{name}に{'・'.join(kinds)}")
    return "、".join(parts) + "の権限があります"


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names, as SQLAlchemy reads it (``sqlite:///rel.db`` is
    relative, ``sqlite:////abs.db`` absolute); None for another database or memory."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] != "sqlite" or not rest.startswith("/"):
        return None
    name = unquote(rest[1:].split("?", 1)[0])
    return Path(name) if name and name != ":memory:" else None


def private_files(settings: Settings,
                  env: Mapping[str, str] | None = None) -> list[tuple[str, Path]]:
    """(what, path) of every file that must be the service account's alone."""
    found: list[tuple[str, Path]] = []
    database = sqlite_path(settings.resolved_database_url)
    if database is not None:
        found += [("データベース", database),
                  ("データベースの WAL", Path(f"{database}-wal")),
                  ("データベースの共有メモリ", Path(f"{database}-shm"))]
    found.append(("個人番号の暗号鍵", settings.resolved_identifier_key_file))
    found.append(("操作ログの署名鍵", settings.resolved_audit_signing_key_file))
    config = (os.environ if env is None else env).get("JUKI_CONFIG")
    if config:
        found.append(("設定ファイル", Path(config)))
    return found


def exposed(settings: Settings, env: Mapping[str, str] | None = None) -> list[Problem]:
    """The private files (``private_files``) with a permission bit for the group or for
    others; ``env``: where ``JUKI_CONFIG`` is read (default: this process's)."""
    problems = []
    for what, path in private_files(settings, env):
        try:
            info = os.stat(path)  # a symlink's own mode means nothing: its target's counts
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_mode & OPEN_BITS:
            problems.append(Problem(what, path, stat.S_IMODE(info.st_mode)))
    return problems


def refusal(problems: list[Problem]) -> Refused:
    """The refusal naming every file found open (exit 1)."""
    return Refused("\n".join([HEAD, *(p.line() for p in problems)]))


def refuse_exposed(settings: Settings, env: Mapping[str, str] | None = None) -> None:
    """Raise ``Refused`` (exit 1) naming each private file open to the group or others;
    return when there is none. For ``juki console-server`` at its start; the console's
    own start (console/commands/console.py) also records the refusal in the trail."""
    problems = exposed(settings, env)
    if problems:
        raise refusal(problems)
