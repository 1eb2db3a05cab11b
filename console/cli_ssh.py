"""``juki user key add|list|remove``: SSH public keys bound to accounts (auth.ssh_keys).

Run by the OS operator (``Actor.cli()``). Exit codes as everywhere: 0 done, 1 refused
(a key already bound, an unknown account), 2 bad input (a file that cannot be read or a
line that is not a public key, named by file and line; nothing written).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from console.cli_io import out as _out
from core.errors import BadInput

EXIT_OK = 0


def _read_text(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"ファイル {path}: 読めません ({exc.strerror or exc})。") from None
    if len(data) > 1_000_000:
        raise BadInput(f"ファイル {path}: 公開鍵ファイルとしては大きすぎます。")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"ファイル {path}: UTF-8 のテキストではありません。") from None


def cmd_user_key(args: argparse.Namespace) -> int:
    from auth.ssh_keys import add_keys, list_keys, remove_key
    from console.context import Context
    from core.actor import Actor
    from core.clock import iso
    from core.inert import clean_line

    if args.key_cmd == "add":
        text = _read_text(args.file)
        ctx = Context.from_env()
        added = add_keys(ctx.db, Actor.cli(), args.login, text, args.file)
        for k in added:
            _out(f"鍵を登録しました: {args.login}\t{k.fingerprint}\t{k.key_type}\t"
                 f"{clean_line(k.comment)}")
        return EXIT_OK
    ctx = Context.from_env()
    if args.key_cmd == "list":
        from logs.audit import record_alone

        keys = list_keys(ctx.db, args.login)
        record_alone(ctx.db, Actor.cli(), "user.key.list", target=args.login,
                     details={"count": len(keys)})
        for k in keys:
            _out(f"{k.fingerprint}\t{k.key_type}\t{clean_line(k.comment)}\t{iso(k.added_at)}")
        if not keys:
            _out(f"{args.login} に登録された鍵はありません。")
        return EXIT_OK
    remove_key(ctx.db, Actor.cli(), args.login, args.fingerprint)
    _out(f"鍵の登録を外しました: {args.login}\t{args.fingerprint}")
    return EXIT_OK
