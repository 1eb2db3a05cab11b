"""``juki db init|rotate-key|seed``: the schema, the identifier key, a synthetic register.

``init`` and ``rotate-key`` refused for the key (``SealingError``) are recorded in the trail
(when there is one) before the error reaches the user.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from console.commands.common import EXIT_OK, Group, Subparsers, context, out
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


def run(args: argparse.Namespace) -> int:
    ctx = context()
    if args.db_cmd == "init":
        return _init(ctx)
    if args.db_cmd == "rotate-key":
        return _rotate_key(ctx)
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


GROUP = Group("db", add_parsers, run)
