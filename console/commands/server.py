"""``juki console-server`` and ``juki connect --key FP``: the pre-started console server
and the small client sshd's forced command runs (docs/ssh.md, "The console server").

``juki connect`` never reaches this parser in use: ``console.cli.main`` hands it to
``console.connect`` before anything heavy is imported. It is listed here for ``--help``.
"""

from __future__ import annotations

import argparse

from console.commands.common import Group, Subparsers


def add_server_parser(sub: Subparsers) -> None:
    sub.add_parser(
        "console-server",
        help="コンソールサーバーを起動する (systemd の juki-console-server.service から)",
    )


def run_server(args: argparse.Namespace) -> int:
    from console.server import serve  # on use: it imports everything, once
    from core.settings import load_settings

    return serve(load_settings())


def add_connect_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "connect", help="SSH 接続のコンソールを開く (sshd の強制コマンドから)",
    )
    p.add_argument("--key", required=True, metavar="SHA256:…",
                   help="sshd が通した鍵の指紋 (鍵の行の command= に書かれたもの)")


def run_connect(args: argparse.Namespace) -> int:
    from console.connect import main

    return main(["--key", args.key])


SERVER = Group("console-server", add_server_parser, run_server)
CONNECT = Group("connect", add_connect_parser, run_connect)
