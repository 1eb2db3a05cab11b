"""Linkage drift from a register import: the import's hook (``services.register.hooks``).

When a daily import changes any of the 4 items of a resident with an active My Number
link, the link is flagged (listed in the import's result and event) and, if it had no
fingerprint yet (初期移行), one is recorded from the items BEFORE the change (origin
基準記録), so ``juki linkage check`` reports the change instead of taking the new items as
its baseline. Registered by ``services/linkage/__init__.py``; runs inside the import's
transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, select

from core.actor import Actor
from core.clock import now
from core.db import table
from services.linkage.check import ORIGIN_BASELINE
from services.linkage.items import fingerprint
from services.linkage.models import LinkFingerprint
from services.register.hooks import LinkedChange, on_linked_residents_changed

_FP: Any = table(LinkFingerprint)
CHUNK = 900  # values in one IN (...) list
BATCH = 5000


def _four(columns: Mapping[str, Any]) -> dict[str, str]:
    return fingerprint(SimpleNamespace(**columns))


@on_linked_residents_changed
def drift_on_import(conn: Connection, actor: Actor,
                    changes: Sequence[LinkedChange]) -> list[int]:
    """The links whose resident's 4 items changed, in file order; a baseline fingerprint
    for each that had none, from the items before its first change in the file."""
    drifted = [c for c in changes if _four(c.before) != _four(c.after)]
    if not drifted:
        return []
    ids = sorted({c.link_id for c in drifted})
    have_fp = {link_id for i in range(0, len(ids), CHUNK)
               for (link_id,) in conn.execute(select(_FP.c.link_id).where(
                   _FP.c.link_id.in_(ids[i: i + CHUNK])))}
    taken_at = now()
    baselines: list[dict[str, Any]] = []
    flagged: list[int] = []
    for c in drifted:
        if c.link_id not in have_fp:
            baselines.append({"link_id": c.link_id, "origin": ORIGIN_BASELINE,
                              "proposal_id": None, "taken_at": taken_at,
                              "taken_by": actor.login, **_four(c.before)})
            have_fp.add(c.link_id)
        if c.link_id not in flagged:
            flagged.append(c.link_id)
    for i in range(0, len(baselines), BATCH):
        conn.execute(_FP.insert(), baselines[i: i + BATCH])
    return flagged
