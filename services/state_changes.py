"""Which audit events record a change of the office's state (a My Number link decided,
rights granted or revoked, an account, the register loaded …), by their action.

``juki audit recover`` (``logs.recover``) puts lost events back into the trail but never
replays what they did: the database restored from a backup does not hold those changes.
It lists these events so that the operator sees what the restore took away and does it
again through the ordinary acts, with their own checks (docs/architecture.md §11). The
rule lives here, not in ``logs/``, because it names the services' acts.
"""

from __future__ import annotations

from typing import Any

# (action or action prefix, the kind of state it changes), first match wins.
KINDS: tuple[tuple[str, str], ...] = (
    ("linkage", "個人番号の紐付け"),
    ("access", "権限"),
    ("user", "アカウント"),
    ("hr", "職員台帳・人事異動"),
    ("register.import", "住民記録の取込"),
    ("register.seed", "住民記録 (合成)"),
    ("inspection", "自己点検"),
    ("assess.incident", "事故の記録"),
    ("transfer", "他システムへの転送"),
    ("db.rotate_key", "個人番号の暗号鍵"),
)

# Acts under those prefixes that only read (or write a file elsewhere): not changes.
READS = frozenset({
    "linkage.open", "linkage.queue", "linkage.history", "linkage.reveal_number",
    "linkage.report", "linkage.check", "access.report", "access.inventory.list",
    "user.list", "user.key.list", "inspection.view", "inspection.report",
})


def state_change(event: dict[str, Any]) -> str | None:
    """The kind of state a successful event changed, or None (a read, a refusal)."""
    action = str(event.get("action", ""))
    if event.get("outcome") != "success" or action in READS:
        return None
    for prefix, kind in KINDS:
        if action == prefix or action.startswith(prefix + "."):
            return kind
    return None
