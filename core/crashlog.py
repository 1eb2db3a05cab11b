"""The error log: an unexpected error's traceback goes to ``<data_dir>/juki-error.log``
and the user sees one line saying where (no traceback reaches a user).

One writer for the console and every command, so the log lands in the data directory the
settings name (file or variables alike), mode 0600 whatever the umask: a traceback may
show a resident's name in a value it prints.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from core.files import open_append
from core.settings import Settings, SettingsError, load_settings

NAME = "juki-error.log"
UNEXPECTED = "予期しないエラーが起きました ({kind})。詳細: {path}"


def log_unexpected(settings: Settings, exc: BaseException) -> str:
    """Append the traceback (no locals: they may hold a password); return the user line."""
    path: Path | str = "/dev/null"
    try:
        target = settings.resolved_data_dir / NAME
        text = time.strftime("%Y-%m-%dT%H:%M:%S ") + "".join(
            traceback.format_exception(exc)) + "\n"
        fd = open_append(target)
        try:
            os.write(fd, text.encode("utf-8", "backslashreplace"))
        finally:
            os.close(fd)
        path = target
    except OSError:
        pass
    return UNEXPECTED.format(kind=type(exc).__name__, path=path)


def log_unexpected_from_env(exc: BaseException) -> str:
    """``log_unexpected`` where the settings may not have been read yet (a command that
    failed early): the data directory the settings name (file or variables), or the
    default one when they cannot be read."""
    try:
        settings = load_settings()
    except SettingsError:
        settings = Settings()
    return log_unexpected(settings, exc)
