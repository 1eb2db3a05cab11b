"""``juki jukinet-sim``: the 住基ネット inquiry simulator (demo and tests, loopback only)."""

from __future__ import annotations

import argparse

from console.commands.common import Group, Subparsers, context, out
from core.actor import Actor


def add_parsers(sub: Subparsers) -> None:
    sim = sub.add_parser(
        "jukinet-sim", help="住基ネット照会のシミュレータ (デモ・試験用、ループバックのみ)"
    )
    sim.add_argument("--host", default=None,
                     help="待ち受けるアドレス (既定: 設定 jukinet_url のホスト、127.0.0.1)")
    sim.add_argument("--port", type=int, default=None,
                     help="ポート (既定: 設定 jukinet_url のポート、8765。0 は空き番号)")
    sim.add_argument("--fail-rate", type=float, default=0.0, help="HTTP 500 を返す割合 (0〜1)")
    sim.add_argument("--delay", type=float, default=0.0, help="応答を遅らせる秒数")


def run(args: argparse.Namespace) -> int:
    # on use (start-up time): the simulator loads SQLAlchemy
    from services.jukinet.sim import default_address
    from services.jukinet.sim import run as serve

    ctx = context()
    host, port = default_address(ctx.settings.jukinet_url)
    return serve(
        ctx.db, Actor.cli(), out, host=args.host or host,
        port=port if args.port is None else args.port,
        fail_rate=args.fail_rate, delay=args.delay,
    )


GROUP = Group("jukinet-sim", add_parsers, run)
