"""Transfer destinations (転送先) and their allowlists, from a TOML file checked whole.

Each ``[destination.<DEST>]`` table gives ``name`` (the receiving system), ``url`` (its
receiving endpoint; batches are POSTed to ``<url>batches``) and ``items``: item name →
legal basis (番号法 article, 条例). An item name must be one of the fixed catalogue
(``services.transfer.catalogue``), every item needs a basis, and every destination at
least one identifying item. Any problem stops the load with a message naming the file,
the destination and the field; nothing is sent with a list that did not pass.
The built-in file is ``services/transfer/destinations.toml``; setting ``transfer_config``
names another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx

from core.errors import BadInput
from core.settings import Settings
from services.settings_files import toml_document
from services.transfer.catalogue import CATALOGUE, IDENTIFYING

BUILT_IN = "destinations.toml"
_DEST_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_KEYS = {"name", "url", "items"}


@dataclass(frozen=True)
class Destination:
    id: str
    name: str
    url: str  # ends with "/"
    items: tuple[str, ...]  # in the file's order
    basis: dict[str, str]  # item → legal basis

    @property
    def endpoint(self) -> str:
        return self.url + "batches"


@dataclass(frozen=True)
class TransferConfig:
    source: str
    destinations: dict[str, Destination]

    def get(self, dest: str) -> Destination:
        """The destination, or BadInput naming DEST and the known ones."""
        found = self.destinations.get((dest or "").strip())
        if found is None:
            known = "、".join(f"{d.id} ({d.name})" for d in self.destinations.values())
            raise BadInput(f"DEST (転送先): 「{dest}」 は設定 {self.source} にありません。"
                           f"転送先: {known}")
        return found


def _url(raw: object, where: str, problems: list[str]) -> str:
    if not isinstance(raw, str) or not raw.strip():
        problems.append(f"{where}: url (受信口) がありません")
        return ""
    text = raw.strip()
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        problems.append(f"{where}: url 「{text}」 は http(s):// で始まる URL ではありません")
        return ""
    return text if text.endswith("/") else text + "/"


def _destination(dest_id: str, raw: object, problems: list[str]) -> Destination | None:
    where = f"転送先 {dest_id}"
    if not _DEST_ID.match(dest_id):
        problems.append(f"{where}: 名前は英小文字で始まる英小文字・数字・-・_ (32字まで) です")
    if not isinstance(raw, dict):
        problems.append(f"{where}: 表 ([destination.{dest_id}]) ではありません")
        return None
    before = len(problems)
    unknown = set(raw) - _KEYS
    if unknown:
        problems.append(f"{where}: 不明な項目 {', '.join(sorted(unknown))}"
                        " (name, url, items だけです)")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}: name (転送先システム名) がありません")
        name = ""
    url = _url(raw.get("url"), where, problems)
    items_raw = raw.get("items")
    items: list[str] = []
    basis: dict[str, str] = {}
    if not isinstance(items_raw, dict) or not items_raw:
        problems.append(f"{where}: items (項目名 = \"根拠\") が1つもありません")
    else:
        for item, why in items_raw.items():
            if item not in CATALOGUE:
                problems.append(f"{where}: 項目 「{item}」 は転送できる項目の一覧にありません")
                continue
            if not isinstance(why, str) or not why.strip():
                problems.append(f"{where}: 項目 「{item}」 の根拠 (番号法の条項・条例)"
                                " がありません")
                continue
            items.append(item)
            basis[item] = why.strip()
        if items and not any(i in basis for i in IDENTIFYING):
            problems.append(f"{where}: 記録を特定する項目 ({'・'.join(IDENTIFYING)}) が"
                            "1つもありません")
    if len(problems) > before:
        return None
    return Destination(dest_id, name.strip(), url, tuple(items), basis)


def parse_config(text: str, source: str) -> TransferConfig:
    """Check and read a transfer settings file; BadInput lists every problem."""
    data, problems = toml_document(text, f"転送設定 {source}", {"destination"},
                                   " ([destination.*] だけです)")
    raw = data.get("destination")
    found: dict[str, Destination] = {}
    if not isinstance(raw, dict) or not raw:
        problems.append("[destination.<名前>] が1つもありません")
    else:
        for dest_id, table in raw.items():
            dest = _destination(dest_id, table, problems)
            if dest is not None:
                found[dest_id] = dest
    if problems:
        raise BadInput(f"転送設定 {source} に誤りがあります:\n" + "\n".join(
            f"  - {p}" for p in problems))
    return TransferConfig(source, found)


def load_config(settings: Settings, path: str | None = None) -> TransferConfig:
    """The file named by ``path``, else setting ``transfer_config``, else the built-in one."""
    chosen = path if path is not None else settings.transfer_config
    if not chosen:
        text = resources.files("services.transfer").joinpath(BUILT_IN).read_text("utf-8")
        return parse_config(text, f"(既定) services/transfer/{BUILT_IN}")
    p = Path(chosen)
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"転送設定 (transfer_config): {p} を読めません ({exc})。") from None
    return parse_config(text, str(p))
