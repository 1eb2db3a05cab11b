"""The reviewer reads the proposed number itself (docs/domain.md §8.1: take the number
from the applicant, then check it).

The check digit lets through about 1.7% of single-digit typos, so the reviewer compares
the 12 digits with the evidence the clerk recorded (個人番号カード, 通知カード …). The
number is shown like a resident's (``services.lookup.record.reveal_my_number``, with the
rules both share in ``services.disclosure``): only to someone holding both the review and
the reveal permission, after a recent password, with a reason, for
``settings.reveal_seconds``, and recorded with the last four digits only.
"""

from __future__ import annotations

from auth.identity import Identity
from auth.roles import Perm
from core.db import Database
from core.errors import NotFound
from core.settings import Settings
from services import gate
from services.disclosure import Revealed, reason_line, restricted_refusal, shown_for_a_while
from services.linkage.models import LinkProposal
from services.register.models import Resident

ACTION = "linkage.reveal_number"
NO_NUMBER = "この申請にはまだ個人番号が入力されていません。"


def reveal_proposed_number(
    db: Database, settings: Settings, ident: Identity, proposal_id: int, *, reason: str,
) -> Revealed:
    """The proposal's 個人番号 in full, for ``settings.reveal_seconds``; recorded.

    Needs ``Perm.LINK_REVIEW`` and ``Perm.REVEAL_MY_NUMBER`` (each refusal recorded), a
    recent password and a reason (BadInput naming 理由); a DV等支援措置 resident also
    needs ``Perm.OPEN_RESTRICTED`` (refused, recorded high, naming the resident). NotFound
    for an unknown proposal or one without a number yet. The event holds the reason and
    the last four digits, never the number.
    """
    with gate.act(db, ident, ACTION, perm=Perm.LINK_REVIEW, what="紐付けの確認",
                  target=f"proposal:{proposal_id}", step_up=True, settings=settings,
                  numbers=True) as a:
        a.need(Perm.REVEAL_MY_NUMBER, "個人番号の表示")
        why = reason_line(reason, "申請された個人番号を表示する")
        p = a.s.get(LinkProposal, proposal_id)
        if p is None:
            raise NotFound(f"申請 #{proposal_id} が見つかりません。")
        resident = a.s.get(Resident, p.resident_id)
        restricted = bool(resident is not None and resident.dv_support)
        if restricted and not a.holds(Perm.OPEN_RESTRICTED):
            a.target = f"resident:{p.resident_id}"
            raise restricted_refusal()
        if not p.number:
            raise NotFound(NO_NUMBER)
        a.record(severity="high" if restricted else "info",
                 details={"reason": why, "last4": p.last4, "proposal": p.id,
                          "version": p.version, "restricted": restricted})
        return shown_for_a_while(p.number, settings)
