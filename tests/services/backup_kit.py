"""What the backup tests share: an age key pair, a small seeded register, an empty
database to restore into (a new file, or a new PostgreSQL database with a schema of
another name), and a backup's contents taken apart and put back (to tamper with)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyrage

from core.db import Database
from core.settings import Settings
from services.backup.drill import empty_database
from services.register.seed import seed_register
from tests.factories import ADMIN


@dataclass(frozen=True)
class Keys:
    identity: pyrage.x25519.Identity
    file: Path  # as age-keygen writes it
    public: str


def age_keys(folder: Path, name: str = "backup-key.txt") -> Keys:
    ident = pyrage.x25519.Identity.generate()
    public = str(ident.to_public())
    path = folder / name
    path.write_text(f"# public key: {public}\n{ident}\n", encoding="ascii")
    return Keys(ident, path, public)


def seeded(db: Database, residents: int = 40) -> None:
    seed_register(db, ADMIN, residents=residents, seed=5)


@contextmanager
def empty_target(db: Database, tmp: Path, settings: Settings) -> Iterator[Database]:
    """An empty database with the live key file: a new SQLite file, or a new PostgreSQL
    database whose schema is named unlike the backup's (the restore renames it)."""
    folder = tmp / "restored"
    folder.mkdir(exist_ok=True)
    with empty_database(db, settings.resolved_identifier_key_file, folder / "juki.sqlite3",
                        "t_restored") as target:
        yield target


def members(path: Path, keys: Keys) -> dict[str, bytes]:
    """The decrypted tar's members, by name."""
    plain = pyrage.decrypt(path.read_bytes(), [keys.identity])
    with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def rewrap(path: Path, keys: Keys, parts: dict[str, bytes]) -> None:
    """``parts`` as a new backup file at ``path``, encrypted for the same recipient (as
    anyone holding the public key could)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        for name, data in parts.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(pyrage.encrypt(buf.getvalue(), [keys.identity.to_public()]))
