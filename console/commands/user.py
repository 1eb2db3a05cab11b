"""``juki user add|list|disable`` and ``juki user key add|list|remove``: accounts, and the
SSH public keys bound to them (auth.ssh_keys).

Run by the OS operator (``Actor.cli()``). Exit codes as everywhere: 0 done, 1 refused
(a key already bound, an unknown account), 2 bad input (a password typed twice unalike; a
key file that cannot be read or a line that is not a public key, named by file and line;
nothing written).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from auth.roles import role_label
from console.commands.common import EXIT_OK, Group, Subparsers, context, out
from core.actor import Actor
from core.clock import iso
from core.errors import BadInput


def add_parsers(sub: Subparsers) -> None:
    user = sub.add_parser("user", help="アカウント").add_subparsers(dest="user_cmd", required=True)
    add = user.add_parser("add", help="アカウントを追加する (パスワードは標準入力から)")
    add.add_argument("login")
    add.add_argument("--name", required=True)
    add.add_argument("--role", action="append", required=True, dest="roles")
    add.add_argument("--department", default="")
    user.add_parser("list", help="アカウントの一覧")
    dis = user.add_parser("disable", help="アカウントを無効にする")
    dis.add_argument("login")
    key = user.add_parser("key", help="SSH 公開鍵の登録 (1つの鍵で1つのアカウント)")
    key_sub = key.add_subparsers(dest="key_cmd", required=True)
    key_add = key_sub.add_parser("add", help="公開鍵ファイル (OpenSSH 形式) の鍵を登録する")
    key_add.add_argument("login")
    key_add.add_argument("file", metavar="FILE", help="公開鍵ファイル (例: id_ed25519.pub)")
    key_list = key_sub.add_parser("list", help="登録された鍵の一覧 (SHA256 指紋)")
    key_list.add_argument("login")
    key_rm = key_sub.add_parser("remove", help="鍵の登録を外す")
    key_rm.add_argument("login")
    key_rm.add_argument("fingerprint", metavar="FINGERPRINT", help="SHA256:… の指紋")


def run(args: argparse.Namespace) -> int:
    if args.user_cmd == "key":
        return _key(args)
    # on use: accounts and the trail load SQLAlchemy (start-up time)
    from auth.accounts import add_user, disable_user, list_users
    from logs.audit import record_alone

    ctx = context()
    if args.user_cmd == "add":
        password = _read_password()
        acct = add_user(
            ctx.db, ctx.settings, Actor.cli(), login=args.login, name=args.name,
            roles=args.roles, password=password, department=args.department,
        )
        out(f"アカウント {acct.login} ({acct.name}) を追加しました。役割: {', '.join(acct.roles)}")
        return EXIT_OK
    if args.user_cmd == "list":
        accounts = list_users(ctx.db)
        record_alone(ctx.db, Actor.cli(), "user.list", details={"count": len(accounts)})
        for a in accounts:
            state = "無効" if a.disabled else ("ロック中" if a.locked else "有効")
            roles = ",".join(f"{r}({role_label(r)})" for r in a.roles)
            out(f"{a.login}\t{a.name}\t{a.department}\t{roles}\t{state}")
        return EXIT_OK
    disable_user(ctx.db, Actor.cli(), args.login)
    out(f"アカウント {args.login} を無効にしました。")
    return EXIT_OK


def _read_password() -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise BadInput("パスワード: 標準入力から読めませんでした。")
        return line.rstrip("\r\n")
    first = getpass.getpass("パスワード: ")
    second = getpass.getpass("パスワード (確認): ")
    if first != second:
        raise BadInput("パスワード: 2回の入力が一致しません。")
    return first


def _key(args: argparse.Namespace) -> int:
    # on use: the keys and the trail load SQLAlchemy, core.inert Rich (start-up time)
    from auth.ssh_keys import add_keys, list_keys, remove_key
    from core.inert import clean_line
    from logs.audit import record_alone

    if args.key_cmd == "add":
        text = _read_key_file(args.file)
        ctx = context()
        added = add_keys(ctx.db, Actor.cli(), args.login, text, args.file)
        for k in added:
            out(f"鍵を登録しました: {args.login}\t{k.fingerprint}\t{k.key_type}\t"
                f"{clean_line(k.comment)}")
        return EXIT_OK
    ctx = context()
    if args.key_cmd == "list":
        keys = list_keys(ctx.db, args.login)
        record_alone(ctx.db, Actor.cli(), "user.key.list", target=args.login,
                     details={"count": len(keys)})
        for k in keys:
            out(f"{k.fingerprint}\t{k.key_type}\t{clean_line(k.comment)}\t{iso(k.added_at)}")
        if not keys:
            out(f"{args.login} に登録された鍵はありません。")
        return EXIT_OK
    remove_key(ctx.db, Actor.cli(), args.login, args.fingerprint)
    out(f"鍵の登録を外しました: {args.login}\t{args.fingerprint}")
    return EXIT_OK


def _read_key_file(path: str) -> str:
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


GROUP = Group("user", add_parsers, run)
