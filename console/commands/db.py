"""``juki db init|rotate-key|seed|backup|restore|drill``: the schema, the identifier key,
a synthetic register, and backups that restore (services/backup, docs/backup.md).

``init`` and ``rotate-key`` refused for the key (``SealingError``) are recorded in the trail
(when there is one) before the error reaches the user. ``backup``, ``restore`` and ``drill``
say their progress on stderr and their answer on stdout.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from console.commands.common import EXIT_CHECK, EXIT_OK, Group, Subparsers, context, err, out
from console.commands.options import add_output
from core.actor import Actor
from core.errors import BadInput

if TYPE_CHECKING:
    from console.context import Context


def add_parsers(sub: Subparsers) -> None:
    db = sub.add_parser("db", help="データベース").add_subparsers(dest="db_cmd", required=True)
    db.add_parser("init", help="スキーマを作成・更新する (二度実行しても変化なし)")
    db.add_parser("rotate-key", help="個人番号の暗号鍵を新しくし、保存済みの番号を暗号化し直す")
    seed = db.add_parser("seed", help="合成の住民記録を作る")
    seed.add_argument("--residents", type=int, required=True, help="住民の人数")
    seed.add_argument("--seed", type=int, default=1, help="乱数の種")
    backup = db.add_parser("backup", help="暗号化したバックアップを作る (稼働中のまま、一時点の"
                           "一貫した写し。個人番号の暗号鍵は含まない)")
    add_output(backup, "書き出すファイル (既定: backup_dir/juki-<UTC 時刻>.age)")
    backup.add_argument("--recipient", action="append", default=[], metavar="AGE_PUBKEY",
                        help="暗号化の宛先 age の公開鍵 age1… (繰り返し可。既定: "
                             "backup_recipients)")
    restore = db.add_parser("restore", help="バックアップを空のデータベースに戻して確かめる")
    restore.add_argument("file", metavar="FILE", help="バックアップ (.age)")
    restore.add_argument("--identity", metavar="FILE",
                         help="age の秘密鍵ファイル (AGE-SECRET-KEY-1…。このサーバーには置かない)")
    drill = db.add_parser("drill", help="最新のバックアップを使い捨てのデータベースに戻して確かめ、"
                          "RTO と RPO を示す (自己点検の証跡)")
    drill.add_argument("--identity", metavar="FILE", help="age の秘密鍵ファイル")
    drill.add_argument("--backup", metavar="FILE",
                       help="訓練に使うバックアップ (既定: backup_dir の最新)")


def run(args: argparse.Namespace) -> int:
    ctx = context()
    if args.db_cmd == "init":
        return _init(ctx)
    if args.db_cmd == "rotate-key":
        return _rotate_key(ctx)
    if args.db_cmd == "backup":
        return _backup(ctx, args)
    if args.db_cmd == "restore":
        return _restore(ctx, args)
    if args.db_cmd == "drill":
        return _drill(ctx, args)
    return _seed(ctx, args)


def _init(ctx: Context) -> int:
    # on use: the schema, the key and the trail load SQLAlchemy (start-up time)
    from core.sealed import SealingError
    from logs import signing
    from logs.audit import record_alone
    from services.schema import current_revision, ensure_key_file, init_schema

    signing_key = ctx.settings.resolved_audit_signing_key_file
    signing_made = not signing_key.exists()
    try:
        key_made = ensure_key_file(ctx.db)
        changed = init_schema(ctx.db)
    except (SealingError, signing.SigningKeyError) as exc:
        if current_revision(ctx.db) is not None:  # the trail exists: record it there
            reason = "identifier_key" if isinstance(exc, SealingError) else "signing_key"
            record_alone(ctx.db, Actor.cli(), "db.init", outcome="refused",
                         severity="high", details={"reason": reason, "message": exc.message})
        raise
    signing_made = signing_made and signing_key.exists()
    record_alone(ctx.db, Actor.cli(), "db.init",
                 details={"changed": changed, "key_created": key_made,
                          "signing_key_created": signing_made})
    if key_made:
        out(f"個人番号の暗号鍵を作成しました: {ctx.settings.resolved_identifier_key_file}"
            " (データベースとは別にバックアップしてください)")
    if signing_made:
        fp = signing.fingerprint(signing.load_public(signing_key))
        out(f"操作ログの署名鍵を作成しました: {signing_key} (公開鍵"
            f" {signing.public_path(signing_key)}、指紋 {fp})。データベースとは別に"
            "バックアップし、公開鍵は検証する人に渡してください。")
    out("スキーマを作成しました。" if changed else "スキーマは最新です。変更はありません。")
    return EXIT_OK


def _rotate_key(ctx: Context) -> int:
    # on use: the key and the trail load SQLAlchemy (start-up time)
    from core.sealed import SealingError
    from logs.audit import record_alone
    from services.rekey import ACTION, rotate_key

    try:
        done = rotate_key(ctx.db, Actor.cli())
    except SealingError as exc:
        record_alone(ctx.db, Actor.cli(), ACTION, target="identifier_key", outcome="refused",
                     severity="high",
                     details={"reason": "identifier_key", "message": exc.message})
        raise
    total = sum(done.resealed.values())
    out(f"個人番号の暗号鍵を新しくしました: {done.key_file} (保存済みの番号 {total:,} 件を"
        "新しい鍵で暗号化し直しました)。")
    out(f"これまでの鍵は {done.old_key} に残しました。鍵の変更より前のバックアップを"
        "読むのに必要です: そのバックアップと一緒に保管し、このサーバーからは削除してください。")
    return EXIT_OK


def _seed(ctx: Context, args: argparse.Namespace) -> int:
    if args.residents < 1:
        raise BadInput("--residents: 1以上の人数を指定してください。")
    # on use: the register loads SQLAlchemy (start-up time)
    from services.register.seed import seed_register
    from services.schema import init_schema

    init_schema(ctx.db)
    started = time.perf_counter()
    summary = seed_register(ctx.db, Actor.cli(), residents=args.residents, seed=args.seed)
    out(f"{summary} ({time.perf_counter() - started:.1f} 秒)")
    return EXIT_OK


def _backup(ctx: Context, args: argparse.Namespace) -> int:
    # on use: the backup loads SQLAlchemy and pyrage (start-up time)
    from services.backup.act import backup
    from services.backup.progress import size

    _lower_priority()
    made = backup(ctx.db, ctx.settings, Actor.cli(),
                  output=Path(args.output) if args.output else None,
                  recipients=tuple(args.recipient), force=args.force, say=err)
    facts = made.manifest.facts
    out(f"バックアップを作りました: {made.path} ({size(made.file_bytes)}、"
        f"SHA-256 {made.file_sha256})")
    out(f"  目録の写し: {made.summary_path}")
    out(f"  時点: {made.manifest.created_at}、操作ログ末尾 #{facts.head_seq} "
        f"({facts.head_hash[:16]}…)、スキーマ {facts.schema_revision}")
    out(f"  {len(facts.counts)} 表、{sum(facts.counts.values()):,} 行。個人番号の暗号鍵は"
        "含みません (鍵は別に保管してください)")
    out(f"  所要 {made.seconds:.1f} 秒 (操作ログ #{made.event_seq} に記録)")
    return EXIT_OK


def _lower_priority() -> None:
    """A backup is background work: it yields the CPU to the consoles (nice 10; pg_dump
    inherits it) so a clerk's lookup waits on it as little as it can (bench/backup)."""
    import contextlib
    import os

    with contextlib.suppress(OSError):
        os.nice(10)


