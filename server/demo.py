"""`goldkey serve --demo`: one user per role with a printed password, and a few instances to click through."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

from engine import samples
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
            data = samples.data(wf.form, [n for n in wf.start.fields if n in wf.start.required])
            try:
                engine.start(wf.id, wf.start.roles[0], data)
                started += 1
            except GoldkeyError:
                continue  # a form whose sample data does not pass: start it by hand in the UI
        yield f"demo instances started: {started}"
    finally:
        engine.close()
