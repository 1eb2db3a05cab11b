"""The console server's answer to ``{"op": "keys", "user": U, "type": T, "key": K}``.

The same rule as the fallback (``services.door.authorized_line``) on the server's open
database, so a key question costs one indexed read. A message that is not the shape the
client sends gets an empty line (the key does not enter); a settings value the line cannot
be written with gets an empty line and ``error`` (the client prints it and exits 2).
"""

from __future__ import annotations

from typing import Any

from console.authorized_keys import MAX_FIELD
from core.db import Database
from core.settings import Settings, SettingsError
from services.door import authorized_line


def answer(db: Database, settings: Settings, message: dict[str, Any]) -> dict[str, str]:
    """``{"line": str}`` for a keys request; see the module docstring."""
    fields: dict[str, str] = {}
    for name, longest in MAX_FIELD.items():
        value = message.get(name)
        if not isinstance(value, str) or not value or len(value) > longest:
            return {"line": ""}
        fields[name] = value
    if message.get("op") != "keys":
        return {"line": ""}
    try:
        line = authorized_line(db, settings, fields["user"], fields["type"], fields["key"])
    except SettingsError as exc:
        return {"line": "", "error": str(exc)}
    return {"line": line}
