"""Report CSV as Excel receives it: BOM, CRLF, quoted cells, nothing that runs or hides.

The bytes are read back with the standard ``csv`` module (what any tool does), and the
formula rule is checked against every start OWASP lists, in ASCII and full width, plus
a property test over arbitrary text. The file is written readable by its owner only.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import BadInput
from core.inert import is_inert
from services.reports.csv import FORMULA_STARTS, csv_bytes, inert_cell, write_csv_file


def _read(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def test_bytes_are_bom_crlf_and_quoted() -> None:
    data = csv_bytes(["氏名", "備考"], [["山田\u3000太郎", "髙橋・﨑・𠮷"], ["a,b", 'say "hi"']])
    assert data[:3] == b"\xef\xbb\xbf"
    lines = data[3:].split(b"\r\n")
    assert lines[-1] == b"" and len(lines) == 4  # three records, each ending CRLF
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert lines[0] == '"氏名","備考"'.encode()
    assert _read(data) == [
        ["氏名", "備考"], ["山田\u3000太郎", "髙橋・﨑・𠮷"], ["a,b", 'say "hi"'],
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://evil.example","開く")', "'=HYPERLINK(\"http://evil.example\",\"開く\")"),
        ("+81-3-1234", "'+81-3-1234"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "' =1+1"),  # TAB first: marked; the tab itself becomes a space
        ("\r=1+1", "'=1+1"),  # CR first: marked; the CR is removed
        ("  =cmd|' /C calc'!A0", "'  =cmd|' /C calc'!A0"),  # after leading spaces
        ("\u3000＝1＋1", "'\u3000＝1＋1"),  # full-width equals after an ideographic space
        ("＋８１", "'＋８１"),
        ("－１", "'－１"),
        ("＠ユーザー", "'＠ユーザー"),
        ("R7-窓口-0012", "R7-窓口-0012"),  # a minus inside is harmless
        ("山田 太郎", "山田 太郎"),
        ("", ""),
        (None, ""),
        (12, "12"),
    ],
)
def test_formula_starts_get_an_apostrophe(raw: object, expected: str) -> None:
    assert inert_cell(raw) == expected
    # and the cell survives the CSV round trip exactly as made
    assert _read(csv_bytes(["x"], [[raw]]))[1] == [expected]


def test_control_and_bidi_characters_are_removed_and_lines_joined() -> None:
    raw = "山田\x1b[31m太郎\u202e\u2066\x07\n二行目\r\n三行目\x85"
    cell = inert_cell(raw)
    assert cell == "山田[31m太郎 二行目 三行目"
    assert is_inert(cell) and "\n" not in cell and "\r" not in cell
    # Ideographic variation selectors stay (a name as written).
    assert inert_cell("葛\U000e0100飾") == "葛\U000e0100飾"


@given(st.text())
def test_any_text_becomes_one_inert_line_that_cannot_start_a_formula(raw: str) -> None:
    cell = inert_cell(raw)
    assert is_inert(cell)
    assert not any(ch in cell for ch in "\n\r\t\x85\u2028\u2029")
    lead = cell.lstrip(" \u3000")
    if lead and lead[0] in FORMULA_STARTS:
        assert cell.startswith("'")
    if raw and raw[0] in FORMULA_STARTS:
        assert cell.startswith("'")
    assert _read(csv_bytes(["x"], [[raw]]))[1] == [cell]


def test_file_is_private_atomic_and_hashed(tmp_path: Path) -> None:
    old = os.umask(0)  # the mode must not depend on the operator's umask
    try:
        out = tmp_path / "r.csv"
        out.write_text("old, readable by all", "utf-8")
        os.chmod(out, 0o666)
        digest = write_csv_file(out, ["a"], [["=1"]], force=True)
    finally:
        os.umask(old)
    data = out.read_bytes()
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert digest == hashlib.sha256(data).hexdigest()
    assert _read(data) == [["a"], ["'=1"]]
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]  # no temporary file left


def test_a_missing_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="フォルダ"):
        write_csv_file(tmp_path / "no" / "such" / "r.csv", ["a"], [])
    with pytest.raises(BadInput, match="フォルダ"):
        write_csv_file(tmp_path, ["a"], [])
