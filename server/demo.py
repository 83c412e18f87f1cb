"""`goldkey serve --demo`: one user per role with a printed password, and a few instances to click through."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

from engine.definitions import Registry
from engine.errors import GoldkeyError
from engine.service import Engine


def seed(db: str | Path, registry: Registry) -> Iterator[str]:
    """Create the demo users (once) and start one instance of each workflow a demo user may start; yield the
    lines to print."""
    engine = Engine(db, registry)
    try:
        yield "demo users (name / password / role):"
        for role, title in registry.site.roles.items():
            if engine.user_exists(role):
                yield f"  {role:<18} (exists)           {title}"
                continue
            password = f"{role}-{secrets.token_hex(3)}"
            engine.add_user(role, [role], f"{title}（示範）")
            engine.set_password(role, password)
            yield f"  {role:<18} {password:<18} {title}"
        started = 0
        for wf in sorted(registry.workflows.values(), key=lambda w: w.id):
            if engine.has_instances(wf.id):
                continue
            data = _sample(wf)
            try:
                engine.start(wf.id, wf.start.roles[0], data)
                started += 1
            except GoldkeyError:
                continue  # a form whose sample data does not pass: start it by hand in the UI
        yield f"demo instances started: {started}"
    finally:
        engine.close()


def _sample(wf) -> dict:
    """Plausible start data from the form's schema: the first choice of each enum, a sample text or number."""
    out: dict = {}
    for name in wf.start.fields:
        schema = wf.form.properties.get(name, {})
        if name not in wf.start.required:
            continue
        if "enum" in schema:
            out[name] = schema["enum"][0]
        elif schema.get("format") == "money":
            out[name] = "100.00"
        elif schema.get("format") == "date":
            out[name] = "2026-12-01"
        elif schema.get("format") == "date-time":
            out[name] = "2026-12-01T09:00:00+08:00"
        elif schema.get("type") == "boolean":
            out[name] = False
        elif schema.get("type") in ("integer", "number"):
            out[name] = max(1, schema.get("minimum", 1))
        elif schema.get("type") == "array":
            out[name] = []
        elif "pattern" in schema and "\\d" in schema["pattern"]:
            out[name] = "13800000000"
        else:
            out[name] = "示範" + schema.get("title", name)
    return out
