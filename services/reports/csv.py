"""CSV that Excel opens as Japanese text and never runs: UTF-8 with BOM, CRLF, inert cells.

Excel reads a CSV without a BOM as Shift_JIS on Japanese Windows and garbles the names,
so the file starts with the UTF-8 BOM. Lines end CRLF; every cell is quoted.

A report carries text that staff or applicants typed (names, references, reasons). A
cell that Excel or LibreOffice would read as a formula (CSV/formula injection, OWASP)
gets a leading apostrophe: one starting with ``= + - @``, TAB or CR, or with their
full-width forms (``＝ ＋ － ＠``, which Japanese Excel also accepts as a formula start),
judged after leading spaces. Before that every cell passes ``core.inert.clean_line``:
control and bidi characters removed, line breaks and tabs made spaces, so a cell is one
line of plain text.
"""

from __future__ import annotations

import csv as _csv
import io
import os
from collections.abc import Iterable, Sequence

from core.inert import clean_line
from services.reports.output import write_private

BOM = "\ufeff"
FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")


def inert_cell(value: object) -> str:
    """One cell's text: one plain line, with an apostrophe before a formula start.

    None is an empty cell. The check looks at the raw text too, so a cell that began with
    TAB or CR (which cleaning turns into a space or drops) is still marked.
    """
    if value is None:
        return ""
    raw = value if isinstance(value, str) else str(value)
    text = clean_line(raw)
    lead = text.lstrip(" \u3000")
    if (lead and lead[0] in FORMULA_STARTS) or (raw and raw[0] in FORMULA_STARTS):
        return "'" + text
    return text


def csv_text(header: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """The CSV document as text (BOM first, CRLF line ends, every cell inert and quoted)."""
    out = io.StringIO()
    out.write(BOM)
    writer = _csv.writer(out, quoting=_csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([inert_cell(h) for h in header])
    for row in rows:
        writer.writerow([inert_cell(c) for c in row])
    return out.getvalue()


def csv_bytes(header: Sequence[object], rows: Iterable[Sequence[object]]) -> bytes:
    """``csv_text`` encoded as UTF-8 (the BOM becomes EF BB BF)."""
    return csv_text(header, rows).encode("utf-8")


def write_csv_file(
    path: str | os.PathLike[str], header: Sequence[object], rows: Iterable[Sequence[object]],
    *, force: bool = False,
) -> str:
    """Write the CSV privately (0600, atomic; an existing file only with ``force``);
    return the file's SHA-256 (hex)."""
    return write_private(path, csv_bytes(header, rows), force=force)


__all__ = ["BOM", "FORMULA_STARTS", "csv_bytes", "csv_text", "inert_cell", "write_csv_file"]
