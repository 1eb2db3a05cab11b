"""OpenSSH public keys: parse a key line, fingerprint it, read what sshd says was used.

Kept free of the database layer: the console reads ``SSH_USER_AUTH`` before its first
paint (bench/startup), and importing SQLAlchemy there would cost a quarter of a second.

The fingerprint is the one ``ssh-keygen -lf`` prints: ``SHA256:`` and the base64 of the
SHA-256 of the key blob, without padding. Under sshd with ``ExposeAuthInfo yes`` the
variable ``SSH_USER_AUTH`` names a file listing the methods that authenticated the
connection, one a line; a key appears as ``publickey ssh-ed25519 AAAA…``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from core.freetext import problem

KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss",
})


class KeyLineError(ValueError):
    """A line that is not an OpenSSH public key; the message is Japanese."""


@dataclass(frozen=True)
class PublicKey:
    key_type: str
    blob: bytes
    comment: str

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.blob)


def fingerprint_of(blob: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


def _blob_type(blob: bytes) -> str:
    """The key type written inside the blob (a uint32 length, then the name)."""
    if len(blob) < 4:
        raise KeyLineError("鍵のデータが短すぎます")
    (size,) = struct.unpack(">I", blob[:4])
    if size > 64 or len(blob) < 4 + size:
        raise KeyLineError("鍵のデータが壊れています")
    return blob[4:4 + size].decode("ascii", "replace")


def parse_key(line: str) -> PublicKey:
    """One ``TYPE BASE64 [comment]`` line (an authorized_keys line with options is refused)."""
    parts = line.strip().split(None, 2)
    if len(parts) < 2:
        raise KeyLineError("「種類 鍵データ [コメント]」の形ではありません")
    key_type, data = parts[0], parts[1]
    if key_type not in KEY_TYPES:
        raise KeyLineError(f"鍵の種類 {key_type[:40]!r} は使えません")
    try:
        blob = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise KeyLineError("鍵データが base64 ではありません") from None
    if _blob_type(blob) != key_type:
        raise KeyLineError("鍵の種類と鍵データが一致しません")
    comment = parts[2].strip() if len(parts) > 2 else ""
    return PublicKey(key_type, blob, comment)


def parse_key_file(text: str, name: str) -> list[PublicKey]:
    """Every key of a public-key file; a bad line names the file and line number."""
    keys: list[PublicKey] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            key = parse_key(line)
            if why := problem(key.comment):
                raise KeyLineError(f"コメント: {why}")
            keys.append(key)
        except KeyLineError as exc:
            raise KeyLineError(f"ファイル {name} の {number} 行目: {exc}。") from None
    if not keys:
        raise KeyLineError(f"ファイル {name}: 公開鍵が1つもありません。")
    return keys


def presented_fingerprints(env: Mapping[str, str]) -> tuple[str, ...]:
    """Fingerprints of the keys sshd says authenticated this connection (may be none).

    A missing or unreadable file, or one with no ``publickey`` line (a password login),
    gives no key; the sign-in rule then decides (``ssh_key_binding``).
    """
    path = env.get("SSH_USER_AUTH", "")
    if not path:
        return ()
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            text = fh.read(65536)
    except OSError:
        return ()
    found: list[str] = []
    for line in text.splitlines():
        method, _, rest = line.strip().partition(" ")
        if method != "publickey":
            continue
        try:
            fp = parse_key(rest).fingerprint
        except KeyLineError:
            continue
        if fp not in found:
            found.append(fp)
    return tuple(found)
