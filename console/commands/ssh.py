"""``juki ssh authorized-keys [--config F] USER TYPE KEY``: the SSH door, for sshd.

sshd's AuthorizedKeysCommand (``… %u %t %k``, run as the service account): prints the
authorized_keys line for the offered key, or nothing when it may not enter
(``services.door``; docs/ssh.md). ``console/cli.py`` answers the usual form before this
group is even imported (``console.authorized_keys``); this parser serves ``--help`` and
says what is wrong with other forms (exit 2).
"""

from __future__ import annotations

import argparse

from console.commands.common import Group, Subparsers, run_chosen


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser("ssh", help="SSH 接続の入口 (sshd から呼ばれる)")
    ssh = p.add_subparsers(dest="ssh_cmd", required=True)
    keys = ssh.add_parser(
        "authorized-keys",
        help="sshd の AuthorizedKeysCommand: 鍵が入れるなら authorized_keys の1行を出力する",
        description="提示された鍵が、今日コンソールを使えるアカウントに登録されていれば "
                    "restrict,pty,command=\"… --key SHA256:…\" の1行を出力し、"
                    "そうでなければ何も出力しません (終了コード 0)。",
    )
    keys.add_argument("--config", metavar="FILE",
                      help="設定ファイル (JUKI_CONFIG の代わり; sshd は環境変数を渡さないため)")
    keys.add_argument("user", metavar="USER", help="接続先の OS ユーザー (sshd の %%u)")
    keys.add_argument("key_type", metavar="TYPE", help="鍵の種類 (sshd の %%t)")
    keys.add_argument("key", metavar="KEY", help="鍵データ base64 (sshd の %%k)")
    keys.set_defaults(handler=_authorized_keys)


def _authorized_keys(args: argparse.Namespace) -> int:
    from console.authorized_keys import Request, respond

    return respond(Request(args.config, args.user, args.key_type, args.key))


GROUP = Group("ssh", add_parsers, run_chosen)
