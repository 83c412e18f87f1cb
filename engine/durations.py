"""Durations in definitions: `5m`, `15m`, `24h`, `7d`, `1w` or ISO 8601 (`PT15M`, `P3D`)."""

from __future__ import annotations

import re
from datetime import timedelta

_PLAIN = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$")
_ISO = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """Parse a wall-clock duration; raise ValueError with an example of what is accepted."""
    if isinstance(text, str):
        m = _PLAIN.match(text)
        if m:
            return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        m = _ISO.match(text.strip())
        if m and any(m.groups()) and not text.strip().endswith("T"):
            weeks, days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
            return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    raise ValueError(f"'{text}' is not a duration; write e.g. 15m, 24h, 7d or PT15M")
