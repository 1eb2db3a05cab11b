"""The structlog JSON-lines copy of the audit trail, for shipping to other systems.

Lines are written after the database commit, so the stream never carries an event the
trail does not hold. Several processes may append to one file: each event is a single
``write`` on a file opened with O_APPEND, whole or not at all (``core.files.append_whole``:
a full disk leaves no half line). A line that cannot be written is lost from the copy,
not from the trail: ``report_failure`` says so on stderr and to whoever listens
(``failure_listeners``: the console shows it), and the act stands. Controls, bidi and
line-separator characters in values are written as ``\\uXXXX`` (``core.inert.dumps``): a
SIEM splitting on any line break, or someone paging the file, sees one inert line per
event, and the text is exact.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from core.files import append_whole, no_space, open_append
from core.inert import dumps


class _Lines:
    """The logger structlog hands each rendered event to: one line, appended whole or
    not at all (nothing buffered)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def info(self, message: str) -> None:
        append_whole(self.fd, (message + "\n").encode("utf-8"))

    def close(self) -> None:
        os.close(self.fd)


_logger: Any = None
_path: Path | None = None
_fh: _Lines | None = None

failure_listeners: list[Callable[[str], None]] = []
"""Told each line ``report_failure`` says (from any thread): the console shows it."""


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
    fh = _fh = _Lines(open_append(path))
    _logger = structlog.wrap_logger(
        fh,
        processors=[structlog.processors.JSONRenderer(serializer=dumps, sort_keys=True)],
        cache_logger_on_first_use=True,
    )


def report_failure(exc: BaseException, what: str = "写し (JSON-lines)") -> None:
    """An event committed but its witness (the copy's line, an anchor) could not be
    written: say so on stderr and to the listeners; the act stands."""
    why = "ディスクの空きがありません" if no_space(exc) else str(exc) or type(exc).__name__
    line = (f"操作ログの{what}を書けませんでした ({why})。"
            "操作はデータベースに記録されています。システム管理者に連絡してください。")
    print(f"juki: {line}", file=sys.stderr)
    for listener in list(failure_listeners):
        listener(line)


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
