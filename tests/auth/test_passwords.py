"""Enrolment rules after NIST SP 800-63B: length, no composition rules, a blocklist
compared after NFKC and case folding, no login inside; argon2id with RFC 9106's
low-memory parameters by default."""

from __future__ import annotations

import pytest

from auth.passwords import hash_password, needs_rehash, password_problems, verify_password


def test_eleven_characters_are_refused_twelve_accepted() -> None:
    problems = password_problems("kumo-ga-1234"[:11])
    assert problems and "12文字以上" in problems[0]
    assert password_problems("kumo-ga-1234") == []


def test_long_passphrases_are_accepted_up_to_the_maximum() -> None:
    sixty_four = ("yama-kawa-sora-umi-" * 4)[:64]
    assert len(sixty_four) == 64 and password_problems(sixty_four) == []
    assert password_problems("x1" * 64) == []  # 128, the default maximum
    assert password_problems("x1" * 64 + "y")  # 129


def test_no_composition_rules() -> None:
    """Lowercase letters only, no digit, no symbol: a long passphrase is fine."""
    assert password_problems("sakuranamikidori") == []
    assert password_problems("ひらがなだけのながいあいことば") == []


@pytest.mark.parametrize(
    "password",
    ["password1234", "Password1234", "PASSWORD1234", "ｐａｓｓｗｏｒｄ１２３４",
     "Ｐａｓｓｗｏｒｄ1234"],
)
def test_blocklist_entries_are_refused_after_folding(password: str) -> None:
    problems = password_problems(password)
    assert problems and "よく使われる" in problems[0]


def test_repeats_and_straight_runs_are_refused() -> None:
    assert password_problems("aaaaaaaaaaaaaaaa")
    assert password_problems("abcdefghijklmnop")
    assert password_problems("ponmlkjihgfedcba")


def test_login_inside_the_password_is_refused() -> None:
    problems = password_problems("my-Tanaka.H-spring", login="tanaka.h")
    assert problems and "ログイン名" in problems[0]
    assert password_problems("my-tnk-spring-2025", login="tanaka.h") == []


def test_default_profile_is_argon2id_rfc9106_low_memory() -> None:
    stored = hash_password("tsuki-ga-kirei-desu-ne", "rfc9106_low_memory")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(stored, "tsuki-ga-kirei-desu-ne", "rfc9106_low_memory")
    assert not verify_password(stored, "tsuki-ga-kirei-desu-na", "rfc9106_low_memory")
    assert not needs_rehash(stored, "rfc9106_low_memory")


def test_a_hash_from_another_profile_needs_rehash() -> None:
    cheap = hash_password("tsuki-ga-kirei-desu-ne", "test")
    assert cheap.startswith("$argon2id$")
    assert needs_rehash(cheap, "rfc9106_low_memory")
    # It still verifies under the default profile: the parameters travel in the hash.
    assert verify_password(cheap, "tsuki-ga-kirei-desu-ne", "rfc9106_low_memory")
    assert needs_rehash("not a hash", "test")
    assert not verify_password("not a hash", "x", "test")
