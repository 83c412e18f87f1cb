"""Sample values from a form's JSON Schema: plausible, valid data for a demo instance or a printout rehearsal."""

from __future__ import annotations

import re
from typing import Any

ROUGH = '甲&乙 <丙> "丁"'  # text that breaks a document if it is not escaped
# tried on a `pattern`, in order
_PATTERNED = ("13800000000", "2026-12", "2026-12-01", "09:00", "A1", "1", "11010119900101123X")


def _matches(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def value(name: str, schema: dict, rough: bool = False) -> Any:
    """A value `schema` accepts: the first choice of an enum, an amount, a date, a number, a phone-like text, a
    table of two rows; `rough`: text also carries & < > " and a line break (to rehearse escaping)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind, fmt = schema.get("type"), schema.get("format")
    if fmt == "money":
        return "100.00"
    if fmt == "date":
        return "2026-12-01"
    if fmt == "date-time":
        return "2026-12-01T09:00:00+08:00"
    if fmt == "time":
        return "09:00:00+08:00"
    if fmt in ("attachment", "signature"):  # (a file: nothing to make up)
        return None
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        if items.get("type") == "object" or "properties" in items:
            return [{k: value(k, s, rough) for k, s in items.get("properties", {}).items()} for _ in range(2)]
        return list(items.get("enum", []))[:1]
    if "pattern" in schema:
        return next((c for c in _PATTERNED if _matches(schema["pattern"], c)), "13800000000")
    text = "示範" + str(schema.get("title", name))
    text = f"{text}：{ROUGH}\n第二行" if rough else text
    return text[:schema["maxLength"]] if isinstance(schema.get("maxLength"), int) else text


def data(form, names=None, rough: bool = False, records: dict | None = None) -> dict:
    """Sample values for the form's fields (`names`, default all), leaving out what has no sample (files; a lookup
    without `records`, the record types: with them, the key of the type's sample record)."""
    out = {}
    for name in names if names is not None else form.properties:
        ref = form.refs.get(name) if hasattr(form, "refs") else None
        if ref is not None:
            target = (records or {}).get(ref.record)
            sample = target.key_of(data(target.form, records=records)) if target else None
        else:
            sample = value(name, form.properties.get(name, {}), rough)
        if sample is not None:
            out[name] = sample
    return out


def records(types: dict) -> list[tuple[str, dict]]:
    """A sample record of every record type, (type, data), each after the types its lookups name: what
    `data(form, records=types)` refers to."""
    out: list[tuple[str, dict]] = []
    done: set[str] = set()

    def add(rt, seen: frozenset) -> None:
        if rt.id in done or rt.id in seen:
            return
        for ref in rt.form.refs.values():
            if ref.record in types:
                add(types[ref.record], seen | {rt.id})
        done.add(rt.id)
        out.append((rt.id, data(rt.form, records=types)))

    for rt in types.values():
        add(rt, frozenset())
    return out
