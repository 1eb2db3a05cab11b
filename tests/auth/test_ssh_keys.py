"""SSH keys bound to accounts: fingerprints as ssh-keygen prints them, and the sign-in rule.

The fingerprint is checked against the real ``ssh-keygen -lf`` on a freshly generated
key; the binding rule is proved through ``sign_in`` (and ``sign_in_checked``, what the
sign-in screen calls) with the fingerprints sshd's ``SSH_USER_AUTH`` file would give.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from auth.accounts import add_user
from auth.signin import sign_in
from auth.ssh_keys import KEY_MISMATCH, KEY_MISSING, KEY_UNBOUND, add_keys, list_keys, remove_key
from auth.ssh_pubkey import KeyLineError, parse_key, parse_key_file, presented_fingerprints
from core.actor import Actor
from core.db import Database
from core.errors import BadInput, NotFound, Refused
from core.settings import Settings
from logs.audit import events_after, last_seq
from services.personnel.apply import sign_in_checked

PASSWORD = "asa-no-kaze-ga-fuku"
ADMIN = Actor(login="os:admin")
# Two fixed ed25519 public keys (made with ssh-keygen; the private halves were thrown away).
KEY_A = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHdlbWWlO6sPttiBpQoUWJP9xFXbXYRSgwpg5nvdBa5T"
         " tanaka@counter-3")
KEY_B = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIus3ozjHltlDopZIo6IeVn3fL3sW+9yRmgya4UYoVs+"
         " suzuki@counter-4")
KEY_C = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKWQA1eI6tK4nVO/RwuV7YNQJmhgcRULMyebYNQ9GVsu"


def fp(line: str) -> str:
    return parse_key(line).fingerprint


@pytest.fixture
def staff(db: Database, settings: Settings) -> None:
    for login, name in (("tanaka", "田中 一郎"), ("suzuki", "鈴木 花子"), ("sato", "佐藤 次郎")):
        add_user(db, settings, ADMIN, login=login, name=name, roles=["clerk"],
                 password=PASSWORD, department="市民課")
    add_keys(db, ADMIN, "tanaka", KEY_A + "\n", "tanaka.pub")
    add_keys(db, ADMIN, "suzuki", KEY_B + "\n", "suzuki.pub")


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")
@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_fingerprint_is_the_one_ssh_keygen_prints(tmp_path: Path, kind: str) -> None:
    key = tmp_path / f"id_{kind}"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "x@y", "-f", str(key)],
                   check=True, timeout=60)
    printed = subprocess.run(["ssh-keygen", "-lf", f"{key}.pub"], check=True, timeout=30,
                             capture_output=True, text=True).stdout.split()[1]
    (parsed,) = parse_key_file(Path(f"{key}.pub").read_text(), "k.pub")
    assert parsed.fingerprint == printed and printed.startswith("SHA256:")
    assert parsed.comment == "x@y"


@pytest.mark.parametrize("text, where", [
    ("", "公開鍵が1つもありません"),
    ("# only a comment\n", "公開鍵が1つもありません"),
    (KEY_A + "\nssh-ed25519\n", "2 行目"),
    ("ssh-foo AAAA x\n", "1 行目: 鍵の種類"),
    ("ssh-ed25519 not*base64 x\n", "1 行目: 鍵データが base64 ではありません"),
    # an rsa blob under an ed25519 name
    ("\n" + KEY_A.replace("ssh-ed25519", "ssh-rsa"), "2 行目: 鍵の種類と鍵データが一致しません"),
    ('from="10.0.0.1" ' + KEY_A, "1 行目: 鍵の種類"),
])
def test_a_bad_key_file_names_file_and_line(text: str, where: str) -> None:
    with pytest.raises(KeyLineError) as caught:
        parse_key_file(text, "bad.pub")
    assert "bad.pub" in str(caught.value) and where in str(caught.value)


def test_ssh_user_auth_file_gives_the_keys_used(tmp_path: Path) -> None:
    info = tmp_path / "auth-info"
    info.write_text(f"keyboard-interactive\npublickey {KEY_A.rsplit(' ', 1)[0]}\n"
                    f"publickey garbage\n")
    assert presented_fingerprints({"SSH_USER_AUTH": str(info)}) == (fp(KEY_A),)
    assert presented_fingerprints({"SSH_USER_AUTH": str(tmp_path / "gone")}) == ()
    assert presented_fingerprints({}) == ()


def test_keys_are_bound_listed_and_removed(db: Database, settings: Settings, staff) -> None:
    keys = list_keys(db, "tanaka")
    assert [(k.fingerprint, k.key_type, k.comment) for k in keys] == [
        (fp(KEY_A), "ssh-ed25519", "tanaka@counter-3")]
    assert list_keys(db, "sato") == []
    # One key opens one account: binding suzuki's key to sato is refused and recorded.
    seq = last_seq(db)
    with pytest.raises(Refused) as caught:
        add_keys(db, ADMIN, "sato", KEY_B, "b.pub")
    assert fp(KEY_B) in caught.value.message
    assert list_keys(db, "sato") == []
    assert [(e["action"], e["outcome"]) for e in events_after(db, seq, 100)] == [
        ("user.key.add", "refused")]
    with pytest.raises(BadInput, match=r"bad\.pub の 1 行目"):
        add_keys(db, ADMIN, "sato", "ssh-ed25519 ???", "bad.pub")
    with pytest.raises(NotFound):
        add_keys(db, ADMIN, "nobody", KEY_C, "c.pub")
    remove_key(db, ADMIN, "tanaka", fp(KEY_A))
    assert list_keys(db, "tanaka") == []
    with pytest.raises(NotFound):
        remove_key(db, ADMIN, "tanaka", fp(KEY_A))
    added = events_after(db, 0, 10_000)
    assert ("user.key.remove", "success", "tanaka") in [
        (e["action"], e["outcome"], e["target"]) for e in added]


def _last(db: Database) -> dict:
    return events_after(db, 0, 100_000)[-1]


def test_optional_a_bound_key_opens_only_its_account(
    db: Database, settings: Settings, staff,
) -> None:
    assert settings.ssh_key_binding == "optional"
    ident = sign_in(db, settings, "tanaka", PASSWORD, ssh_keys=(fp(KEY_A),))
    assert ident.login == "tanaka"
    assert json.loads(_last(db)["details"]) == {"ssh_key": fp(KEY_A)}
    # tanaka's key, another account — right password or not, known login or not.
    for login, password in (("suzuki", PASSWORD), ("sato", PASSWORD), ("sato", "wrong"),
                            ("nobody-here", PASSWORD)):
        with pytest.raises(Refused) as caught:
            sign_in_checked(db, settings, login, password, ssh_keys=(fp(KEY_A),))
        assert caught.value.message == KEY_MISMATCH
        assert "tanaka" not in caught.value.message
        ev = _last(db)
        assert (ev["action"], ev["outcome"], ev["target"]) == ("signin.failure", "refused", login)
        assert json.loads(ev["details"]) == {"reason": "ssh_key_mismatch",
                                             "fingerprint": fp(KEY_A)}
    # The mismatch did not count toward sato's lockout: a right password still works.
    # With no key (a local terminal) or an unbound key, sign-in is as before.
    assert sign_in(db, settings, "sato", PASSWORD).login == "sato"
    unbound = fp(KEY_C)
    assert sign_in(db, settings, "sato", PASSWORD, ssh_keys=(unbound,)).login == "sato"


def test_required_a_key_bound_to_the_login_must_be_used(
    db: Database, settings: Settings, staff,
) -> None:
    required = settings.with_(ssh_key_binding="required")
    assert sign_in(db, required, "suzuki", PASSWORD, ssh_keys=(fp(KEY_B),)).login == "suzuki"
    unbound = fp(KEY_C)
    for login, keys, message, reason in (
        ("suzuki", (), KEY_MISSING, "ssh_key_missing"),
        ("sato", (unbound,), KEY_UNBOUND, "ssh_key_unbound"),
        ("suzuki", (fp(KEY_A),), KEY_MISMATCH, "ssh_key_mismatch"),
    ):
        with pytest.raises(Refused) as caught:
            sign_in_checked(db, required, login, PASSWORD, ssh_keys=keys)
        assert caught.value.message == message
        details = json.loads(_last(db)["details"])
        assert details["reason"] == reason
        assert details.get("fingerprint") == (keys[0] if keys else None)
    # Off: keys are not looked at.
    off = settings.with_(ssh_key_binding="off")
    assert sign_in(db, off, "suzuki", PASSWORD, ssh_keys=(fp(KEY_A),)).login == "suzuki"
    # A mistyped setting fails closed and names itself.
    with pytest.raises(Refused, match="ssh_key_binding"):
        sign_in(db, settings.with_(ssh_key_binding="requird"), "tanaka", PASSWORD,
                ssh_keys=(fp(KEY_A),))
