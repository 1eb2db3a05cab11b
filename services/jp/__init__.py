"""Japanese text rules shared by lookup, linkage review and import (docs/domain.md §4, §5).

Pure functions, no database: 和暦 dates (``wareki``), kana readings (``kana``), 異体字
in names (``variants``) and address notation (``address``). Each comparison comes in two
forms: a key for matching (normalize_*) and a ``*_difference`` that names how two values
differ, so a reviewer is shown the difference instead of a silent match.
"""

from __future__ import annotations

from services.jp.address import (
    ADDRESS_DIFFERENT,
    ADDRESS_NOTATION,
    address_difference,
    normalize_address,
)
from services.jp.kana import (
    KANA_LONG,
    KANA_OTHER,
    KANA_SMALL,
    KANA_VOICING,
    is_kana,
    kana_difference,
    normalize_kana,
    readings_match,
)
from services.jp.variants import (
    NAME_DIFFERENT,
    NAME_VARIANT,
    explain_variants,
    fold_variants,
    name_difference,
    name_exact_key,
    normalize_name,
    variant_chars,
    variant_pairs,
)
from services.jp.wareki import (
    ERAS,
    Era,
    era_of,
    format_both,
    format_wareki,
    format_wareki_short,
    parse_date,
)

__all__ = [
    "ADDRESS_DIFFERENT",
    "ADDRESS_NOTATION",
    "ERAS",
    "KANA_LONG",
    "KANA_OTHER",
    "KANA_SMALL",
    "KANA_VOICING",
    "NAME_DIFFERENT",
    "NAME_VARIANT",
    "Era",
    "address_difference",
    "era_of",
    "explain_variants",
    "fold_variants",
    "format_both",
    "format_wareki",
    "format_wareki_short",
    "is_kana",
    "kana_difference",
    "name_difference",
    "name_exact_key",
    "normalize_address",
    "normalize_kana",
    "normalize_name",
    "parse_date",
    "readings_match",
    "variant_chars",
    "variant_pairs",
]
