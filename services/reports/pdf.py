"""A4 Japanese documents (帳票) with reportlab: embedded font, header and footer, tables.

Every report of the console prints the same way: the document's title and a line of its
own at the top of each page, and at the foot the printing date and time in 和暦, who
printed it, an optional handling mark (取扱注意) and 「1 / 3 ページ」. Build one with
``JapaneseDocument``: add headings, paragraphs and tables, then ``render()`` the bytes.

The font is the TrueType file named by the setting ``report_font`` (default: IPAex
Gothic, Debian's fonts-ipaexfont-gothic), embedded as a subset so the document reads the
same on any machine. A missing or unreadable file is a ``ReportFontMissing`` (a
``BadInput``, CLI exit 2) naming the setting and its variable.

Text from the register is untrusted: each cell passes ``core.inert.clean_line`` and is
escaped before reportlab's paragraph parser sees it, so ``<`` or ``&`` in a name prints
as written. A character the font has no glyph for prints as 〓 (the geta mark Japanese
documents use for a character that cannot be printed) instead of an empty box; a
variation selector the font cannot apply is dropped and its base character kept.
Long cells wrap at any character (CJK wrapping), so a long reference never overflows.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle
from reportlab.platypus.flowables import Flowable

from core.errors import BadInput
from core.inert import clean_line
from core.settings import Settings
from services.reports.output import wareki_datetime, write_private

DEFAULT_FONT = str(Settings.__dataclass_fields__["report_font"].default)
GETA = "〓"  # printed for a character the font cannot draw

MARGIN = 12 * mm
HEADER_GAP = 10 * mm  # room above the frame for the page header
FOOTER_GAP = 9 * mm
_PAD = 2.0  # cell padding left and right, points
_TOP_PAD, _BOTTOM_PAD = 1.5, 2.5
MAX_CELL_LINES = 30
_WORD = 16  # a word up to this many characters moves down whole at a line break
_SPACES = frozenset(" \u3000")
# Closing marks that may not begin a line (行頭禁則), kept short on purpose.
_NO_LINE_START = frozenset("、。，．,.)）」』】〕］]}｝〉》ー・：；:;!！?？ゝゞヽヾ々")


class ReportFontMissing(BadInput):
    """The report font cannot be used; the message names the setting to fix."""


_registered: dict[str, tuple[str, frozenset[int]]] = {}


def register_font(path: str) -> tuple[str, frozenset[int]]:
    """Register the TrueType font at ``path`` once; (reportlab font name, code points).

    Raises ``ReportFontMissing`` with a Japanese message naming ``report_font``.
    """
    path = os.path.abspath(path or DEFAULT_FONT)
    if path in _registered:
        return _registered[path]
    hint = ("設定 report_font (環境変数 JUKI_REPORT_FONT) に日本語の TrueType フォント "
            f"(例: IPAexゴシック {DEFAULT_FONT}) のパスを指定してください。")
    if not os.path.isfile(path):
        raise ReportFontMissing(f"帳票用フォントが見つかりません: {path}。{hint}")
    name = f"JukiReport{len(_registered) + 1}"
    try:
        font = TTFont(name, path)
    except (TTFError, OSError, ValueError) as exc:
        raise ReportFontMissing(
            f"帳票用フォントを読み込めません: {path} ({type(exc).__name__})。{hint}"
        ) from None
    pdfmetrics.registerFont(font)
    glyphs = frozenset(font.face.charToGlyph)
    _registered[path] = (name, glyphs)
    return _registered[path]


def _is_variation_selector(cp: int) -> bool:
    return 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF


def printable(value: object, glyphs: frozenset[int]) -> str:
    """One line of inert text the font can draw: missing glyphs → 〓, selectors dropped."""
    out: list[str] = []
    for ch in clean_line("" if value is None else value):
        cp = ord(ch)
        if cp in glyphs or ch == " ":
            out.append(ch)
        elif _is_variation_selector(cp):
            continue
        else:
            out.append(GETA)
    return "".join(out)


Cell = str | Sequence[str] | None  # a sequence prints one line per item


@dataclass(frozen=True)
class Column:
    """A table column: its heading and its share of the width (relative weight)."""

    title: str
    weight: float = 1.0


@dataclass(frozen=True)
class DocumentMeta:
    """What every page repeats. ``printed_at`` prints in 和暦 (Japan time)."""

    title: str
    printed_at: datetime
    printed_by: str
    header_note: str = ""  # right side of the page header (e.g. the period)
    marking: str = "取扱注意"  # handling mark in the footer; "" for none
    author: str = ""  # PDF metadata (e.g. 若葉市 市民課)


class JapaneseDocument:
    """An A4 document (landscape by default) that grows by blocks, then renders.

    >>> doc = JapaneseDocument(meta, font_path=settings.report_font)
    >>> doc.heading("対象期間"); doc.table(columns, rows); data = doc.render()
    """

    def __init__(
        self, meta: DocumentMeta, *, font_path: str = DEFAULT_FONT, wide: bool = True,
        font_size: float = 8.0,
    ) -> None:
        self.meta = meta
        self.font, self._glyphs = register_font(font_path)
        self.pagesize = landscape(A4) if wide else A4
        self.width = self.pagesize[0] - 2 * MARGIN
        self._story: list[Flowable] = []
        self._widths: dict[str, float] = {}
        self.font_size = size = font_size
        self._body = ParagraphStyle(
            "body", fontName=self.font, fontSize=size + 1.5, leading=(size + 1.5) * 1.45,
            wordWrap="CJK", alignment=TA_LEFT,
        )
        self._heading = ParagraphStyle(
            "heading", fontName=self.font, fontSize=size + 4, leading=(size + 4) * 1.4,
            spaceBefore=2 * mm, spaceAfter=1.5 * mm, wordWrap="CJK",
        )

    # --- blocks -------------------------------------------------------------------

    def text(self, value: object) -> str:
        """Untrusted text made printable and escaped for reportlab's paragraph markup."""
        return escape(printable(value, self._glyphs))

    def _lines(self, cell: Cell) -> str:
        if cell is None:
            return ""
        if isinstance(cell, str):
            return self.text(cell)
        return "<br/>".join(self.text(line) for line in cell)

    def heading(self, value: str) -> None:
        self._story.append(Paragraph(self.text(value), self._heading))

    def paragraph(self, *lines: str) -> None:
        """Lines of body text, each on a line of its own."""
        self._story.append(Paragraph(self._lines(lines), self._body))

    def spacer(self, height_mm: float = 3.0) -> None:
        self._story.append(Spacer(1, height_mm * mm))

    def _width(self, ch: str) -> float:
        w = self._widths.get(ch)
        if w is None:
            w = self._widths[ch] = pdfmetrics.stringWidth(ch, self.font, self.font_size)
        return w

    def wrap_line(self, line: str, width: float) -> list[str]:
        """One printable line broken to ``width`` points at any character (CJK style).

        A short last word (a time, a login) moves down whole when a space precedes it;
        a closing mark (、。」) …) never starts a line: the character before it moves
        down with it (追い出し). A space at a break is dropped.
        """
        out: list[str] = []
        cur: list[str] = []
        used = 0.0
        for ch in line:
            w = self._width(ch)
            if cur and used + w > width:
                if ch in _SPACES:
                    out.append("".join(cur))
                    cur, used = [], 0.0
                    continue
                cut = self._word_start(cur, width - w)
                if cut:
                    out.append("".join(cur[:cut]).rstrip())
                    cur = cur[cut:]
                elif ch in _NO_LINE_START and len(cur) > 1:
                    out.append("".join(cur[:-1]))
                    cur = cur[-1:]
                else:
                    out.append("".join(cur))
                    cur = []
                used = sum(self._width(c) for c in cur)
            cur.append(ch)
            used += w
        out.append("".join(cur))
        return out

    def _word_start(self, cur: list[str], room: float) -> int:
        """Where the last short word of ``cur`` starts, if moving it down fits ``room``."""
        for i in range(len(cur) - 1, max(1, len(cur) - _WORD - 1), -1):
            if cur[i - 1] in _SPACES:
                tail = cur[i:]
                return i if sum(self._width(c) for c in tail) <= room else 0
        return 0

    def cell_text(self, cell: Cell, width: float) -> str:
        """A cell as the lines a table draws: inert, printable, wrapped to ``width``."""
        if cell is None:
            return ""
        lines = [cell] if isinstance(cell, str) else list(cell)
        wrapped: list[str] = []
        for line in lines:
            wrapped += self.wrap_line(printable(line, self._glyphs), width)
        if len(wrapped) > MAX_CELL_LINES:  # a row must fit on one page
            wrapped = [*wrapped[: MAX_CELL_LINES - 1], "…(以下省略)"]
        return "\n".join(wrapped)

    def table(
        self, columns: Sequence[Column], rows: Sequence[Sequence[Cell]], *,
        empty: str = "該当する記録はありません。",
    ) -> None:
        """A table across the page width; the heading row repeats on every page.

        Each cell is a string or a sequence of lines; long lines wrap inside the cell
        (at most ``MAX_CELL_LINES`` lines, so a row always fits a page). With no rows,
        ``empty`` prints instead. Cells are wrapped here and drawn as plain lines, never
        parsed as markup; the rows are cut into pages here too, so thousands of rows
        take time in proportion to their number.
        """
        if not rows:
            self.paragraph(empty)
            return
        total = sum(c.weight for c in columns) or 1.0
        widths = [self.width * c.weight / total for c in columns]
        inner = [w - 2 * _PAD - 0.5 for w in widths]
        header = [self.cell_text(c.title, w) for c, w in zip(columns, inner, strict=True)]
        body: list[list[str]] = []
        for row in rows:
            if len(row) != len(columns):
                raise ValueError(f"表の列数が合いません: {len(row)} (見出しは {len(columns)})")
            body.append([self.cell_text(cell, w) for cell, w in zip(row, inner, strict=True)])
        self._story.append(_PagedTable(header, body, widths, self.font, self.font_size))

    # --- pages ------------------------------------------------------------------

    def _decorate(self, canvas: Canvas, page: int, pages: int) -> None:
        """Header and footer of one page, drawn when the page count is known."""
        w, h = self.pagesize
        m = self.meta
        canvas.saveState()
        canvas.setFont(self.font, 11)
        top = h - MARGIN + 1 * mm
        canvas.drawString(MARGIN, top - 4 * mm, printable(m.title, self._glyphs))
        if m.header_note:
            canvas.setFont(self.font, 8.5)
            canvas.drawRightString(w - MARGIN, top - 4 * mm,
                                   printable(m.header_note, self._glyphs))
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN, top - 6 * mm, w - MARGIN, top - 6 * mm)
        foot = MARGIN - 5 * mm
        canvas.line(MARGIN, foot + 4 * mm, w - MARGIN, foot + 4 * mm)
        canvas.setFont(self.font, 8)
        printed = (f"印刷日時: {wareki_datetime(m.printed_at)}"
                   f"　印刷者: {printable(m.printed_by, self._glyphs)}")
        canvas.drawString(MARGIN, foot, printed)
        if m.marking:
            canvas.drawCentredString(w / 2, foot, printable(m.marking, self._glyphs))
        canvas.drawRightString(w - MARGIN, foot, f"{page} / {pages} ページ")
        canvas.restoreState()

    def render(self) -> bytes:
        """The PDF as bytes (fonts embedded as subsets)."""
        buf = io.BytesIO()
        doc = SimpleDocTemplate(
            buf, pagesize=self.pagesize, leftMargin=MARGIN, rightMargin=MARGIN,
            topMargin=MARGIN + HEADER_GAP - 4 * mm, bottomMargin=MARGIN + FOOTER_GAP - 5 * mm,
            title=clean_line(self.meta.title), author=clean_line(self.meta.author),
            subject=clean_line(self.meta.header_note), creator="juki",
        )
        story = self._story or [Paragraph(self.text(""), self._body)]
        doc.build(list(story), canvasmaker=_numbered_canvas(self._decorate, self.font))
        return buf.getvalue()

    def write(self, path: str | os.PathLike[str], *, force: bool = False) -> str:
        """Render and write privately (0600, atomic; an existing file only with
        ``force``); return the file's SHA-256 (hex)."""
        return write_private(path, self.render(), force=force)


