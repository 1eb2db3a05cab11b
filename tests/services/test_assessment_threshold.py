"""The threshold judgment (docs/domain.md §13) at every band edge, as a pure function.

Each row: 対象人数, 取扱者数, incident → the three bands as the form words them and
what is required. The edges are taken on both sides (999/1,000, 9,999/10,000,
99,999/100,000, 299,999/300,000 people; 499/500 handlers), with and without an incident.
"""

from __future__ import annotations

import pytest

from core.errors import BadInput
from services.assessment.threshold import BASIC, FOCUSED, FULL, judge

B, BF, BX, NONE = (BASIC,), (BASIC, FOCUSED), (BASIC, FULL), ()

# (people, handlers, incident, people band, handler band, incident label, required)
CASES = [
    # < 1,000: optional whatever the rest
    (0, 0, False, "1,000人未満", "500人未満", "発生なし", NONE),
    (999, 499, False, "1,000人未満", "500人未満", "発生なし", NONE),
    (999, 500, False, "1,000人未満", "500人以上", "発生なし", NONE),
    (999, 499, True, "1,000人未満", "500人未満", "発生あり", NONE),
    (999, 500, True, "1,000人未満", "500人以上", "発生あり", NONE),
    # 1,000 – < 10,000: 基礎項目評価 whatever the rest
    (1_000, 499, False, "1,000人以上1万人未満", "500人未満", "発生なし", B),
    (1_000, 500, True, "1,000人以上1万人未満", "500人以上", "発生あり", B),
    (9_999, 499, False, "1,000人以上1万人未満", "500人未満", "発生なし", B),
    (9_999, 500, False, "1,000人以上1万人未満", "500人以上", "発生なし", B),
    (9_999, 499, True, "1,000人以上1万人未満", "500人未満", "発生あり", B),
    # 10,000 – < 100,000: 基礎 when few handlers and no incident, else + 重点
    (10_000, 499, False, "1万人以上10万人未満", "500人未満", "発生なし", B),
    (10_000, 500, False, "1万人以上10万人未満", "500人以上", "発生なし", BF),
    (10_000, 499, True, "1万人以上10万人未満", "500人未満", "発生あり", BF),
    (10_000, 500, True, "1万人以上10万人未満", "500人以上", "発生あり", BF),
    (99_999, 499, False, "1万人以上10万人未満", "500人未満", "発生なし", B),
    (99_999, 500, False, "1万人以上10万人未満", "500人以上", "発生なし", BF),
    (99_999, 499, True, "1万人以上10万人未満", "500人未満", "発生あり", BF),
    # 100,000 – < 300,000: + 重点 when few handlers and no incident, else + 全項目
    (100_000, 499, False, "10万人以上30万人未満", "500人未満", "発生なし", BF),
    (100_000, 500, False, "10万人以上30万人未満", "500人以上", "発生なし", BX),
    (100_000, 499, True, "10万人以上30万人未満", "500人未満", "発生あり", BX),
    (299_999, 499, False, "10万人以上30万人未満", "500人未満", "発生なし", BF),
    (299_999, 500, False, "10万人以上30万人未満", "500人以上", "発生なし", BX),
    (299_999, 499, True, "10万人以上30万人未満", "500人未満", "発生あり", BX),
    # ≥ 300,000: + 全項目 whatever the rest
    (300_000, 0, False, "30万人以上", "500人未満", "発生なし", BX),
    (300_000, 499, False, "30万人以上", "500人未満", "発生なし", BX),
    (300_000, 500, True, "30万人以上", "500人以上", "発生あり", BX),
]


@pytest.mark.parametrize(("people", "handlers", "incident", "pband", "hband", "iband", "req"),
                         CASES)
def test_band_edges(people: int, handlers: int, incident: bool, pband: str, hband: str,
                    iband: str, req: tuple[str, ...]) -> None:
    j = judge(people, handlers, incident)
    assert (j.people_band, j.handler_band, j.incident_label, j.required) == \
        (pband, hband, iband, req)
    assert j.summary.startswith(f"{pband} / {hband} / {iband} → ")


def test_the_wording_of_each_judgment() -> None:
    assert judge(500, 0, False).wording == \
        "特定個人情報保護評価の実施が義務付けられない（任意実施）"
    assert judge(5_000, 0, False).wording == "基礎項目評価の実施が義務付けられる"
    assert judge(50_000, 0, True).wording == "基礎項目評価及び重点項目評価の実施が義務付けられる"
    assert judge(500_000, 0, False).wording == "基礎項目評価及び全項目評価の実施が義務付けられる"


def test_the_reference_city_needs_the_basic_assessment() -> None:
    """docs/domain.md §13: about 48,000 residents, fewer than 500 handlers, no incident."""
    j = judge(48_000, 120, False)
    assert j.summary == ("1万人以上10万人未満 / 500人未満 / 発生なし → "
                         "基礎項目評価の実施が義務付けられる")
    assert j.required == (BASIC,)
    assert j.short == "基礎項目評価"


@pytest.mark.parametrize(("people", "handlers", "field"),
                         [(-1, 0, "対象人数"), (0, -1, "取扱者数")])
def test_a_negative_count_is_bad_input(people: int, handlers: int, field: str) -> None:
    with pytest.raises(BadInput, match=field):
        judge(people, handlers, False)
