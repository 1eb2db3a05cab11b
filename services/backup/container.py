"""The backup file: a tar of ``manifest.json`` and the payload, inside an age file.

age (through ``pyrage``: X25519 recipients, ChaCha20-Poly1305 in 64 KiB chunks, each
authenticated, the last one marked) is a format made for exactly this and readable with
the stock ``age`` tool: ``age -d -i key.txt FILE | tar x`` gives the manifest and the
payload without juki. The tar is PAX (payloads past 8 GiB) and streamed: a thread runs
``encrypt_io``/``decrypt_io`` on one end of a pipe while the tar is written to or read
from the other, so a payload of gigabytes is never held in memory, and the plaintext
exists only in the private folder (``workdir``).

Reading checks, in order: the identity opens the file (else ``WrongIdentity``), the
first member is a manifest that parses, the second is the payload of the manifest's
name and size, its SHA-256 is the manifest's, nothing follows, and age's last chunk
authenticates the end (a file cut short or altered anywhere is ``Damaged``).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pyrage
from pyrage import x25519

from core.errors import BadInput
from services.backup.errors import Damaged, NotABackup, WrongIdentity
from services.backup.manifest import MANIFEST_NAME, Manifest, parse
from services.backup.progress import Say, ticking
from services.backup.workdir import private_file

CHUNK = 1 << 20
MANIFEST_MAX = 1 << 20


# --- keys --------------------------------------------------------------------------------


def recipients_of(keys: Sequence[str], field: str) -> list[x25519.Recipient]:
    """age public keys (``age1…``) as recipients; one that does not parse is bad input
    naming ``field``."""
    found = []
    for key in keys:
        try:
            found.append(x25519.Recipient.from_str(key.strip()))
        except pyrage.RecipientError:
            raise BadInput(f"{field}: {key.strip()[:90]!r} は age の公開鍵 (age1…) ではありません。"
                           ) from None
    if not found:
        raise BadInput(f"{field}: 暗号化の宛先 (age の公開鍵 age1…) を指定してください。")
    return found


def identities_of(path: Path, field: str = "--identity") -> list[x25519.Identity]:
    """The age identities (``AGE-SECRET-KEY-1…`` lines, as ``age-keygen`` writes them) in
    ``path``; a missing or unreadable file, or one without any, is bad input."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            text = fh.read(MANIFEST_MAX)
    except FileNotFoundError:
        raise BadInput(f"{field}: 鍵ファイル {path} がありません。") from None
    except OSError as exc:
        raise BadInput(f"{field}: 鍵ファイル {path} を読めません ({exc.strerror})。") from None
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            found.append(x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise BadInput(f"{field}: 鍵ファイル {path} の {number} 行目は age の秘密鍵 "
                           "(AGE-SECRET-KEY-1…) ではありません。") from None
    if not found:
        raise BadInput(f"{field}: 鍵ファイル {path} に age の秘密鍵 (AGE-SECRET-KEY-1…) が"
                       "ありません。")
    return found


# --- writing -----------------------------------------------------------------------------


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(time.time())
    return info


@contextmanager
def _encrypting(out: BinaryIO, recipients: list[x25519.Recipient]) -> Iterator[BinaryIO]:
    """A pipe whose bytes a thread encrypts into ``out`` as they come."""
    read_end, write_end = os.pipe()
    failed: list[BaseException] = []

    def work() -> None:
        try:
            with open(read_end, "rb", buffering=CHUNK) as plain:
                pyrage.encrypt_io(plain, out, recipients)  # type: ignore[arg-type]
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=work, name="juki-encrypt", daemon=True)
    thread.start()
    try:
        with open(write_end, "wb", buffering=CHUNK) as sink:
            yield sink
    except BrokenPipeError:
        if not failed:
            thread.join()
        if not failed:
            raise
    finally:
        thread.join()
    if failed:
        raise failed[0]


def write(out: BinaryIO, manifest: Manifest, payload: Path, recipients: list[x25519.Recipient],
          say: Say) -> None:
    """The backup file into ``out``: manifest, then the payload, encrypted as they go."""
    raw = manifest.to_json()
    done = [0]

    def count(n: int) -> None:
        done[0] += n

    say(f"暗号化しています (age、宛先 {len(recipients)} 件)")
    with ticking(say, "暗号化", lambda: done[0], manifest.payload_bytes), \
            _encrypting(out, recipients) as sink, \
            tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar, \
            _Counting(open(payload, "rb"), count) as body:
        tar.addfile(_member(MANIFEST_NAME, len(raw)), io.BytesIO(raw))
        tar.addfile(_member(manifest.payload_name, manifest.payload_bytes), body)


class _Counting(io.RawIOBase):
    """A file read through, each chunk's size told to ``count`` (progress, hashing)."""

    def __init__(self, fh: BinaryIO, count: Callable[[int], None]) -> None:
        self._fh, self._count = fh, count

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        n = self._fh.readinto(buffer)  # type: ignore[attr-defined]
        self._count(n or 0)
        return n or 0

    def close(self) -> None:
        self._fh.close()
        super().close()


