"""The reviewer reads the proposed number itself (docs/domain.md §8.1: take the number
from the applicant, then check it).

The check digit lets through about 1.7% of single-digit typos, so the reviewer compares
the 12 digits with the evidence the clerk recorded (個人番号カード, 通知カード …). The
number is shown like a resident's (``services.lookup.record.reveal_my_number``): only to
someone holding both the review and the reveal permission, after a recent password, with
a reason, for ``settings.reveal_seconds``, and recorded with the last four digits only.
"""

from __future__ import annotations

from auth.access import current_permissions, require
from auth.identity import Identity
from auth.roles import Perm
from auth.stepup import require_recent_auth
from core.db import Database
from core.errors import NotFound
from core.settings import Settings
from logs.audit import record
from services.disclosure import Revealed, reason_line, refuse_restricted, shown_for_a_while
from services.linkage.models import LinkProposal
from services.refusals import recorded_refusals
from services.register.models import Resident

ACTION = "linkage.reveal_number"
NO_NUMBER = "この申請にはまだ個人番号が入力されていません。"


@recorded_refusals(ACTION, "proposal")
def reveal_proposed_number(
    db: Database, settings: Settings, ident: Identity, proposal_id: int, *, reason: str,
) -> Revealed:
    """The proposal's 個人番号 in full, for ``settings.reveal_seconds``; recorded.

    Needs ``Perm.LINK_REVIEW`` and ``Perm.REVEAL_MY_NUMBER`` (each refusal recorded), a
    recent password and a reason (BadInput naming 理由); a DV等支援措置 resident also
    needs ``Perm.OPEN_RESTRICTED``. NotFound for an unknown proposal or one without a
    number yet. The event holds the reason and the last four digits, never the number.
    """
    target = f"proposal:{proposal_id}"
    for perm, what in ((Perm.LINK_REVIEW, "紐付けの確認"),
                       (Perm.REVEAL_MY_NUMBER, "個人番号の表示")):
        require(db, ident, perm, action=ACTION, what=what, target=target)
    require_recent_auth(db, ident, settings, action=ACTION, target=target)
    why = reason_line(reason, "申請された個人番号を表示する")
    may_restricted = Perm.OPEN_RESTRICTED in current_permissions(db, ident)
    restricted_resident: int | None = None
    with db.write(numbers=True) as s:
        p = s.get(LinkProposal, proposal_id)
        if p is None:
            raise NotFound(f"申請 #{proposal_id} が見つかりません。")
        resident = s.get(Resident, p.resident_id)
        restricted = bool(resident is not None and resident.dv_support)
        if restricted and not may_restricted:
            restricted_resident = p.resident_id  # recorded below, on its own
        else:
            if not p.number:
                raise NotFound(NO_NUMBER)
            number = p.number
            record(s, ident.actor, ACTION, target=target,
                   severity="high" if restricted else "info",
                   details={"reason": why, "last4": p.last4, "proposal": p.id,
                            "version": p.version, "restricted": restricted})
    if restricted_resident is not None:
        refuse_restricted(db, ident, ACTION, restricted_resident, "")
    return shown_for_a_while(number, settings)
