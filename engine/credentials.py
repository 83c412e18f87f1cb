"""Passwords and API tokens: scrypt hashes (the standard library's), tokens stored only as their hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1  # ~50 ms and 16 MiB per hash: slow for a guesser, fine for a login


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    """Does `password` match the stored hash? (False for a user without a password.)"""
    try:
        kind, n, r, p, salt, digest = (stored or "").split("$")
        if kind != "scrypt":
            return False
        found = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                               maxmem=64 * 1024 * 1024)
    except ValueError:
        return False
    return hmac.compare_digest(found.hex(), digest)


def new_token() -> str:
    """An API token as shown once to its owner: `gk_` and 32 random bytes."""
    return "gk_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
