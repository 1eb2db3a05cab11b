"""個人番号 at rest: sealed in the database under a key that lives outside it.

The assessment's top-priority promise is against leakage (漏えい): a copy of the database
— a backup tape, a PostgreSQL data directory, a dump handed to a vendor — must not hold
My Numbers in the clear. Every column that stores one is a ``SealedNumber``: the value is
sealed with AES-SIV (RFC 5297, deterministic authenticated encryption) on its way in and
opened on its way out, so the services and screens keep working with plain digits.

Deterministic on purpose: the same number seals to the same text under one key, so the
database can still refuse a number linked twice (its unique indexes) and find a resident
by number, without the number itself. What that reveals — that two rows hold the same
number — the unique indexes already enforce. A sealed value that was edited fails
authentication and is reported, never read as some other number. (Copying one row's
sealed value into another row is not caught here: the links are immutable by trigger and
every change of a proposal is recorded in the audit trail.)

The key is 64 random bytes in a file (``identifier_key_file``, mode 0600, created by
``juki db init``), read on first use: a console that never touches a number never loads
the cipher. Back it up apart from the database; without it the numbers are lost.

A key is checked against the database before its first use: ``juki db init`` stores a
check value (a fixed marker sealed under the key, ``identifier_key`` table), and a key
whose check value differs is refused. Without that, another key would not fail loudly:
a search by number would find nobody, and a new link would be sealed under the wrong key
beside numbers no one could then compare it with.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from core.errors import JukiError
from core.files import PRIVATE, make_dirs

KEY_BYTES = 64  # AES-256-SIV
PREFIX = "s1:"  # scheme version, so a later key or cipher can be told apart
SEALED_LENGTH = 64  # PREFIX + base64url of 16-byte tag + 12 digits, with room to spare
_CONTEXT = [b"juki:my-number"]  # associated data: sealed for this use only
NO_KEY = "個人番号の暗号鍵が設定されていません (identifier_key_file)。"
WRONG_KEY = ("個人番号の暗号鍵ファイル {path} はこのデータベースの鍵ではありません。"
             "このデータベースを作ったときの鍵をバックアップから戻してください "
             "(identifier_key_file)。")
CHECK_MARKER = "000000000000"  # what the check value seals (never a valid My Number)


class SealingError(JukiError):
    """The key is missing or wrong, or a sealed value does not open (tampered)."""

    exit_code = 1


def create_key_file(path: Path) -> bool:
    """Write a new random key to ``path`` unless one is there. True if written. Mode 0600
    whatever the umask (the console refuses a key open to others: core.private_files);
    a folder made for it 0700."""
    make_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     PRIVATE)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as f:
        os.fchmod(fd, PRIVATE)
        f.write(base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii") + "\n")
    return True


def read_key_file(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise SealingError(
            f"個人番号の暗号鍵ファイル {path} がありません。`juki db init` で作るか、"
            "バックアップから戻してください (identifier_key_file)。") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SealingError(f"個人番号の暗号鍵ファイル {path} を読めません: "
                           f"{type(exc).__name__}") from None
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise SealingError(f"個人番号の暗号鍵ファイル {path} の内容が正しくありません。")
    return key


def _seal_with(cipher: Any, value: str) -> str:
    sealed = cipher.encrypt(value.encode("ascii"), _CONTEXT)
    return PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """Which file is at ``path`` now (device, inode, mtime), or None when none is."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns


class Sealer:
    """Seals and opens values with the key in one file, loaded on first use.

    ``verify`` gets the key's check value when the key is loaded, before any use, and
    raises ``SealingError`` when the database holds another one (``core.db`` reads it).
    The file is looked at (one stat) on every use and loaded again when it is another
    file: after ``juki db rotate-key`` a running console takes the new key at its next
    number instead of sealing with the old one."""

    def __init__(self, key_file: Path | None,
                 verify: Callable[[str, Path], None] | None = None) -> None:
        self.key_file = key_file
        self._verify = verify
        self._cipher: Any = None
        self._stamp: tuple[int, int, int] | None = None
        self._lock = threading.Lock()

    def _aead(self) -> Any:
        if self.key_file is None:
            raise SealingError(NO_KEY)
        stamp = _stamp(self.key_file)
        if self._cipher is None or stamp != self._stamp:
            with self._lock:
                if self._cipher is None or stamp != self._stamp:
                    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

                    cipher = AESSIV(read_key_file(self.key_file))
                    if self._verify is not None:
                        self._verify(_seal_with(cipher, CHECK_MARKER), self.key_file)
                    self._cipher, self._stamp = cipher, stamp
        return self._cipher

    def ready(self) -> None:
        """Load (and check) the key now: SealingError when it is missing, unreadable or
        not this database's."""
        self._aead()

    def check_value(self) -> str:
        """The fixed marker sealed under this key: stored once, compared on every load."""
        return _seal_with(self._aead(), CHECK_MARKER)

    def seal(self, value: str) -> str:
        return _seal_with(self._aead(), value)

    def open(self, value: str) -> str:
        from cryptography.exceptions import InvalidTag

        if not value.startswith(PREFIX):
            raise SealingError(
                "個人番号が暗号化されずに保存されています (データベースの移行が未完了)。")
        body = value[len(PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return self._aead().decrypt(raw, _CONTEXT).decode("ascii")
        except (InvalidTag, ValueError):
            raise SealingError(
                "個人番号を復号できません: 暗号鍵が違うか、値が書き換えられています。") from None


def attach(dialect: Dialect, sealer: Sealer) -> None:
    """Give an engine's dialect the sealer its ``SealedNumber`` columns use."""
    # An attribute of our own on SQLAlchemy's dialect: the one object every column sees.
    dialect.juki_sealer = sealer  # type: ignore[attr-defined]


def sealer_of(dialect: Dialect) -> Sealer:
    found = getattr(dialect, "juki_sealer", None)
    if found is None:
        raise SealingError(NO_KEY)
    return found


class SealedNumber(TypeDecorator[str]):
    """A My Number column: plain digits in Python, sealed text in the database.

    The empty string (a draft without a number yet) is stored as it is, so partial
    indexes and checks that say ``number <> ''`` keep their meaning."""

    impl = String(SEALED_LENGTH)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if not value:
            return value
        return sealer_of(dialect).seal(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if not value:
            return value
        return sealer_of(dialect).open(value)
