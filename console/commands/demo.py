"""``juki demo``: prepare the demo database (synthetic residents, one account per role),
then start the console on it."""

from __future__ import annotations

import argparse

from console.commands.common import Group, Subparsers, context, out
from console.commands.console import start


def add_parsers(sub: Subparsers) -> None:
    sub.add_parser("demo", help="デモ用データベースを用意してコンソールを起動する")


def run(args: argparse.Namespace) -> int:
    from console.demo import prepare_demo  # on use: loads the services (start-up time)

    ctx = context()
    prepare_demo(ctx, out)
    return start(ctx)


GROUP = Group("demo", add_parsers, run)
