"""``juki transfer …``: send the changed residents' permitted items to a connected system,
list the runs, check a settings file, and the receiving simulator.

Run by the OS operator (``Actor.cli()``) like the other admin commands, typically from
cron or a timer. Exit codes: 0 sent (or nothing to send), 1 the transfer stopped
(recorded; the next run resumes), 2 bad input (DEST, a date, the settings file).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from console.cli_io import context as _context
from console.cli_io import out as _out

EXIT_OK = 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``transfer`` command group (called by console/cli.py)."""
    tr = sub.add_parser("transfer", help="連携システムへの転送 (宛名管理システム・中間サーバー …)")
    t_sub = tr.add_subparsers(dest="transfer_cmd", required=True)
    send = t_sub.add_parser("send", help="異動のあった住民の、転送してよい項目だけを送る")
    send.add_argument("dest", metavar="DEST",
                      help="転送先 (設定 transfer_config の名前、例: atena)")
    send.add_argument("--since", metavar="DATE",
                      help="この日以降に異動・届出のあった住民"
                      " (既定: 前回の転送以降に入力された異動)")
    runs = t_sub.add_parser("list", help="転送の記録 (新しい順)")
    runs.add_argument("dest", nargs="?", metavar="DEST", help="転送先で絞る")
    check = t_sub.add_parser("check", help="転送設定 (TOML) を検査して転送先と項目を表示する")
    check.add_argument("file", nargs="?", metavar="FILE.toml", help="既定: 設定 transfer_config")
    sim = t_sub.add_parser("sim", help="転送受信のシミュレータ (デモ・試験用、ループバックのみ)")
    sim.add_argument("--host", default="127.0.0.1", help="待ち受けるアドレス (ループバックのみ)")
    sim.add_argument("--port", type=int, default=8771, help="ポート (既定 8771。0 は空き番号)")
    sim.add_argument("--out", required=True, metavar="FILE",
                     help="受信したバッチの保存先 (JSON lines)")
    sim.add_argument("--fail", action="store_true", help="HTTP 500 を返す状態で始める")
    sim.add_argument("--delay", type=float, default=0.0, help="保存・応答を遅らせる秒数")


def cmd_transfer(args: argparse.Namespace) -> int:
    if args.transfer_cmd == "sim":
        from services.transfer.sim import run

        return run(Path(args.out), _out, host=args.host, port=args.port, fail=args.fail,
                   delay=args.delay)
    if args.transfer_cmd == "check":
        return _check(args)
    if args.transfer_cmd == "list":
        return _list(args)
    return _send(args)


def _send(args: argparse.Namespace) -> int:
    from core.actor import Actor
    from services.jp.wareki import parse_date
    from services.transfer.config import load_config
    from services.transfer.send import RULE_LABELS, send_transfer

    since = parse_date(args.since, field="--since (基準日)") if args.since else None
    ctx = _context()
    config = load_config(ctx.settings)
    config.get(args.dest)  # an unknown DEST is bad input before anything is opened
    done = send_transfer(ctx.db, ctx.settings, Actor.cli(), args.dest, since=since,
                         config=config, out=_out)
    rule = RULE_LABELS.get(done.rule, done.rule)
    if done.since is not None:
        rule += f" ({done.since.isoformat()} 以降)"
    _out(f"{done.destination.name} ({done.destination.id}) への転送 #{done.run_id} を"
         f"終えました: {done.records:,} 件、{done.batches:,} バッチ"
         f" (今回送信 {done.sent_now:,})。対象: {rule}。")
    _out("項目: " + "、".join(done.destination.items))
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from core.settings import load_settings
    from services.transfer.config import load_config

    config = load_config(load_settings(), args.file)
    _out(f"転送設定 {config.source}: 転送先 {len(config.destinations)} 件、誤りはありません。")
    for d in config.destinations.values():
        _out(f"{d.id}\t{d.name}\t{d.endpoint}")
        for item in d.items:
            _out(f"\t{item}\t{d.basis[item]}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from core.clock import iso
    from core.inert import clean_line
    from services.transfer.send import list_runs

    ctx = _context()
    runs = list_runs(ctx.db, args.dest)
    if not runs:
        _out("転送の記録はありません。")
    for r in runs:
        _out("\t".join(clean_line(str(v)) for v in (
            f"#{r.id}", r.destination, r.status, f"{r.records:,}件", f"{r.batches}バッチ",
            r.rule, iso(r.planned_at), r.last_error or "-",
        )))
    return EXIT_OK
