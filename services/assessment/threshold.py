"""The threshold judgment (しきい値判断) of the privacy assessment, as a pure function.

docs/domain.md §13: from 対象人数, 取扱者数 and whether a 重大事故 happened in the past year to
the assessments the law requires, printed in the form's own wording (the bands and the
judgment as the 基礎項目評価書 writes them). ``RULES`` is the one place the table lives,
so a correction is one edit. The 10万人以上 rows are confirmed by published municipal
pages; the 1,000–100,000 rows follow the 指針 (第5の2) as commonly summarised *(check)*.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import BadInput

# 対象人数: (upper bound, exclusive, or None; the form's wording)
PEOPLE_BANDS: tuple[tuple[int | None, str], ...] = (
    (1_000, "1,000人未満"),
    (10_000, "1,000人以上1万人未満"),
    (100_000, "1万人以上10万人未満"),
    (300_000, "10万人以上30万人未満"),
    (None, "30万人以上"),
)
HANDLER_LIMIT = 500
HANDLERS_LOW, HANDLERS_HIGH = "500人未満", "500人以上"
INCIDENT_NONE, INCIDENT_SOME = "発生なし", "発生あり"

BASIC, FOCUSED, FULL = "基礎項目評価", "重点項目評価", "全項目評価"

# The judgment's wording on the form, by the evaluations required.
WORDING: dict[tuple[str, ...], str] = {
    (): "特定個人情報保護評価の実施が義務付けられない（任意実施）",
    (BASIC,): "基礎項目評価の実施が義務付けられる",
    (BASIC, FOCUSED): "基礎項目評価及び重点項目評価の実施が義務付けられる",
    (BASIC, FULL): "基礎項目評価及び全項目評価の実施が義務付けられる",
}

ANY, LOW, HIGH = "any", "low", "high"  # LOW: < 500 handlers and no incident; HIGH: the rest
# docs/domain.md §13, row by row: (対象人数 band index, 取扱者数 / 重大事故, required evaluations)
RULES: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (0, ANY, ()),
    (1, ANY, (BASIC,)),
    (2, LOW, (BASIC,)),
    (2, HIGH, (BASIC, FOCUSED)),
    (3, LOW, (BASIC, FOCUSED)),
    (3, HIGH, (BASIC, FULL)),
    (4, ANY, (BASIC, FULL)),
)


@dataclass(frozen=True)
class Judgment:
    """The three bands as the form words them and what is required."""

    people: int
    handlers: int
    incident: bool
    people_band: str
    handler_band: str
    incident_label: str
    required: tuple[str, ...]

    @property
    def wording(self) -> str:
        return WORDING[self.required]

    @property
    def summary(self) -> str:
        """The bands and the judgment on one line, as the issue and the form word them:
        「1万人以上10万人未満 / 500人未満 / 発生なし → 基礎項目評価の実施が義務付けられる」."""
        return (f"{self.people_band} / {self.handler_band} / {self.incident_label}"
                f" → {self.wording}")

    @property
    def short(self) -> str:
        """基礎項目評価 / 基礎項目評価 + 重点項目評価 / 任意実施."""
        return " + ".join(self.required) or "任意実施"


def people_band(people: int) -> tuple[int, str]:
    for i, (upper, label) in enumerate(PEOPLE_BANDS):
        if upper is None or people < upper:
            return i, label
    raise AssertionError("unreachable")  # the last band has no bound


def judge(people: int, handlers: int, incident: bool) -> Judgment:
    """The judgment for the counts; BadInput for a negative count."""
    if people < 0:
        raise BadInput("対象人数: 0 以上の数を指定してください。")
    if handlers < 0:
        raise BadInput("取扱者数: 0 以上の数を指定してください。")
    band, label = people_band(people)
    heavy = handlers >= HANDLER_LIMIT or incident
    for rule_band, cond, required in RULES:
        if rule_band == band and (cond == ANY or (cond == HIGH) == heavy):
            return Judgment(
                people=people, handlers=handlers, incident=incident, people_band=label,
                handler_band=HANDLERS_HIGH if handlers >= HANDLER_LIMIT else HANDLERS_LOW,
                incident_label=INCIDENT_SOME if incident else INCIDENT_NONE,
                required=required,
            )
    raise AssertionError(f"no rule for band {band}")  # RULES covers every band
