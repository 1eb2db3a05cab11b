"""``juki transfer …``: send the changed residents' permitted items to a connected system,
list the runs, check a settings file, and the receiving simulator.

Run by the OS operator (``Actor.cli()``) like the other admin commands, typically from
cron or a timer. Exit codes: 0 sent (or nothing to send), 1 the transfer stopped
(recorded; the next run resumes), 2 bad input (DEST, a date, the settings file).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from console.commands.common import EXIT_OK, Group, Subparsers, context, out, run_chosen
from console.commands.options import add_simulator
from core.actor import Actor
from core.clock import iso
from core.settings import load_settings


def add_parsers(sub: Subparsers) -> None:
    tr = sub.add_parser("transfer", help="連携システムへの転送 (宛名管理システム・中間サーバー …)")
    t_sub = tr.add_subparsers(dest="transfer_cmd", required=True)
    send = t_sub.add_parser("send", help="異動のあった住民の、転送してよい項目だけを送る")
    send.add_argument("dest", metavar="DEST",
                      help="転送先 (設定 transfer_config の名前、例: atena)")
    send.add_argument("--since", metavar="DATE",
                      help="この日以降に異動・届出のあった住民"
                      " (既定: 前回の転送以降に入力された異動)")
    send.set_defaults(handler=_send)
    runs = t_sub.add_parser("list", help="転送の記録 (新しい順)")
    runs.add_argument("dest", nargs="?", metavar="DEST", help="転送先で絞る")
    runs.set_defaults(handler=_list)
    check = t_sub.add_parser("check", help="転送設定 (TOML) を検査して転送先と項目を表示する")
    check.add_argument("file", nargs="?", metavar="FILE.toml", help="既定: 設定 transfer_config")
    check.set_defaults(handler=_check)
    sim = t_sub.add_parser("sim", help="転送受信のシミュレータ (デモ・試験用、ループバックのみ)")
    add_simulator(sim, host="待ち受けるアドレス (ループバックのみ)", port=8771,
                  port_help="ポート (既定 8771。0 は空き番号)",
                  received="受信したバッチの保存先 (JSON lines)")
    sim.add_argument("--fail", action="store_true", help="HTTP 500 を返す状態で始める")
    sim.add_argument("--delay", type=float, default=0.0, help="保存・応答を遅らせる秒数")
    sim.set_defaults(handler=_sim)


def _sim(args: argparse.Namespace) -> int:
    from services.transfer.sim import run as serve  # on use: SQLAlchemy (start-up time)

    return serve(Path(args.out), out, host=args.host, port=args.port, fail=args.fail,
                 delay=args.delay)


def _send(args: argparse.Namespace) -> int:
    # on use (start-up time): the transfer loads SQLAlchemy
    from services.jp.wareki import parse_date
    from services.transfer.config import load_config
    from services.transfer.send import RULE_LABELS, send_transfer

    since = parse_date(args.since, field="--since (基準日)") if args.since else None
    ctx = context()
    config = load_config(ctx.settings)
    config.get(args.dest)  # an unknown DEST is bad input before anything is opened
    done = send_transfer(ctx.db, ctx.settings, Actor.cli(), args.dest, since=since,
                         config=config, out=out)
    rule = RULE_LABELS.get(done.rule, done.rule)
    if done.since is not None:
        rule += f" ({done.since.isoformat()} 以降)"
    out(f"{done.destination.name} ({done.destination.id}) への転送 #{done.run_id} を"
        f"終えました: {done.records:,} 件、{done.batches:,} バッチ"
        f" (今回送信 {done.sent_now:,})。対象: {rule}。")
    out("項目: " + "、".join(done.destination.items))
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from services.transfer.config import load_config  # on use: httpx (start-up time)

    config = load_config(load_settings(), args.file)
    out(f"転送設定 {config.source}: 転送先 {len(config.destinations)} 件、誤りはありません。")
    for d in config.destinations.values():
        out(f"{d.id}\t{d.name}\t{d.endpoint}")
        for item in d.items:
            out(f"\t{item}\t{d.basis[item]}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    # on use (start-up time): the transfer loads SQLAlchemy, core.inert Rich
    from core.inert import clean_line
    from services.transfer.send import list_runs

    ctx = context()
    runs = list_runs(ctx.db, args.dest)
    if not runs:
        out("転送の記録はありません。")
    for r in runs:
        out("\t".join(clean_line(str(v)) for v in (
            f"#{r.id}", r.destination, r.status, f"{r.records:,}件", f"{r.batches}バッチ",
            r.rule, iso(r.planned_at), r.last_error or "-",
        )))
    return EXIT_OK



GROUP = Group("transfer", add_parsers, run_chosen)
