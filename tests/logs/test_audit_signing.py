"""Anchors are signed with PyNaCl (libsodium), so a console never loads ``cryptography``'s
binding (about 10 MB of RSS; bench/ssh.py's directly started console). The key files and
signatures are the ones ``cryptography`` made before: Ed25519 is deterministic, so an
anchor signed by either verifies with the other.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from core.db import Database
from core.settings import Settings
from logs import signing
from tests.factories import PASSWORD, account

MESSAGES = (b"", b"juki-audit-anchor-v1\n" + "事象".encode() * 500, bytes(range(256)))


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_a_new_key_file_is_the_seed_and_its_pub_the_public_key(tmp_path: Path) -> None:
    """The files as before: base64 of the 32-byte seed, ``.pub`` base64 of the raw public
    key; ``cryptography`` reads the seed to the same public key and fingerprint."""
    key_file = tmp_path / "audit-signing.key"
    assert signing.create_key_file(key_file)
    assert not signing.create_key_file(key_file)  # there already: kept
    seed = base64.b64decode(key_file.read_text("ascii").strip(), validate=True)
    public = base64.b64decode(
        signing.public_path(key_file).read_text("ascii").strip(), validate=True)
    assert len(seed) == len(public) == signing.KEY_BYTES
    reference = Ed25519PrivateKey.from_private_bytes(seed)
    assert _raw_public(reference) == public == signing.load_public(key_file)
    signer = signing.load_signer(key_file)
    assert signer.public == public
    assert signer.fingerprint == signing.fingerprint(public)


def test_pynacl_and_cryptography_sign_alike_and_verify_each_other(tmp_path: Path) -> None:
    """A key file ``cryptography`` made (every anchor signed before PyNaCl): the same
    signatures, each side's verified by the other."""
    reference = Ed25519PrivateKey.generate()
    key_file = tmp_path / "audit-signing.key"
    key_file.write_bytes(base64.b64encode(reference.private_bytes_raw()) + b"\n")
    public = _raw_public(reference)
    signer = signing.load_signer(key_file)
    assert signer.public == public == signing.load_public(key_file)
    for message in MESSAGES:
        ours = signer.sign(message)
        theirs = base64.b64encode(reference.sign(message)).decode("ascii")
        assert ours == theirs
        Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(ours), message)
        assert signing.verify(public, message, theirs)
        assert not signing.verify(public, message + b"!", theirs)
        with pytest.raises(InvalidSignature):
            Ed25519PublicKey.from_public_bytes(public).verify(
                base64.b64decode(ours), message + b"!")


@pytest.mark.parametrize("signature", [
    "not base64!", base64.b64encode(b"\0" * 63).decode(), base64.b64encode(b"\0" * 64).decode(),
])
def test_a_bad_signature_is_false_not_an_error(tmp_path: Path, signature: str) -> None:
    assert signing.create_key_file(tmp_path / "k")
    public = signing.load_public(tmp_path / "k")
    assert not signing.verify(public, b"m", signature)
    signed = signing.load_signer(tmp_path / "k").sign(b"m")
    assert not signing.verify(public[:31], b"m", signed)  # a short key: false too
    assert not signing.verify(b"\xff" * 32, b"m", signed)  # another key's


HOME_SCRIPT = """
import asyncio, json, sys
from console.app import JukiApp
from console.context import Context
from core.settings import load_settings
from tests.screens.drive import SIZE, sign_in

async def main():
    app = JukiApp(Context(load_settings()))  # its own database handle: anchors configured
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", sys.argv[1])
        print(json.dumps([type(app.screen).__name__,
                          sorted(m for m in sys.modules if m.startswith("cryptography"))]))

asyncio.run(main())
"""


def test_a_console_signs_its_anchors_without_loading_cryptography(
    db: Database, settings: Settings, juki_env: dict[str, str], tmp_path: Path,
) -> None:
    """A console reaches home, an anchor signed after each of its commits, and holds no
    ``cryptography`` module; the anchors it signed verify."""
    from logs.anchor import verify
    from logs.anchor_lines import read_anchors

    account(db, settings, "clerk1", ["clerk"])
    anchors = settings.resolved_audit_anchor
    assert anchors is not None
    before = len(list(read_anchors(anchors))) if anchors.exists() else 0
    env = {**juki_env, "JUKI_AUDIT_ANCHOR_EVERY_EVENTS": "1"}
    out = subprocess.run([sys.executable, "-c", HOME_SCRIPT, PASSWORD], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == ["HomeScreen", []]
    signed = list(read_anchors(anchors))[before:]
    assert signed and all(a.sig for a in signed)  # the sign-in's events, anchored and signed
    checked = verify(db, anchors)
    assert checked.ok, checked.result.message
    assert checked.anchors >= len(signed)
