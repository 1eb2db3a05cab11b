"""The structlog JSON-lines copy of the audit trail, for shipping to other systems.

Lines are written after the database commit, so the stream never carries an event the
trail does not hold. Several processes may append to one file: each event is a single
``write`` on a file opened with O_APPEND. Controls, bidi and line-separator characters
in values are written as ``\\uXXXX`` (``core.inert.dumps``): a SIEM splitting on any line
break, or someone paging the file, sees one inert line per event, and the text is exact.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import structlog

from core.files import open_append
from core.inert import dumps

_logger: Any = None
_path: Path | None = None
_fh: TextIO | None = None


def configure(path: Path | None) -> None:
    """Send audit events to ``path`` (JSON lines); ``None`` turns the stream off."""
    global _logger, _path, _fh
    if path == _path and _logger is not None:
        return
    if _fh is not None:
        _fh.close()
    _logger, _path, _fh = None, path, None
    if path is None:
        return
    # Owner-only: the copy holds as much personal data as the trail itself. Only a regular
    # file we own is narrowed (never /dev/null, never another account's file).
    fd = open_append(path)
    fh = _fh = open(fd, "a", encoding="utf-8", buffering=1)
    _logger = structlog.wrap_logger(
        structlog.WriteLogger(fh),
        processors=[structlog.processors.JSONRenderer(serializer=dumps, sort_keys=True)],
        cache_logger_on_first_use=True,
    )


def report_failure(exc: BaseException) -> None:
    """An event committed but its line could not be written: say so on stderr."""
    print(f"juki: 操作ログの JSON-lines 出力に失敗しました: {exc}", file=sys.stderr)


def emit(event: dict[str, Any], trail: str = "") -> None:
    """One committed event: every column (details as an object, whose canonical JSON is
    the stored text: ``logs.recover`` hashes it again) and the trail's name."""
    if _logger is not None:
        fields = {k: v for k, v in event.items() if k != "details"}
        _logger.info(event["action"], **fields, details=json.loads(event["details"]),
                     trail=trail)


def emit_anchor(anchor: dict[str, Any]) -> None:
    """An anchor (the chain head a process reached) as its own record, not an event: its
    fields sit under ``anchor`` so a reader deduping events by ``seq`` never mistakes it."""
    if _logger is not None:
        _logger.info("audit.anchor", anchor=anchor)


def emit_note(action: str, note: dict[str, Any]) -> None:
    """A record of an act that is not an event of the chain, its fields under ``note``:
    a restore (``juki db restore``) must leave the restored trail ending where its backup
    ended, so that ``juki audit recover`` can append the missing tail — its record goes
    here, outside the database, instead."""
    if _logger is not None:
        _logger.info(action, note=note)
