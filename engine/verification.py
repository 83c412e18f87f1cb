"""Verification codes printed on documents: short, typed by hand, with a keyed check so a made-up or
mistyped code is told apart from one that was never issued.

A code is eight random characters and two check characters (an HMAC of the eight under the site's secret),
in Crockford's base 32 (no I, L, O, U), shown as K7QX-M2PD-9A; reading it back forgives case, dashes and
the look-alikes O/0 and I/L/1.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LOOKALIKE = str.maketrans({"O": "0", "I": "1", "L": "1"})


MAX_TYPED = 40  # characters of a code as typed (with spaces and dashes); longer is no code


def new_code(secret: str) -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return _format(body + _check(secret, body))


def normalize(text: str) -> str | None:
    """The code as stored (K7QX-M2PD-9A), or None if it cannot be one."""
    raw = "".join(str(text).upper().split()).replace("-", "").translate(_LOOKALIKE)
    if len(raw) != 10 or any(c not in ALPHABET for c in raw):
        return None
    return _format(raw)


def genuine_form(secret: str, code: str) -> bool:
    """Do the check characters match (a code this site could have issued)?"""
    raw = code.replace("-", "")
    return hmac.compare_digest(raw[8:], _check(secret, raw[:8]))


def _check(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return ALPHABET[digest[0] % 32] + ALPHABET[digest[1] % 32]


def _format(raw: str) -> str:
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
