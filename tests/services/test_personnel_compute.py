"""The change computation for each 異動区分, without a database (``plan_round``)."""

from __future__ import annotations

from datetime import date

import pytest

from services.personnel.changefile import ChangeRow
from services.personnel.compute import Person, plan_round
from services.personnel.policy import parse_policy

POLICY = parse_policy(
    """
[[rule]]
department = "市民課"
post = "係員"
roles = ["clerk"]
[[rule]]
department = "市民課"
post = "係長"
roles = ["reviewer"]
[[rule]]
department = "情報政策課"
roles = ["admin"]
""",
    "test",
)

D1, D2, D3 = date(2026, 4, 1), date(2026, 4, 15), date(2026, 5, 1)


def row(n: int, day: date, no: str, kind: str, old: str = "", new: str = "",
        old_post: str = "", new_post: str = "") -> ChangeRow:
    return ChangeRow(n, day, no, f"職員{no}", kind, old, new, old_post, new_post)


def clerk(no: str = "1", enabled: bool = True) -> Person:
    return Person(no, f"職員{no}", "市民課", "係員", "在職", True, enabled, frozenset({"clerk"}))


def actions(plan):  # type: ignore[no-untyped-def]
    return [(c.effective_on, c.staff_no, c.action, c.role) for c in plan.changes]


def test_hire_grants_the_policy_roles() -> None:
    plan = plan_round([row(2, D1, "9", "採用", new="市民課", new_post="係員")], {}, POLICY)
    assert not plan.problems
    assert actions(plan) == [(D1, "9", "grant", "clerk")]
    assert plan.people["9"].status == "在職"


def test_transfer_in_from_another_department() -> None:
    person = Person("1", "職員1", "総務課", "主事", "在職", True, True, frozenset())
    plan = plan_round([row(2, D1, "1", "転入", "総務課", "市民課", "主事", "係長")],
                      {"1": person}, POLICY)
    assert actions(plan) == [(D1, "1", "grant", "reviewer")]


def test_promotion_within_the_section_revokes_and_grants_on_the_day() -> None:
    plan = plan_round([row(2, D1, "1", "転入", "市民課", "市民課", "係員", "係長")],
                      {"1": clerk()}, POLICY)
    assert actions(plan) == [(D1, "1", "revoke", "clerk"), (D1, "1", "grant", "reviewer")]


def test_transfer_out_to_a_department_without_roles_revokes_and_disables() -> None:
    plan = plan_round([row(2, D1, "1", "転出", "市民課", "税務課", "係員", "主事")],
                      {"1": clerk()}, POLICY)
    assert actions(plan) == [(D1, "1", "revoke", "clerk"), (D1, "1", "disable", "")]
    assert plan.people["1"].status == "転出"


def test_transfer_out_to_a_department_with_roles_keeps_the_account() -> None:
    plan = plan_round([row(2, D1, "1", "転出", "市民課", "情報政策課", "係員", "主査")],
                      {"1": clerk()}, POLICY)
    assert actions(plan) == [(D1, "1", "revoke", "clerk"), (D1, "1", "grant", "admin")]
    assert plan.people["1"].status == "在職"


def test_retirement_revokes_everything_held_even_a_role_given_by_hand() -> None:
    held = Person("1", "職員1", "市民課", "係員", "在職", True, True,
                  frozenset({"clerk", "auditor"}))
    plan = plan_round([row(2, D1, "1", "退職", "市民課")], {"1": held}, POLICY)
    assert actions(plan) == [
        (D1, "1", "revoke", "auditor"), (D1, "1", "revoke", "clerk"), (D1, "1", "disable", ""),
    ]
    assert plan.people["1"].status == "退職"


def test_leave_and_return() -> None:
    plan = plan_round([row(2, D1, "1", "休職"), row(3, D3, "1", "復職")],
                      {"1": clerk()}, POLICY)
    assert actions(plan) == [
        (D1, "1", "revoke", "clerk"), (D1, "1", "disable", ""),
        (D3, "1", "enable", ""), (D3, "1", "grant", "clerk"),
    ]


def test_moving_out_and_back_within_one_round() -> None:
    rows = [row(2, D1, "1", "転出", "市民課", "税務課", "係員", "主事"),
            row(3, D2, "1", "転入", "税務課", "市民課", "主事", "係員")]
    plan = plan_round(rows, {"1": clerk()}, POLICY)
    assert not plan.problems
    assert actions(plan) == [
        (D1, "1", "revoke", "clerk"), (D1, "1", "disable", ""),
        (D2, "1", "enable", ""), (D2, "1", "grant", "clerk"),
    ]


def test_out_and_back_on_the_same_day_nets_to_nothing() -> None:
    rows = [row(2, D1, "1", "転出", "市民課", "税務課", "係員", "主事"),
            row(3, D1, "1", "転入", "税務課", "市民課", "主事", "係員")]
    plan = plan_round(rows, {"1": clerk()}, POLICY)
    assert not plan.problems and plan.changes == ()


def test_a_new_hire_without_an_account_gets_grants_to_apply_later() -> None:
    plan = plan_round([row(2, D1, "9", "採用", new="情報政策課", new_post="主事")], {}, POLICY)
    assert actions(plan) == [(D1, "9", "grant", "admin")]


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ([row(2, D1, "7", "退職")], "2行目 職員番号: 7 は職員台帳にありません"),
        ([row(2, D1, "1", "採用", new="市民課", new_post="係員")], "2行目 異動区分"),
        ([row(2, D1, "1", "転出", "総務課", "税務課")], "2行目 旧所属: 職員台帳では「市民課」"),
        ([row(2, D1, "1", "復職")], "休職中ではありません"),
        ([row(2, D1, "1", "退職"), row(3, D2, "1", "休職")], "3行目 異動区分"),
    ],
)
def test_rows_that_contradict_the_registry_are_named(rows, words) -> None:  # type: ignore[no-untyped-def]
    plan = plan_round(rows, {"1": clerk()}, POLICY)
    assert any(words in p for p in plan.problems), plan.problems
