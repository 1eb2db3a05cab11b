"""The periodic full review of access rights (棚卸し).

The assessment promises that nobody without a current need keeps rights, former staff
included. A change round (``services.personnel.rounds``) catches the changes someone
reported; the 棚卸し catches the rest: once in a while every account is listed with its
rights for a reviewer, who keeps or revokes each one.

* **Start** (``start_campaign``; an admin with ``Perm.ACCESS_ADMIN``, or the CLI's OS
  operator): snapshots EVERY account (``app_user``) with its roles and, through
  ``staff.user_id``, its staff record, and flags each line:
  - 長期未使用 (dormant): no sign-in for ``inventory_dormant_days`` days or more (an
    account never signed in counts from when it was made);
  - 契約期間終了: a 委託先 or 会計年度任用 whose ``contract_end`` is before today;
  - 研修: a staff member whose last security training is older than
    ``inventory_training_months`` months (the day exactly that many months ago still
    counts as current), or who has none recorded;
  - 職員ひも付きなし: an account no staff record points to.
  Each line gets an assigned reviewer: the first (by login) of the staff of the same
  所属 — the staff record's, or the account's when there is none — whose enabled account
  holds ``Perm.ACCESS_CONFIRM``, never the account itself; blank when there is none,
  and then any security officer reviews it. Only one campaign is open at a time.
* **Decide** (``decide``): keep or revoke, by any holder of ``Perm.ACCESS_CONFIRM``
  except the line's own account (refused and recorded; the database refuses it too).
  Revoking removes the account's roles and ends its open console sessions (end reason
  ``revoked``) in the same transaction as the audit event. Decisions are conditional
  updates: two reviewers at once give one decision and one clear refusal.
* **Close** (``close_campaign``; on or after the deadline): the lines still undecided are
  reported (marked, listed, counted in the record); their roles are revoked only when
  ``inventory_revoke_undecided`` is on. With ``inventory_suspend_untrained`` on, the
  roles of staff flagged for training — and still overdue on the closing day — are
  suspended (revoked) and recorded, whatever the line's decision.

Office days are Japan time (JST). Every act is recorded (``access.inventory.*``); every
refusal too.

The modules, one concern each: ``views`` (what callers read, and who may), ``snapshot``
(the accounts, their flags and reviewers at the start), ``acts`` (start, decide),
``closing`` (close). This package's names are their public ones.
"""

from __future__ import annotations

from services.jp.office_days import months_before, office_day
from services.personnel.inventory.acts import (
    COMMENT_MAX,
    START,
    STILL_OPEN,
    decide,
    start_campaign,
)
from services.personnel.inventory.closing import (
    CLOSE,
    REVOKE_UNDECIDED,
    SUSPEND,
    close_campaign,
)
from services.personnel.inventory.snapshot import CONTRACT_TYPES, line_flags, training_overdue
from services.personnel.inventory.views import (
    ANY_OFFICER,
    OFFICER_ROLE,
    READ_PERMS,
    CampaignSummary,
    Closed,
    LineView,
    campaign_lines,
    get_campaign,
    get_line,
    list_campaigns,
    reviewer_lines,
    waiting,
)

__all__ = [
    "ANY_OFFICER",
    "CLOSE",
    "COMMENT_MAX",
    "CONTRACT_TYPES",
    "OFFICER_ROLE",
    "READ_PERMS",
    "REVOKE_UNDECIDED",
    "START",
    "STILL_OPEN",
    "SUSPEND",
    "CampaignSummary",
    "Closed",
    "LineView",
    "campaign_lines",
    "close_campaign",
    "decide",
    "get_campaign",
    "get_line",
    "line_flags",
    "list_campaigns",
    "months_before",
    "office_day",
    "reviewer_lines",
    "start_campaign",
    "training_overdue",
    "waiting",
]