class _PagedTable(Flowable):
    """Rows cut into one table per page, the heading row on top of each.

    reportlab's own table splitting measures and copies all remaining rows at every page
    break, which grows with the square of the row count; here each row's height is known
    from its line count, so a page takes the rows that fit and keeps an index to the rest.
    """

    def __init__(
        self, header: list[str], body: list[list[str]], widths: list[float], font: str,
        size: float, start: int = 0, heights: list[float] | None = None,
        after: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.header, self.body, self.widths = header, body, widths
        self.font, self.size, self.leading = font, size, size * 1.3
        self.start = start
        self.head_h = self._height(header)
        self.heights = heights if heights is not None else [self._height(r) for r in body]
        if after is None:  # after[i]: the height of rows i.. (suffix sums)
            after = [0.0] * (len(self.heights) + 1)
            for i in range(len(self.heights) - 1, -1, -1):
                after[i] = after[i + 1] + self.heights[i]
        self.after = after

    def _height(self, row: list[str]) -> float:
        lines = max((cell.count("\n") + 1 for cell in row), default=1)
        return lines * self.leading + _TOP_PAD + _BOTTOM_PAD

    def wrap(self, aw: float, ah: float) -> tuple[float, float]:
        return sum(self.widths), self.head_h + self.after[self.start]

    def _table(self, stop: int) -> LongTable:
        rows = [self.header, *self.body[self.start: stop]]
        table = LongTable(rows, colWidths=self.widths,
                          rowHeights=[self.head_h, *self.heights[self.start: stop]])
        stripes = [colors.white, colors.HexColor("#eef1f4")]
        if self.start % 2:
            stripes.reverse()
        table.setStyle(TableStyle([
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), stripes),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#3b4a5a")),
            ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
            ("FONTNAME", (0, 0), (-1, -1), self.font),
            ("FONTSIZE", (0, 0), (-1, -1), self.size),
            ("LEADING", (0, 0), (-1, -1), self.leading),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#7f8c99")),
            ("LEFTPADDING", (0, 0), (-1, -1), _PAD),
            ("RIGHTPADDING", (0, 0), (-1, -1), _PAD),
            ("TOPPADDING", (0, 0), (-1, -1), _TOP_PAD),
            ("BOTTOMPADDING", (0, 0), (-1, -1), _BOTTOM_PAD),
        ]))
        return table

    def split(self, aw: float, ah: float) -> list[Flowable]:
        room = ah - self.head_h
        stop = self.start
        while stop < len(self.body) and self.heights[stop] <= room:
            room -= self.heights[stop]
            stop += 1
        if stop == self.start:
            return []  # not even one row here: the frame moves on to a new page
        rest = _PagedTable(self.header, self.body, self.widths, self.font, self.size,
                           start=stop, heights=self.heights, after=self.after)
        return [self._table(stop), rest] if stop < len(self.body) else [self._table(stop)]

    def draw(self) -> None:
        table = self._table(len(self.body))
        table.wrapOn(self.canv, sum(self.widths), self.head_h + self.after[self.start])
        table.drawOn(self.canv, 0, 0)


def _numbered_canvas(
    decorate: Callable[[Canvas, int, int], None], font: str
) -> Callable[..., Canvas]:
    """A canvas class that holds each finished page until the total is known.

    Page n of N needs N, which exists only after the last page; so each page's drawing
    state is kept at ``showPage`` and the pages are emitted, decorated, at ``save``.
    The canvas starts in the report font, so the file names no font it does not embed.
    """

    class _Held(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["initialFontName"] = kwargs.get("initialFontName") or font
            super().__init__(*args, **kwargs)
            self._held: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._held.append(dict(self.__dict__))
            self._startPage()  # type: ignore[attr-defined]  # Canvas's own; not in the stubs

        def save(self) -> None:
            pages = len(self._held)
            for number, state in enumerate(self._held, start=1):
                self.__dict__.update(state)
                decorate(self, number, pages)
                Canvas.showPage(self)
            Canvas.save(self)

    return _Held


__all__ = [
    "DEFAULT_FONT",
    "GETA",
    "Cell",
    "Column",
    "DocumentMeta",
    "JapaneseDocument",
    "ReportFontMissing",
    "printable",
    "register_font",
]
