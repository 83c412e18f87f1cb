"""`goldkey serve --demo`: one user per role with a printed password, and a few instances to click through."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

from engine import samples
from engine.definitions import Registry
from engine.errors import GoldkeyError
from engine.service import Engine


def seed(db: str | Path, registry: Registry, sites: int = 0) -> Iterator[str]:
    """Create the demo users (once) and start one instance of each workflow a demo user may start; yield the
    lines to print. `sites`: a demo company of that many sites (s1, s2, ...), with one user per role at each
    (`concierge-1` at s1 ...), beside one per role for the whole company (`concierge`, at '*')."""
    engine = Engine(db, registry)
    try:
        places = [(f"s{i}", f"示範{_NUMERALS[i]}管理處", f"S{i}") for i in range(1, sites + 1)]
        for site, title, prefix in places:
            engine.add_site(site, title, prefix)
        if places:
            yield "demo sites: " + "、".join(f"{site} {title}" for site, title, _ in places)
        yield "demo users (name / password / role):"
        people = [(role, "*", f"{title}（示範）", title) for role, title in registry.site.roles.items()]
        people += [(f"{role}-{i}", site, f"{title}（{site_title}）", f"{title} @ {site}")
                   for i, (site, site_title, _) in enumerate(places, 1) for role, title in registry.site.roles.items()]
        for name, site, display, label in people:
            role = name.split("-")[0]
            if engine.user_exists(name):
                yield f"  {name:<20} (exists)           {label}"
                continue
            password = f"{name}-{secrets.token_hex(3)}"
            engine.add_user(name, [role], display, site=site)
            engine.set_password(name, password)
            yield f"  {name:<20} {password:<22} {label}"
        yield from _records(engine, registry, [site for site, _, _ in places] or [None])
        started = 0
        for wf in sorted(registry.workflows.values(), key=lambda w: w.id):
            if engine.has_instances(wf.id):
                continue
            data = samples.data(wf.form, [n for n in wf.start.fields if n in wf.start.required])
            for site, _, _ in places or [(None, None, None)]:
                try:
                    engine.start(wf.id, wf.start.roles[0], _chosen(engine, wf, data, site), site)
                    started += 1
                except GoldkeyError:
                    continue  # a form whose sample data does not pass: start it by hand in the UI
        yield f"demo instances started: {started}"
    finally:
        engine.close()


def _records(engine: Engine, registry: Registry, sites: list[str | None]) -> Iterator[str]:
    """The demo records: each type's `records/<type>.demo.csv` beside its definition, at every demo site, imported
    once, by a demo user who may edit them (types a lookup names first)."""
    from engine.recordio import read_sheet

    for type_id, _ in samples.records(registry.records):
        rt = registry.records[type_id]
        sheet = registry.root / "records" / f"{type_id}.demo.csv"
        if not sheet.is_file() or not rt.editors or engine.records(type_id, rt.editors[0], page=1, per_page=1)["total"]:
            continue
        rows = read_sheet(rt, sheet.read_bytes(), sheet.name)
        for site in sites:
            report = engine.import_records(type_id, rt.editors[0], rows, partial=True, site=site)
            yield f"demo {rt.title}: {report['created']} ({site or 'default'})"


def _chosen(engine: Engine, wf, data: dict, site: str | None) -> dict:
    """Sample start data with each lookup field set to a record the site has (when it has one)."""
    out = dict(data)
    for name, ref in wf.form.refs.items():
        if name in wf.start.fields:
            found = engine.lookup(ref.record, wf.start.roles[0], "", site, limit=1)
            if found:
                out[name] = found[0]["key"]
    return out


_NUMERALS = "〇一二三四五六七八九十"
