"""Passwords and API tokens: scrypt hashes (the standard library's), tokens stored only as their hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# N=2^17, r=8, p=1: the OWASP minimum for scrypt (128 MiB and about half a second a hash). A hash made with
# weaker settings is replaced at its owner's next successful login.
COST = (2**17, 8, 1)
_MAXMEM = 256 * 1024 * 1024
_DUMMY = "scrypt$16$8$1$" + "00" * 16 + "$" + "00" * 64  # (its settings replaced by COST when checked)


def hash_password(password: str) -> str:
    n, r, p = COST
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    """Does `password` match the stored hash? False for a user without a password or without an account, after
    the same work as a real check (so the answer's time does not tell which users exist)."""
    real = bool(stored) and stored.startswith("scrypt$")
    kind, n, r, p, salt, digest = (stored if real else _DUMMY).split("$")
    if not real:
        n, r, p = COST
    try:
        found = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                               maxmem=_MAXMEM)
    except ValueError:
        return False
    return real and hmac.compare_digest(found.hex(), digest)


def needs_rehash(stored: str | None) -> bool:
    """Was this hash made with weaker settings than COST?"""
    try:
        kind, n, r, p, *_ = (stored or "").split("$")
        return kind != "scrypt" or (int(n), int(r), int(p)) < COST
    except ValueError:
        return True


def new_token() -> str:
    """An API token as shown once to its owner: `gk_` and 32 random bytes."""
    return "gk_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
