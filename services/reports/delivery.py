"""A report file leaves only with its record: its name under data_dir/reports, the file
written 0600, then the event naming it (path, size, SHA-256).

Every exported report (the change round's, the self-inspection's) ends the same way: the
file is written first (``output.write_private``: a bad path is ``BadInput``, nothing
recorded), then the act's event is recorded through the gate — the caller's permission
read again inside that transaction — and if the event does not commit, the file is
removed again, so no report leaves without its record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auth.identity import Identity
from core.clock import now
from core.db import Database
from core.files import make_dirs
from core.settings import Settings
from services import gate
from services.gate import Perms, Who
from services.reports.output import local, write_private


def printed_by(who: Who) -> str:
    """The 印刷者 in a report's header: ``login (name)``, or the login alone."""
    if isinstance(who, Identity):
        return f"{who.login} ({who.name})" if who.name else who.login
    return who.login


def report_path(settings: Settings, stem: str, fmt: str) -> Path:
    """<data_dir>/reports/<stem>_<printed>.<fmt> (folder made as the data folder); two
    reports in one second keep both files (``-2``, ``-3`` …)."""
    folder = settings.resolved_data_dir / "reports"
    make_dirs(folder)
    stem = f"{stem}_{local(now()).strftime('%Y%m%dT%H%M%S')}"
    path, n = folder / f"{stem}.{fmt}", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.{fmt}"
    return path


def deliver(db: Database, who: Who, action: str, *, perm: Perms, what: str, target: str,
            path: Path, data: bytes, force: bool, details: dict[str, Any]) -> str:
    """Write ``data`` at ``path`` and record ``action`` with ``details`` and the file's
    path, size and SHA-256; the SHA-256. The file is removed when the event fails."""
    digest = write_private(path, data, force=force)
    try:
        with gate.act(db, who, action, perm=perm, what=what, target=target) as a:
            a.record(details={**details, "sha256": digest, "file": str(path.resolve()),
                              "bytes": len(data)})
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return digest
