"""The audit signing key: anchors are signed with Ed25519, so a line of the anchor file
cannot be rewritten by someone who holds the database and the file but not this key
(docs/architecture.md §10).

The key file (``audit_signing_key_file``) holds the 32-byte private key in base64, mode
0600: the service account's alone, never in the database nor in its backups, so a
database user, a DBA or a stolen dump cannot sign. Beside it ``<key file>.pub`` holds
the public key in base64: all a verifier needs, safe to copy off the host. The trail's
row records the public key's fingerprint (``SHA256:`` and the unpadded base64 of its
SHA-256, as OpenSSH writes one), so a key put in the place of the first is found.

PyNaCl (libsodium) signs and verifies, not ``cryptography``: its binding costs about 10 MB
of RSS in every process that loads it, and every console signs anchors (bench/ssh.py's
directly started console, ≤ 80 MB). Ed25519 is deterministic: both give the same
signature for the same key and message (``tests/logs/test_audit_signing.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from core.errors import Refused
from core.files import create_private

KEY_BYTES = 32


class SigningKeyError(Refused):
    """The signing key or its public half is missing or unreadable (a failed check)."""


def public_path(key_file: Path) -> Path:
    """Where the public key lives: beside the key file, ``.pub`` added."""
    return key_file.with_name(key_file.name + ".pub")


def fingerprint(public: bytes) -> str:
    """``SHA256:`` and the unpadded base64 of the raw public key's SHA-256."""
    digest = base64.b64encode(hashlib.sha256(public).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


def create_key_file(key_file: Path) -> bool:
    """Make a new key and its ``.pub`` unless the key file is there; True when made. Both
    mode 0600 (``core.files``): the public key is public, but nothing juki writes is
    open to others; copy it where a verifier needs it."""
    key = SigningKey.generate()
    if not create_private(key_file, base64.b64encode(bytes(key)) + b"\n"):  # the seed
        return False
    pub = public_path(key_file)
    pub.unlink(missing_ok=True)  # a stale one from an earlier key would mislead
    create_private(pub, base64.b64encode(bytes(key.verify_key)) + b"\n")
    return True


def _read_b64(path: Path, what: str) -> bytes:
    try:
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        raise SigningKeyError(
            f"操作ログの{what} {path} がありません。`juki db init` で作るか、"
            "バックアップから戻してください (audit_signing_key_file)。") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyError(
            f"操作ログの{what} {path} を読めません: {type(exc).__name__}") from None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise SigningKeyError(f"操作ログの{what} {path} の内容が正しくありません。")
    return raw


@dataclass(frozen=True)
class Signer:
    """The private key, loaded once per process (``logs.anchor`` signs with it)."""

    key: SigningKey
    public: bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.key.sign(message).signature).decode("ascii")


def load_signer(key_file: Path) -> Signer:
    key = SigningKey(_read_b64(key_file, "署名鍵"))  # the 32-byte seed
    return Signer(key, bytes(key.verify_key))


def load_public(key_file: Path) -> bytes:
    """The public key a verifier uses: ``<key file>.pub``, or, without it, the one the
    key file gives. Both there and not the same key is refused."""
    pub = public_path(key_file)
    if not pub.exists():
        return load_signer(key_file).public
    public = _read_b64(pub, "署名の公開鍵")
    if key_file.exists() and load_signer(key_file).public != public:
        raise SigningKeyError(
            f"操作ログの署名の公開鍵 {pub} は署名鍵 {key_file} のものではありません。")
    return public


def verify(public: bytes, message: bytes, signature: str) -> bool:
    """True when ``signature`` (base64) is ``public``'s over ``message``."""
    try:
        raw = base64.b64decode(signature, validate=True)
        VerifyKey(public).verify(message, raw)
    except (binascii.Error, ValueError, BadSignatureError):  # nacl's ValueError is one too
        return False
    return True
