"""What a site (管理處) is named by: an id for commands and URLs, the title staff read, the prefix of its numbers."""

from __future__ import annotations

import re

from .errors import Invalid


def check(site: str, title: str | None, number_prefix: str | None) -> None:
    """Refuse an id, title or prefix staff or commands could not use, with the fix in the message."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", site or ""):
        raise Invalid("管理處代號只能用小寫英文字母、數字、- 與 _（最多 32 個字元），例如 yilin")
    if not (title or "").strip():
        raise Invalid("請填寫管理處名稱，例如 意林小鎮管理處")
    if number_prefix is not None and not re.fullmatch(r"[A-Z0-9]{1,8}", number_prefix):
        raise Invalid("編號前綴只能用大寫英文字母與數字（最多 8 個字元），例如 YL")
