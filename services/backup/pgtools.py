"""``pg_dump`` and ``pg_restore`` as the application connects: found, addressed, run.

The application's URL is SQLAlchemy's (``postgresql+psycopg://user@host/db?options=…``);
the tools take libpq's. The same URL less the driver name is one, and its query
parameters (``options=-csearch_path=…``, ``sslmode``, ``host`` for a socket folder) mean
the same to libpq. The password never goes on the command line (``ps`` shows it): it is
handed over in ``PGPASSWORD``. The schema to dump is the one the application's
connection resolves (``current_schema()``, from the URL's search_path), given to
``pg_dump --schema`` quoted, so a name is matched exactly, never as a pattern.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL

from services.backup.errors import ToolFailed

_BIN_DIRS = "/usr/lib/postgresql"


def binary(name: str) -> str:
    """The path of ``name`` (``pg_dump``…): on PATH, else the newest Debian cluster's."""
    found = shutil.which(name)
    if found:
        return found
    root = Path(_BIN_DIRS)
    versions = sorted((p for p in root.glob("*/bin") if (p / name).exists()),
                      key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0))
    if versions:
        return str(versions[-1] / name)
    raise ToolFailed(f"{name} が見つかりません。PostgreSQL のクライアント (postgresql-client) "
                     "を導入してください。")


def conninfo(url: URL) -> tuple[str, dict[str, str]]:
    """(libpq URI without the password, the environment to run the tool with)."""
    env = dict(os.environ)  # PGSSLROOTCERT and the like still apply
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def schema_pattern(schema: str) -> str:
    """A ``--schema`` argument that matches exactly ``schema`` (quoted, not a pattern)."""
    return '"' + schema.replace('"', '""') + '"'


def version(tool: str) -> str:
    """``pg_dump (PostgreSQL) 15.4`` → ``pg_dump 15.4``."""
    done = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    words = done.stdout.split()
    return f"{Path(tool).name} {words[-1]}" if words else Path(tool).name


def run(args: list[str], env: dict[str, str], what: str) -> str:
    """Run a tool to the end; its stdout, or ``ToolFailed`` naming ``what`` and the
    tool's last words."""
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        said = " / ".join(line.strip() for line in done.stderr.strip().splitlines()[-3:])
        raise ToolFailed(f"{what}に失敗しました ({Path(args[0]).name} 終了コード "
                         f"{done.returncode}): {said}")
    return done.stdout
