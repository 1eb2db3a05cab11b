"""和暦/西暦 dates: every form staff type is read, every impossible date is refused."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import BadInput
from services.jp.wareki import (
    ERAS,
    era_of,
    format_both,
    format_wareki,
    format_wareki_short,
    parse_date,
)

MEIJI = date(1868, 1, 25)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("令和7年12月12日", date(2025, 12, 12)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("令和1年5月1日", date(2019, 5, 1)),
        ("令和７年１２月１２日", date(2025, 12, 12)),
        ("令和 7年 12月 12日", date(2025, 12, 12)),
        ("令和七年十二月十二日", date(2025, 12, 12)),
        ("㋿7年12月12日", date(2025, 12, 12)),
        ("㍻元年1月8日", date(1989, 1, 8)),
        ("R7.12.12", date(2025, 12, 12)),
        ("r7.12.12", date(2025, 12, 12)),
        ("Ｒ７．１２．１２", date(2025, 12, 12)),
        ("R07/12/12", date(2025, 12, 12)),
        ("R7-12-12", date(2025, 12, 12)),
        ("H1.1.8", date(1989, 1, 8)),
        ("h31.4.30", date(2019, 4, 30)),
        ("S60.4.1", date(1985, 4, 1)),
        ("昭60.4.1", date(1985, 4, 1)),
        ("S64.1.7", date(1989, 1, 7)),
        ("T1.7.30", date(1912, 7, 30)),
        ("T15.12.24", date(1926, 12, 24)),
        ("M45.7.29", date(1912, 7, 29)),
        ("M1.1.25", date(1868, 1, 25)),
        ("1985-04-01", date(1985, 4, 1)),
        ("1985/4/1", date(1985, 4, 1)),
        ("1985.4.1", date(1985, 4, 1)),
        ("1985年4月1日", date(1985, 4, 1)),
        ("西暦1985年4月1日", date(1985, 4, 1)),
        ("19850401", date(1985, 4, 1)),
        ("１９８５－０４－０１", date(1985, 4, 1)),
        ("1985ー04ー01", date(1985, 4, 1)),
        ("  1985-04-01\u3000", date(1985, 4, 1)),
        ("2024-02-29", date(2024, 2, 29)),
    ],
)
def test_reads_what_staff_type(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "平成31年5月1日",  # that day is 令和元年5月1日
        "昭和64年1月8日",  # that day is 平成元年1月8日
        "H1.1.7",  # still 昭和64年
        "大正15年12月25日",  # 昭和 from that day
        "明治45年7月30日",  # 大正 from that day
        "明治元年1月24日",  # before 明治
        "令和0年5月1日",
        "R0.5.1",
        "2025-02-30",
        "令和7年2月29日",
        "R7.13.1",
        "1985-00-10",
        "19851301",
        "abc",
        "R7.12-12",
        "令和7年12月",
        "H1.1.8.",
        "二三十年",
    ],
)
def test_refuses_dates_that_do_not_exist(text: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_date(text)
    assert "生年月日" in caught.value.message
    assert caught.value.exit_code == 2


def test_empty_input_asks_for_the_field_by_its_name() -> None:
    with pytest.raises(BadInput) as caught:
        parse_date("  ", field="届出日")
    assert caught.value.message.startswith("届出日を入力してください")


def test_out_of_era_message_names_the_real_date() -> None:
    with pytest.raises(BadInput) as caught:
        parse_date("平成31年5月1日")
    assert "令和元年5月1日" in caught.value.message
    assert "平成31年4月30日まで" in caught.value.message


def test_message_shows_the_input_inert() -> None:
    with pytest.raises(BadInput) as caught:
        parse_date("\x1b[31mR7.99.99", field="異動日")
    assert "\x1b" not in caught.value.message
    assert caught.value.message.startswith("異動日")


def test_formats() -> None:
    d = date(2025, 12, 12)
    assert format_wareki(d) == "令和7年12月12日"
    assert format_wareki_short(d) == "R7.12.12"
    assert format_both(d) == "令和7年12月12日 (2025-12-12)"
    assert format_wareki(date(2019, 5, 1)) == "令和元年5月1日"
    assert format_wareki(date(2019, 4, 30)) == "平成31年4月30日"
    assert format_wareki_short(date(1989, 1, 8)) == "H1.1.8"
    assert format_wareki_short(date(1985, 4, 1)) == "S60.4.1"


def test_every_era_starts_with_gannen_and_the_day_before_is_the_previous_era() -> None:
    for previous, era in pairwise(ERAS):
        assert format_wareki(era.start).startswith(f"{era.name}元年")
        assert era_of(era.start - timedelta(days=1)) == previous
    assert era_of(MEIJI - timedelta(days=1)) is None


def test_before_meiji_is_written_in_seireki_only() -> None:
    d = date(1868, 1, 24)
    assert format_wareki(d) == "1868年1月24日"
    assert format_wareki_short(d) == "1868-01-24"
    assert format_both(d) == "1868年1月24日 (1868-01-24)"
    assert parse_date(format_wareki(d)) == d
    assert parse_date(format_wareki_short(d)) == d


def test_every_date_from_meiji_to_2100_round_trips() -> None:
    d, last, count = MEIJI, date(2100, 12, 31), 0
    while d <= last:
        assert parse_date(format_wareki(d)) == d, d
        assert parse_date(format_wareki_short(d)) == d, d
        d += timedelta(days=1)
        count += 1
    assert count == (last - MEIJI).days + 1


dates = st.dates(min_value=MEIJI, max_value=date(2100, 12, 31))


@given(dates)
def test_full_width_and_lower_case_forms_read_the_same(d: date) -> None:
    wide = unicodedata.normalize("NFKC", format_wareki_short(d)).translate(
        {ord(c): ord(c) + 0xFEE0 for c in "0123456789.MTSHR"}
    )
    assert parse_date(wide) == d
    assert parse_date(format_wareki_short(d).lower()) == d
    assert parse_date(d.strftime("%Y%m%d")) == d
    assert parse_date(f"{d.year}/{d.month}/{d.day}") == d
