"""The shared PDF pieces: the font embedded, every page headed and numbered, cells that
wrap, text that is printed and never interpreted. Read back with poppler-utils."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from services.jp import format_wareki
from services.reports.output import day_bounds, local, wareki_datetime
from services.reports.pdf import (
    DEFAULT_FONT,
    GETA,
    MAX_CELL_LINES,
    Column,
    DocumentMeta,
    JapaneseDocument,
    ReportFontMissing,
    printable,
    register_font,
)

pytestmark = pytest.mark.skipif(
    not (shutil.which("pdftotext") and shutil.which("pdffonts")),
    reason="poppler-utils (pdftotext, pdffonts) not installed; dev/test installs it",
)

PRINTED = datetime(2025, 12, 12, 5, 30, tzinfo=UTC)  # 令和7年12月12日 14:30 in Japan


def _meta(**over: object) -> DocumentMeta:
    values: dict[str, object] = dict(title="試験帳票", printed_at=PRINTED, printed_by="os:tester",
                                     header_note="対象期間: 令和7年12月1日〜令和7年12月31日")
    values.update(over)
    return DocumentMeta(**values)  # type: ignore[arg-type]


def _text(path: Path, *, layout: bool = False) -> str:
    args = ["pdftotext", *(["-layout"] if layout else []), str(path), "-"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def _pages(path: Path) -> list[str]:
    return _text(path, layout=True).split("\f")[:-1]


def test_each_page_has_its_header_footer_and_number(tmp_path: Path) -> None:
    doc = JapaneseDocument(_meta())
    doc.heading("一覧")
    doc.table([Column("番号", 1), Column("氏名", 3)],
              [[f"{i:04d}", f"山田\u3000太郎{i}"] for i in range(300)])
    out = tmp_path / "t.pdf"
    doc.write(out)
    pages = _pages(out)
    assert len(pages) > 3
    for n, page in enumerate(pages, start=1):
        assert "試験帳票" in page and "対象期間: 令和7年12月1日" in page
        assert f"{n} / {len(pages)} ページ" in page
        assert "印刷日時: 令和7年12月12日 14:30" in page and "印刷者: os:tester" in page
        assert "取扱注意" in page
        assert re.search(r"番号\s+氏名", page)  # the heading row repeats on every page
    text = _text(out)
    assert all(f"{i:04d}" in text for i in range(300))  # no row lost at a page break
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    assert len(fonts) == 1 and re.search(r"IPAexGothic\s+TrueType.*\byes\s+yes\s+yes\b",
                                         fonts[0]), fonts


def test_long_cells_wrap_inside_their_column(tmp_path: Path) -> None:
    long = "申請書の受付番号" * 12 + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" * 3
    doc = JapaneseDocument(_meta())
    doc.table([Column("左", 1), Column("長い欄", 1), Column("右", 1)],
              [["左端", long, "右端"]])
    lines = [ln.strip() for ln in doc.cell_text(long, 150).split("\n")]
    assert len(lines) > 3 and "".join(lines) == long
    assert all(doc.font and _width(doc, ln) <= 150 for ln in lines)
    out = tmp_path / "w.pdf"
    doc.write(out)
    flat = re.sub(r"\s+", "", _text(out))
    assert "左端" in flat and "右端" in flat  # the neighbours are where they were
    assert long in flat.replace("左端", "").replace("右端", "")  # every character printed


def _width(doc: JapaneseDocument, line: str) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return stringWidth(line, doc.font, doc.font_size)


def test_words_and_closing_marks_are_kept_at_line_breaks() -> None:
    doc = JapaneseDocument(_meta())
    width = _width(doc, "令和7年12月12日 14:") + 0.1  # the time would break after the colon
    assert doc.wrap_line("令和7年12月12日 14:30", width) == ["令和7年12月12日", "14:30"]
    width = _width(doc, "あいうえお") + 0.1
    assert doc.wrap_line("あいうえお。かき", width) == ["あいうえ", "お。かき"]


def test_text_is_printed_never_interpreted(tmp_path: Path) -> None:
    hostile = '<b>太字</b> & <font color="red">赤</font> <para/> \x1b[2J'
    doc = JapaneseDocument(_meta(title="<i>題</i>"))
    doc.paragraph(hostile)
    doc.table([Column("値", 1)], [[hostile]])
    out = tmp_path / "h.pdf"
    doc.write(out)
    text = _text(out)
    assert text.count('<b>太字</b> & <font color="red">赤</font>') == 2
    assert "<i>題</i>" in text and "\x1b" not in text


def test_characters_the_font_lacks_print_as_geta(tmp_path: Path) -> None:
    _name, glyphs = register_font(DEFAULT_FONT)
    assert printable("𠮷野", glyphs) == GETA + "野"  # outside the font: the geta mark
    assert printable("葛\U000e0100飾", glyphs) == "葛飾"  # selector dropped, base kept
    assert printable("髙﨑", glyphs) == "髙﨑"  # in the font: as written
    doc = JapaneseDocument(_meta())
    doc.paragraph("𠮷野 髙﨑")
    out = tmp_path / "g.pdf"
    doc.write(out)
    assert f"{GETA}野 髙﨑" in _text(out)


def test_a_very_tall_cell_is_cut_to_fit_a_page(tmp_path: Path) -> None:
    doc = JapaneseDocument(_meta())
    many = [f"行{i}" for i in range(MAX_CELL_LINES * 3)]
    doc.table([Column("多い", 1)], [[many], ["次の行"]])
    out = tmp_path / "tall.pdf"
    doc.write(out)
    text = _text(out)
    assert "…(以下省略)" in text and "次の行" in text
    assert f"行{MAX_CELL_LINES - 2}" in text and f"行{MAX_CELL_LINES}" not in text


def test_an_unusable_font_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ReportFontMissing) as missing:
        JapaneseDocument(_meta(), font_path=str(tmp_path / "none.ttf"))
    assert "report_font" in missing.value.message and "見つかりません" in missing.value.message
    bad = tmp_path / "bad.ttf"
    bad.write_bytes(b"\x00\x01\x00\x00 definitely not a font")
    with pytest.raises(ReportFontMissing, match="読み込めません"):
        JapaneseDocument(_meta(), font_path=str(bad))


def test_times_print_in_japan_time_as_wareki() -> None:
    assert wareki_datetime(PRINTED) == "令和7年12月12日 14:30"
    assert wareki_datetime(datetime(2019, 4, 30, 15, 0, tzinfo=UTC)) == "令和元年5月1日 00:00"
    assert wareki_datetime(None) == ""
    lo, hi = day_bounds(date(2025, 4, 1), date(2025, 4, 30))
    assert lo == datetime(2025, 3, 31, 15, 0, tzinfo=UTC)
    assert hi == datetime(2025, 4, 30, 15, 0, tzinfo=UTC)
    assert format_wareki(local(hi).date()) == "令和7年5月1日"
