"""The role policy TOML: read as written, every mistake named by its rule number."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadInput
from core.settings import Settings
from services.personnel.policy import load_policy, parse_policy

GOOD = """
[[rule]]
department = "市民課"
post = "係員"
roles = ["clerk"]
[[rule]]
department = "市民課"
roles = ["reviewer"]
"""


def test_a_post_rule_wins_over_the_department_rule() -> None:
    policy = parse_policy(GOOD, "t")
    assert policy.roles_for("市民課", "係員") == {"clerk"}
    assert policy.roles_for("市民課", "係長") == {"reviewer"}
    assert policy.roles_for("税務課", "係員") == frozenset()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[[rule]]\ndepartment = \"市民課\"\nroles = [\"boss\"]\n", "ルール1: 不明な役割 boss"),
        ("[[rule]]\nroles = [\"clerk\"]\n", "ルール1: department（所属）がありません"),
        ("[[rule]]\ndepartment = \"a\"\nroles = \"clerk\"\n",
         "ルール1: roles（役割）は文字列の配列"),
        (GOOD + "[[rule]]\ndepartment = \"市民課\"\npost = \"係員\"\nroles = []\n",
         "ルール3: 市民課・係員 のルールが重複しています"),
        ("[[rule]]\ndepartment = \"a\"\nroles = []\nrole = 1\n", "ルール1: 不明な項目 role"),
        ("rule = [\n", "TOML として読めません"),
        ("", "[[rule]] が1つもありません"),
    ],
)
def test_mistakes_are_named(text: str, words: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_policy(text, "policy.toml")
    assert words in info.value.message and "policy.toml" in info.value.message


def test_the_built_in_policy_loads_and_a_configured_file_replaces_it(tmp_path: Path) -> None:
    built_in = load_policy(Settings())
    assert built_in.roles_for("市民課", "係長") == {"reviewer"}
    assert built_in.roles_for("情報政策課", "主査") == {"admin"}
    path = tmp_path / "p.toml"
    path.write_text(GOOD, "utf-8")
    assert load_policy(Settings(role_policy=str(path))).roles_for("市民課", "課長") == {"reviewer"}
    with pytest.raises(BadInput, match="読めません"):
        load_policy(Settings(role_policy=str(tmp_path / "missing.toml")))
