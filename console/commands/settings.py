"""``juki settings``: every setting, its variable, its default and what it does."""

from __future__ import annotations

import argparse

from console.commands.common import EXIT_OK, Group, Subparsers, out
from core.settings import documented_fields


def add_parsers(sub: Subparsers) -> None:
    sub.add_parser("settings", help="設定項目と既定値を表示する")


def run(args: argparse.Namespace) -> int:
    for key, var, default, doc in documented_fields():
        out(f"{key:24} {var:32} {default!r:24} {doc}")
    return EXIT_OK


GROUP = Group("settings", add_parsers, run)
