"""Attachments (ID copies, photos, signed scans): stored under the data folder by the SHA-256 of their content,
never under a name a user gave; their kind is read from the bytes, not from what the client claims."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from .errors import Invalid, NotFound

MAX_BYTES = 10 * 1024 * 1024
KINDS = {b"\x89PNG\r\n\x1a\n": ("image/png", ".png"), b"\xff\xd8\xff": ("image/jpeg", ".jpg"),
         b"%PDF-": ("application/pdf", ".pdf")}
HASH = re.compile(r"^[0-9a-f]{64}$")


def kind_of(data: bytes) -> tuple[str, str] | None:
    return next((kind for magic, kind in KINDS.items() if data.startswith(magic)), None)


def display_name(name: str) -> str:
    """The file name to show: the last part of whatever path the client sent, without control characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in base if c.isprintable()).strip().lstrip(".")
    return base[:120] or "附件"


def describe(data: bytes, name: str) -> dict:
    """An upload's id (its content hash), the name shown, kind and size; refuses empty, too large or unknown
    kinds of file."""
    if not data:
        raise Invalid("附件是空的", [{"field": "file", "message": "請選擇檔案"}])
    if len(data) > MAX_BYTES:
        raise Invalid(f"附件不可超過 {MAX_BYTES // 1024 // 1024} MB", [{"field": "file", "message": "檔案太大"}])
    kind = kind_of(data)
    if kind is None:
        raise Invalid("只接受 PNG、JPEG 圖片或 PDF 檔", [{"field": "file", "message": "檔案類型不支援"}])
    return {"id": hashlib.sha256(data).hexdigest(), "name": display_name(name), "type": kind[0], "size": len(data)}


def save(folder: Path, digest: str, data: bytes) -> None:
    """Keep `data` as a file of `folder` named by its content hash (idempotent: the same content is one file)."""
    path = path_of(folder, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)


def path_of(folder: Path, digest: str) -> Path:
    if not HASH.match(digest or ""):
        raise NotFound("沒有這個附件")
    return folder / "attachments" / digest[:2] / digest