# --- reading -----------------------------------------------------------------------------


def _translated(exc: BaseException, path: Path, identity: Path) -> BaseException | None:
    """pyrage's failure in the operator's words; None when it is only the pipe closing
    because the reading side stopped first."""
    if isinstance(exc, pyrage.DecryptError):
        if "No matching keys" in str(exc):
            return WrongIdentity(
                f"--identity: 鍵ファイル {identity} の鍵ではバックアップ {path} を開けません。"
                "このバックアップの宛先 (backup_recipients) に対応する秘密鍵を指定してください "
                "(ファイルの先頭が壊れている場合も、こう見えます)。")
        return NotABackup(f"{path} は age で暗号化されたバックアップではありません "
                          f"(先頭を読めません: {exc})。")
    if isinstance(exc, BrokenPipeError):
        return None
    if isinstance(exc, OSError):
        return Damaged(f"バックアップ {path} は壊れているか改ざんされています (暗号文の認証に"
                       "失敗しました。途中で切れたファイルも、こうなります)。")
    return exc


def read(path: Path, identities: list[x25519.Identity], folder: Path, say: Say,
         identity_file: Path = Path("-")) -> tuple[Manifest, Path]:
    """Decrypt ``path`` and check it; (its manifest, the payload written into ``folder``
    with mode 0600, its SHA-256 the manifest's)."""
    try:
        source = open(path, "rb")  # closed by the thread
    except FileNotFoundError:
        raise BadInput(f"バックアップ {path} がありません。") from None
    except OSError as exc:
        raise BadInput(f"バックアップ {path} を読めません ({exc.strerror})。") from None
    read_end, write_end = os.pipe()
    failed: list[BaseException] = []

    def work() -> None:
        try:
            with source, open(write_end, "wb", buffering=CHUNK) as sink:
                pyrage.decrypt_io(source, sink, identities)  # type: ignore[arg-type]
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=work, name="juki-decrypt", daemon=True)
    thread.start()
    result: tuple[Manifest, Path] | None = None
    mine: BaseException | None = None
    try:
        with open(read_end, "rb", buffering=CHUNK) as plain:
            result = _untar(plain, path, folder, say)
            while plain.read(CHUNK):  # to the end: age authenticates the last chunk there
                pass
    except (Damaged, NotABackup, tarfile.TarError, OSError) as exc:
        mine = exc
    thread.join()
    for failure in failed:
        said = _translated(failure, path, identity_file)
        if said is not None:
            raise said
    if isinstance(mine, tarfile.TarError):
        raise Damaged(f"バックアップ {path} の中身 (tar) が途中で壊れています。")
    if mine is not None:
        raise mine
    assert result is not None
    return result


def _opened(plain: BinaryIO, path: Path) -> tarfile.TarFile:
    """The tar stream, its first header read: one that is not a tar is no backup."""
    try:
        return tarfile.open(fileobj=plain, mode="r|")
    except tarfile.TarError:
        raise NotABackup(f"{path} は juki のバックアップではありません "
                         "(中身が tar ではありません)。") from None


def _untar(plain: BinaryIO, path: Path, folder: Path, say: Say) -> tuple[Manifest, Path]:
    with _opened(plain, path) as tar:
        first = tar.next()
        if first is None or first.name != MANIFEST_NAME or not first.isfile() \
                or first.size > MANIFEST_MAX:
            raise NotABackup(f"{path} は juki のバックアップではありません (目録 {MANIFEST_NAME} "
                             "が先頭にありません)。")
        raw = tar.extractfile(first)
        assert raw is not None
        manifest = parse(raw.read())
        second = tar.next()
        if second is None or second.name != manifest.payload_name or not second.isfile() \
                or second.size != manifest.payload_bytes:
            raise Damaged(f"バックアップ {path} の本体 ({manifest.payload_name}, "
                          f"{manifest.payload_bytes} バイト) が目録のとおりではありません。")
        body = tar.extractfile(second)
        assert body is not None
        target = private_file(folder / Path(manifest.payload_name).name)
        digest = hashlib.sha256()
        done = 0
        say(f"復号しています ({path.name})")
        with ticking(say, "復号", lambda: done, manifest.payload_bytes), open(target, "wb") as out:
            while chunk := body.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                done += len(chunk)
        if tar.next() is not None:
            raise Damaged(f"バックアップ {path} に目録にない中身があります。")
    if digest.hexdigest() != manifest.payload_sha256:
        raise Damaged(f"バックアップ {path} の本体の SHA-256 が目録と一致しません "
                      f"(目録 {manifest.payload_sha256[:16]}…、実際 {digest.hexdigest()[:16]}…)。"
                      "壊れているか、差し替えられています。")
    return manifest, target
