"""個人番号 check digit (docs/domain.md §3.1), validation and masking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.register.mynumber import (
    is_valid_my_number,
    mask_my_number,
    my_number_check_digit,
    normalize_my_number,
)

VALID = ["123456789018", "983205673214", "111111111118"]
INVALID = ["123456789010", "983205673210", "213456789018"]

eleven_digits = st.text(alphabet="0123456789", min_size=11, max_size=11)


@pytest.mark.parametrize("number", VALID)
def test_documented_valid_numbers_pass(number: str) -> None:
    assert is_valid_my_number(number)
    assert my_number_check_digit(number[:11]) == int(number[-1])


@pytest.mark.parametrize("number", INVALID)
def test_documented_invalid_numbers_fail(number: str) -> None:
    assert not is_valid_my_number(number)


@pytest.mark.parametrize(
    "value",
    ["", "12345678901", "1234567890188", "12345678901a", "１２３４５６７８９０１８",
     "1234 5678 9018", None, 123456789018],
)
def test_anything_but_twelve_ascii_digits_is_invalid(value: object) -> None:
    assert not is_valid_my_number(value)


@pytest.mark.parametrize("value", ["1234567890", "1234567890a", "１２３４５６７８９０１"])
def test_check_digit_needs_eleven_ascii_digits(value: str) -> None:
    with pytest.raises(ValueError):
        my_number_check_digit(value)


@given(eleven_digits)
def test_the_computed_check_digit_makes_a_valid_number(base: str) -> None:
    assert is_valid_my_number(base + str(my_number_check_digit(base)))


@given(eleven_digits, st.integers(min_value=1, max_value=9))
def test_changing_only_the_last_digit_makes_it_invalid(base: str, shift: int) -> None:
    good = my_number_check_digit(base)
    wrong = (good + shift) % 10
    assert not is_valid_my_number(base + str(wrong))


def test_typed_forms_normalise_to_twelve_digits() -> None:
    assert normalize_my_number("１２３４ ５６７８ ９０１８") == "123456789018"
    assert normalize_my_number("1234-5678-9018") == "123456789018"
    assert is_valid_my_number(normalize_my_number("9832-0567-3214"))


def test_mask_shows_only_the_last_four_digits() -> None:
    assert mask_my_number("123456789018") == "**** **** 9018"
    assert mask_my_number("9018") == "**** **** 9018"
    assert mask_my_number("12") == "**** **** ****"
    assert mask_my_number("") == "**** **** ****"
    assert "1234" not in mask_my_number("123456789018")
