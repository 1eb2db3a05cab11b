"""``juki hr …`` and ``juki access …``: personnel changes in, rights changes out.

Run by the OS operator (``Actor.cli()``), like the other admin commands. Exit codes as
everywhere: 0 done, 1 a failed check, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from console.cli_io import context as _context
from console.cli_io import out as _out
from core.errors import BadInput

EXIT_OK, EXIT_CHECK, EXIT_BAD = 0, 1, 2


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"ファイル {path}: 読めません ({exc.strerror or exc})。") from None


def cmd_hr(args: argparse.Namespace) -> int:
    from core.actor import Actor
    from core.inert import clean_line

    ctx = _context()
    actor = Actor.cli()
    if args.hr_cmd == "import":
        from services.personnel.rounds import import_round

        done = import_round(ctx.db, ctx.settings, actor, name=Path(args.file).name,
                            data=_read(args.file), allow_earlier=args.allow_earlier)
        _out(f"異動処理 #{done.round_id}: {done.rows:,} 行 ({done.people:,} 人) を取り込みました。"
             f"権限の削除・停止 {done.revokes:,} 件、付与・再開 {done.grants:,} 件。")
        if done.applied_now:
            _out(f"発令日を迎えた削除・停止 {done.applied_now:,} 件を適用しました。")
        return EXIT_OK
    if args.hr_cmd == "staff":
        from services.personnel.staff import import_staff

        loaded = import_staff(ctx.db, actor, name=Path(args.file).name, data=_read(args.file))
        _out(f"職員台帳: 追加 {loaded.added:,} 人、更新 {loaded.updated:,} 人、"
             f"アカウント紐付け {loaded.linked:,} 人。")
        return EXIT_OK
    if args.hr_cmd == "link":
        from services.personnel.staff import link_account

        link_account(ctx.db, actor, args.staff_no, args.login)
        _out(f"職員番号 {args.staff_no} をアカウント {args.login} に紐付けました。")
        return EXIT_OK
    from services.jp.wareki import format_wareki
    from services.personnel.rounds import get_round, list_rounds, round_lines

    if args.round is None:
        for r in list_rounds(ctx.db):
            _out("\t".join(clean_line(str(v)) for v in (
                f"#{r.id}", r.source_name,
                f"{format_wareki(r.first_on)}〜{format_wareki(r.last_on)}",
                f"変更 {r.changes}", f"未適用 {r.pending}", f"適用済み {r.applied}",
                f"確認済み {r.confirmed}", f"異議 {r.disputed}",
            )))
        return EXIT_OK
    get_round(ctx.db, args.round)
    for line in round_lines(ctx.db, args.round):
        _out("\t".join(clean_line(str(v)) for v in (
            f"#{line.id}", format_wareki(line.effective_on), line.staff_no, line.name,
            line.login or "-", line.action_label, line.role or "-", line.state_label,
            line.applied_by or "-", line.confirmed_by or "-", line.reason,
        )))
    return EXIT_OK


def cmd_access(args: argparse.Namespace) -> int:
    if args.access_cmd == "policy-check":
        return _policy_check(args)
    if args.access_cmd == "apply-due":
        from core.actor import Actor
        from services.jp.wareki import parse_date
        from services.personnel.apply import apply_due

        day = parse_date(args.date, field="--date (適用日)") if args.date else None
        ctx = _context()
        done = apply_due(ctx.db, ctx.settings, Actor.cli(), today=day)
        _out(f"職員台帳への反映 {done.registry:,} 件、権限の削除・停止 {done.rights:,} 件、"
             f"終了したセッション {done.sessions:,} 件。")
        return EXIT_OK
    handler = EXTRA_ACCESS.get(args.access_cmd)
    if handler is None:
        raise BadInput(f"access {args.access_cmd}: 不明なコマンドです。")
    return handler(args)


def _policy_check(args: argparse.Namespace) -> int:
    from services.personnel.policy import load_policy, parse_policy

    if args.file:
        try:
            text = Path(args.file).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.__class__.__name__
            raise BadInput(f"ファイル {args.file}: 読めません ({why})。") from None
        policy = parse_policy(text, args.file)
    else:
        policy = load_policy(_context().settings)
    _out(f"役割ポリシー {policy.source}: ルール {len(policy.rules)} 件、問題はありません。")
    for (department, post), roles in sorted(policy.rules.items()):
        _out(f"  {department}・{post or '（全職）'} → {', '.join(sorted(roles)) or '（なし）'}")
    return EXIT_OK


# Further ``juki access`` subcommands (report, inventory) register here by name.
EXTRA_ACCESS: dict[str, Callable[[argparse.Namespace], int]] = {}


def cmd_access_report(args: argparse.Namespace) -> int:
    """``juki access report ROUND [--format pdf|csv] [--output FILE]``."""
    from core.actor import Actor
    from services.personnel.report import export_round_report, title

    ctx = _context()
    done = export_round_report(ctx.db, ctx.settings, Actor.cli(), args.round, args.fmt,
                               path=args.output, force=args.force)
    _out(f"{title(done.round_id)} {done.rows:,} 件を {done.format.upper()} で書き出しました:"
         f" {done.path}")
    _out(f"SHA-256: {done.sha256}")
    return EXIT_OK


EXTRA_ACCESS["report"] = cmd_access_report
