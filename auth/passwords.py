"""Password hashing (argon2id, RFC 9106 low-memory profile) and the enrolment rules.

Rules after NIST SP 800-63B and OWASP ASVS 5: a minimum length (12 by default), at least
64 characters accepted, no composition rules, and a blocklist of common and
context-specific passwords. Hashes are upgraded on sign-in when the parameters change.
"""

from __future__ import annotations

import itertools
import unicodedata
from functools import cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY


@cache
def hasher(profile: str = "rfc9106_low_memory") -> PasswordHasher:
    if profile == "test":
        # A cheap profile for the test suite only: argon2id still, but fast.
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, hash_len=32,
                              salt_len=16, type=Type.ID)
    if profile == "rfc9106_low_memory":
        return PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
    raise ValueError(f"未知の argon2 プロファイルです: {profile}")


def hash_password(password: str, profile: str) -> str:
    return hasher(profile).hash(password)


def verify_password(stored: str, password: str, profile: str) -> bool:
    try:
        return hasher(profile).verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str, profile: str) -> bool:
    try:
        return hasher(profile).check_needs_rehash(stored)
    except InvalidHashError:
        return True


@cache
def _blocklist() -> frozenset[str]:
    text = resources.files("auth").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold()


def _is_run(value: str) -> bool:
    """One repeated character, or a straight ascending/descending run (abcd…, 9876…)."""
    if len(set(value)) == 1:
        return True
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(value)}
    return steps in ({1}, {-1})


def password_problems(
    password: str, *, login: str = "", min_length: int = 12, max_length: int = 128
) -> list[str]:
    """Reasons (in Japanese) why ``password`` may not be used; empty when it is acceptable."""
    length = len(password)
    if length < min_length:
        return [f"パスワードは{min_length}文字以上にしてください (現在{length}文字)。"]
    if length > max_length:
        return [f"パスワードは{max_length}文字以内にしてください。"]
    folded = _fold(password)
    problems = []
    if folded in _blocklist() or _is_run(folded):
        problems.append("よく使われるパスワードや単純な並びは使えません。")
    if login and _fold(login) in folded:
        problems.append("パスワードにログイン名を含めないでください。")
    return problems
