"""役割ポリシー: the TOML file that says which roles a 所属・職 carries.

Checked whole on load: every problem is named with its rule number, so a bad edit is
caught before any round is computed with it. The rights a person should hold are
``roles_for(department, post)``: the rule for that exact post, else the department's
rule without a post, else none.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from auth.roles import ROLES
from core.errors import BadInput
from core.settings import Settings
from services.settings_files import toml_document

_KEYS = {"department", "post", "roles"}


@dataclass(frozen=True)
class RolePolicy:
    source: str
    rules: dict[tuple[str, str], frozenset[str]]

    def roles_for(self, department: str, post: str) -> frozenset[str]:
        exact = self.rules.get((department, post))
        if exact is not None:
            return exact
        return self.rules.get((department, ""), frozenset())

    def departments(self) -> set[str]:
        return {d for d, _ in self.rules}


def parse_policy(text: str, source: str) -> RolePolicy:
    """Check and read a policy; BadInput lists every problem, by rule number."""
    data, problems = toml_document(text, f"役割ポリシー {source}", {"rule"},
                                   "（[[rule]] だけです）")
    rules: dict[tuple[str, str], frozenset[str]] = {}
    raw = data.get("rule", [])
    if not isinstance(raw, list) or not raw:
        problems.append("[[rule]] が1つもありません")
        raw = []
    for n, rule in enumerate(raw, start=1):
        where = f"ルール{n}"
        if not isinstance(rule, dict):
            problems.append(f"{where}: 表 ([[rule]]) ではありません")
            continue
        unknown = set(rule) - _KEYS
        if unknown:
            problems.append(f"{where}: 不明な項目 {', '.join(sorted(unknown))}")
        department, post, roles = rule.get("department"), rule.get("post", ""), rule.get("roles")
        if not isinstance(department, str) or not department.strip():
            problems.append(f"{where}: department（所属）がありません")
            continue
        if not isinstance(post, str):
            problems.append(f"{where}: post（職）は文字列で書いてください")
            continue
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            problems.append(f"{where}: roles（役割）は文字列の配列で書いてください")
            continue
        bad = [r for r in roles if r not in ROLES]
        if bad:
            problems.append(
                f"{where}: 不明な役割 {', '.join(bad)}（使える役割: {', '.join(ROLES)}）"
            )
            continue
        key = (department.strip(), post.strip())
        if key in rules:
            label = f"{key[0]}・{key[1]}" if key[1] else key[0]
            problems.append(f"{where}: {label} のルールが重複しています")
            continue
        rules[key] = frozenset(roles)
    if problems:
        raise BadInput(f"役割ポリシー {source}: " + "。".join(problems) + "。")
    return RolePolicy(source=source, rules=rules)


def load_policy(settings: Settings) -> RolePolicy:
    """The configured policy (``settings.role_policy``), or the built-in one."""
    if settings.role_policy:
        path = Path(settings.role_policy)
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.__class__.__name__
            raise BadInput(f"役割ポリシー {path}: 読めません ({why})。") from None
        return parse_policy(text, str(path))
    text = resources.files("services.personnel").joinpath("default_policy.toml").read_text("utf-8")
    return parse_policy(text, "(既定)")
