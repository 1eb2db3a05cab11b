"""``juki user key add|list|remove`` as the real program: exit codes, messages, the trail."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from auth.signin import sign_in
from auth.ssh_keys import KEY_MISMATCH
from core.db import Database
from core.errors import Refused
from core.settings import Settings
from logs.audit import events_after
from tests.factories import PASSWORD, account

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None,
                                reason="ssh-keygen is not installed")


def _keygen(path: Path, comment: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True, timeout=60)
    out = subprocess.run(["ssh-keygen", "-lf", f"{path}.pub"], check=True, timeout=30,
                         capture_output=True, text=True).stdout
    return out.split()[1]


def test_key_add_list_remove(
    juki: Callable, db: Database, settings: Settings, tmp_path: Path,
) -> None:
    for login in ("tanaka", "suzuki"):
        account(db, settings, login, ["clerk"], name="田中 一郎", department="")
    fp = _keygen(tmp_path / "id_tanaka", "tanaka@counter-3")

    added = juki("user", "key", "add", "tanaka", str(tmp_path / "id_tanaka.pub"))
    assert added.returncode == 0, added.stderr
    assert fp in added.stdout and "tanaka@counter-3" in added.stdout
    listed = juki("user", "key", "list", "tanaka")
    assert listed.returncode == 0 and listed.stdout.startswith(fp + "\tssh-ed25519\t")
    assert "登録された鍵はありません" in juki("user", "key", "list", "suzuki").stdout

    # The same key for another account: refused (exit 1), nothing bound.
    again = juki("user", "key", "add", "suzuki", str(tmp_path / "id_tanaka.pub"))
    assert again.returncode == 1 and "既に登録されています" in again.stderr
    # Sign-in with tanaka's key as suzuki is refused; as tanaka it works.
    with pytest.raises(Refused, match=KEY_MISMATCH):
        sign_in(db, settings, "suzuki", PASSWORD, ssh_keys=(fp,))
    assert sign_in(db, settings, "tanaka", PASSWORD, ssh_keys=(fp,)).login == "tanaka"

    removed = juki("user", "key", "remove", "tanaka", fp)
    assert removed.returncode == 0, removed.stderr
    assert juki("user", "key", "remove", "tanaka", fp).returncode == 1
    assert juki("user", "key", "list", "nobody").returncode == 1
    actions = [(e["action"], e["outcome"], e["actor"].startswith("os:"))
               for e in events_after(db, 0, 10_000) if e["action"].startswith("user.key")]
    assert actions == [
        ("user.key.add", "success", True), ("user.key.list", "success", True),
        ("user.key.list", "success", True), ("user.key.add", "refused", True),
        ("user.key.remove", "success", True), ("user.key.remove", "refused", True),
    ]


def test_a_bad_key_file_exits_2_naming_file_and_line(
    juki: Callable, db: Database, settings: Settings, tmp_path: Path,
) -> None:
    account(db, settings, "tanaka", ["clerk"], name="田中 一郎", department="")
    _keygen(tmp_path / "id_ok", "ok")
    bad = tmp_path / "mixed.pub"
    bad.write_text((tmp_path / "id_ok.pub").read_text() + "ssh-ed25519 AAAA-not-base64 x\n")
    done = juki("user", "key", "add", "tanaka", str(bad))
    assert done.returncode == 2
    assert f"{bad} の 2 行目" in done.stderr and "Traceback" not in done.stderr
    # The private key is not a public key file either; a missing file is named too.
    private = juki("user", "key", "add", "tanaka", str(tmp_path / "id_ok"))
    assert private.returncode == 2 and "1 行目" in private.stderr
    missing = juki("user", "key", "add", "tanaka", str(tmp_path / "nope.pub"))
    assert missing.returncode == 2 and "nope.pub" in missing.stderr
    assert "登録された鍵はありません" in juki("user", "key", "list", "tanaka").stdout
