"""画面の保存 (screen capture): only for the capture permission, with a reason, recorded.

A capture can carry anything on the screen — names, addresses, a revealed number — so it
is a recorded act like any other: the live permission check, a typed reason, a file of
the capture folder (``settings.capture_dir``) created new with mode 0600, and a
``screen.capture`` event holding the file's name, size and SHA-256, written after the
file so the trail names exactly what left the screen (the file is removed again when the
event cannot be recorded).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from auth.identity import Identity
from auth.roles import Perm
from core.clock import now
from core.db import Database
from core.errors import BadInput
from core.files import make_dirs
from core.freetext import field_text
from core.settings import Settings
from services import gate

ACTION = "screen.capture"
REASON_MAX = 200


@dataclass(frozen=True)
class Capture:
    path: Path
    sha256: str
    size: int


def capture_dir(settings: Settings) -> Path:
    return Path(settings.capture_dir) if settings.capture_dir else (
        settings.resolved_data_dir / "captures")


def save_capture(db: Database, settings: Settings, ident: Identity, svg: str,
                 reason: str) -> Capture:
    """Write ``svg`` (the screen as Textual exports it) and record it; see the docstring."""
    folder = capture_dir(settings)
    path: Path | None = None
    try:
        with gate.act(db, ident, ACTION, perm=Perm.SCREEN_CAPTURE, what="画面の保存") as a:
            try:
                reason = field_text("理由", reason, limit=REASON_MAX, required=(
                    f"画面を保存する理由を{REASON_MAX}文字以内で入力してください。"))
            except BadInput as exc:
                raise gate.Refusal.of(exc, "bad_input", message=exc.message) from None
            make_dirs(folder)
            data = svg.encode("utf-8")
            stamp = now().strftime("%Y%m%dT%H%M%S-%fZ")  # no 12-digit run (core.freetext)
            name = folder / f"capture_{ident.login}_{stamp}.svg"
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            path = name  # ours from here on: removed again if the event does not commit
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            digest = hashlib.sha256(data).hexdigest()
            a.record(target=name.name, severity="warning", details={
                "reason": reason, "file": str(name), "bytes": len(data), "sha256": digest,
            })
    except BaseException:
        if path is not None:
            path.unlink(missing_ok=True)
        raise
    return Capture(name, digest, len(data))
