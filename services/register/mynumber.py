"""個人番号 (My Number): check digit, validation and masking.

Check digit per 総務省令第85号 第5条 (docs/domain.md §3.1): number the 11 base digits n = 1..11
from the right; weight Qn = n+1 for n <= 6 and n-5 for n >= 7; r = sum(Pn*Qn) mod 11;
check = 0 if r <= 1 else 11 - r. The check digit is a first filter only: it lets some
typos through, so a valid number still needs the linkage workflow's other checks.
This formula is for the 個人番号 alone; the 住民票コード has a different one.
"""

from __future__ import annotations

import re
import unicodedata

_DIGITS11 = re.compile(r"[0-9]{11}")
_DIGITS12 = re.compile(r"[0-9]{12}")
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−]")


def my_number_check_digit(first11: str) -> int:
    """The check digit for 11 ASCII digits; ValueError for anything else."""
    if not isinstance(first11, str) or not _DIGITS11.fullmatch(first11):
        raise ValueError("個人番号の基本部分は11桁の数字です。")
    total = 0
    for n, ch in enumerate(reversed(first11), start=1):
        weight = n + 1 if n <= 6 else n - 5
        total += int(ch) * weight
    r = total % 11
    return 0 if r <= 1 else 11 - r


def is_valid_my_number(s: object) -> bool:
    """True for exactly 12 ASCII digits whose last digit is the check digit."""
    if not isinstance(s, str) or not _DIGITS12.fullmatch(s):
        return False
    return my_number_check_digit(s[:11]) == int(s[11])


def normalize_my_number(s: str) -> str:
    """As typed → 12 ASCII digits: full-width digits folded, spaces and hyphens dropped.

    The result is not checked; pass it to ``is_valid_my_number``.
    """
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", s))


def mask_my_number(n: str) -> str:
    """The masked display form ``**** **** 1234`` (docs/domain.md §3.3, "Masked display").

    Accepts the full number or only its last four digits; shows no digit when fewer
    than four digits are given.
    """
    digits = "".join(ch for ch in normalize_my_number(n or "") if ch.isascii() and ch.isdigit())
    tail = digits[-4:] if len(digits) >= 4 else "****"
    return f"**** **** {tail}"