def _said(check: object) -> str:
    ok = getattr(check, "ok", False)
    return f"  [{'OK' if ok else 'NG'}] {getattr(check, 'name', '')}: {getattr(check, 'said', '')}"


def _restore(ctx: Context, args: argparse.Namespace) -> int:
    # on use: the restore loads SQLAlchemy and pyrage (start-up time)
    from services.backup.restore import restore

    done = restore(ctx.db, ctx.settings, Actor.cli(), Path(args.file),
                   Path(args.identity) if args.identity else None, say=err)
    facts = done.manifest.facts
    out(f"復元しました: {done.file} (時点 {done.manifest.created_at}、"
        f"{len(facts.counts)} 表 {sum(facts.counts.values()):,} 行、操作ログ末尾 "
        f"#{facts.head_seq} {facts.head_hash[:16]}…、{done.seconds:.1f} 秒)")
    for check in (*done.checks, done.key):
        out(_said(check))
    if not done.ok:
        err("復元したデータベースが目録と一致しません。使わずに、空にしてから別のバックアップで"
            "やり直してください。")
        return EXIT_CHECK
    if done.held:
        out("操作ログは保留中です: `juki audit recover --from <収集先の写し>` が済むまで、"
            "記録を伴う操作 (コンソールのサインイン、転送、照会など) はデータベースが拒みます。")
    else:
        out("このバックアップのスキーマには復元後の保留がありません: 回復が済むまで"
            "コンソール・転送・タイマーを止めておいてください。")
    out("次に: `juki audit verify` で末尾の欠けを確かめ、`juki audit recover --from <収集先の写し>`"
        " で失われた事象を戻して (失われた事象がなくても保留を解くために) から、"
        "`juki db init` (スキーマの更新) と業務を再開してください。")
    return EXIT_OK


def _drill(ctx: Context, args: argparse.Namespace) -> int:
    # on use: the drill loads SQLAlchemy and pyrage (start-up time)
    from services.backup.drill import drill

    done = drill(ctx.db, ctx.settings, Actor.cli(),
                 file=Path(args.backup) if args.backup else None,
                 identity=Path(args.identity) if args.identity else None, say=err)
    out(f"復元訓練: {done.file} (時点 {done.manifest.created_at}、操作ログ末尾 "
        f"#{done.manifest.facts.head_seq})")
    for check in done.checks:
        out(_said(check))
    out(f"  RTO (復元して確かめるまで): {done.rto_s:.1f} 秒")
    out(f"  RPO (バックアップの古さ): {_age(done.rpo_s)} (その後の操作ログ {done.behind:,} 件は"
        "収集先の写しから戻す分)")
    out(f"結果: {'合格' if done.ok else '不合格'} (操作ログ #{done.event_seq} に記録)")
    return EXIT_OK if done.ok else EXIT_CHECK


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{seconds:.0f} 秒"
    if minutes < 60:
        return f"{minutes} 分"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} 時間 {minutes} 分" if hours < 48 else f"{hours // 24} 日 {hours % 24} 時間"


GROUP = Group("db", add_parsers, run)
