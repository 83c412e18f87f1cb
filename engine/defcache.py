"""Loaded definitions, cached by content: an unchanged folder loads from the cache, any change loads afresh.

The key is a hash of everything the result depends on: the text of every file read (goldkey.yaml, forms,
workflows, and with templates the printouts' .docx), how paths are shown, the year (calendar warnings), the
engine's own code and the step kinds registered, and the hour (the warnings about estimated holidays
depend on the date). The value is the pickled Registry, kept in
`$GOLDKEY_CACHE` (default `~/.cache/goldkey`, made private to the user); `GOLDKEY_CACHE=off` turns it off.
A cache that cannot be read or written is simply not used.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from .steps import KINDS

KEEP = 32  # cached loads kept; the oldest go first
_ENGINE = Path(__file__).resolve().parent


def folder() -> Path | None:
    """Where cached loads are kept, or None when caching is off."""
    setting = os.environ.get("GOLDKEY_CACHE", "")
    if setting.lower() in ("off", "0", "no"):
        return None
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "goldkey"


def key(texts: dict[str, str], blobs: dict[str, bytes], *context: object) -> str:
    """The hash of the files read (`texts` and `blobs` by relative path) and of what else the load depends on."""
    digest = hashlib.sha256(_code())
    digest.update(repr(sorted((k, c.__module__, c.__qualname__) for k, c in KINDS.items())).encode())
    digest.update(repr((datetime.now(UTC).strftime("%Y-%m-%d %H"), *context)).encode())
    for rel in sorted(texts):
        digest.update(rel.encode() + b"\0" + texts[rel].encode("utf-8", "surrogateescape") + b"\0")
    for rel in sorted(blobs):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(blobs[rel]).digest())
    return digest.hexdigest()


@cache
def _code() -> bytes:
    """A fingerprint of the engine's source (a changed engine never reads what an older one cached)."""
    digest = hashlib.sha256()
    for path in sorted(_ENGINE.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(_ENGINE)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.digest()


def get(name: str):
    """The cached load under `name`, or None."""
    where = folder()
    if where is None:
        return None
    try:
        with open(where / f"{name}.pickle", "rb") as file:
            return pickle.load(file)  # noqa: S301 - written by this user's own goldkey, in a private folder
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None


def put(name: str, value: object) -> None:
    """Keep `value` under `name` (atomically: a reader sees the whole file or none); prune old entries."""
    where = folder()
    if where is None:
        return
    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        handle, temp = tempfile.mkstemp(dir=where, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temp, where / f"{name}.pickle")
        except OSError:
            Path(temp).unlink(missing_ok=True)
            raise
        entries = sorted(where.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        return
