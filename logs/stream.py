"""The structlog JSON-lines copy of the audit trail, for shipping to other systems.

Lines are written after the database commit, so the stream never carries an event the
trail does not hold. Several processes may append to one file: each event is a single
``write`` on a file opened with O_APPEND.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import structlog

_logger: Any = None
_path: Path | None = None


def configure(path: Path | None) -> None:
    """Send audit events to ``path`` (JSON lines); ``None`` turns the stream off."""
    global _logger, _path
    if path == _path and _logger is not None:
        return
    _path = path
    if path is None:
        _logger = None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a", encoding="utf-8", buffering=1)
    os.chmod(path, 0o600)
    _logger = structlog.wrap_logger(
        structlog.WriteLogger(fh),
        processors=[structlog.processors.JSONRenderer(ensure_ascii=False, sort_keys=True)],
        cache_logger_on_first_use=True,
    )


def emit(event: dict[str, Any]) -> None:
    if _logger is not None:
        fields = {k: v for k, v in event.items() if k != "details"}
        _logger.info(event["action"], **fields, details=json.loads(event["details"]))
