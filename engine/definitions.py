"""Load forms, workflows and site settings from YAML into typed definitions, collecting every problem.

`load` reads a definitions folder (goldkey.yaml, records/, forms/, workflows/), validates each file against the
meta-schema, builds the site (engine/sitedef.py), the record types (engine/recorddef.py), the forms
(engine/formdef.py) and the workflows (here, each
step by its kind's `build`), then lints them (engine/lint.py). Problems are collected with their
`path:line:col`, never raised; `load_strict` raises them as one DefinitionError.
"""

from __future__ import annotations

import gc
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import defcache, spans
from .deadlines import ACTIONS, Due, Rung
from .defcheck import compile_at
from .durations import Duration, parse_duration
from .errors import DefinitionError
from .expressions import Expression
from .forms import Form
from .hints import did_you_mean
from .model import Carry, Ledger, Post, Registry, Sample, Schedule, Site, Target, Update, Workflow
from .recorddef import build_record, check_refs
from .records import RecordType
from .reports import Report
from .sitedef import SITE_FILE, build_site, calendar_warnings
from .steps import KINDS, Step
from .steps.form import FormStep
from .yamlsrc import KeyPath, Problem, Source, parse

__all__ = ["SITE_FILE", "Builder", "Ledger", "Post", "Registry", "Schedule", "Site", "Target", "Workflow",
           "calendar_warnings", "compile_at", "load", "load_strict", "load_texts", "version_of"]


def load(root: str | Path, display_root: str | None = None, templates: bool = False) -> Registry:
    """Load and lint every definition under `root`; problems are collected, not raised. `templates`: also
    lint the printout templates (slower: each is opened and rendered; `goldkey check` does). An unchanged
    folder loads from the cache (engine/defcache.py)."""
    root = Path(root)
    prefix = display_root if display_root is not None else str(root)
    texts: dict[str, str] = {}
    for rel in [SITE_FILE] + [f"{folder}/{p.name}" for folder in ("records", "forms", "fragments", "workflows",
                                                                                "reports")
                              for p in (sorted((root / folder).glob("*.yaml")) if (root / folder).is_dir() else [])]:
        path = root / rel
        if path.is_file():
            texts[rel] = read_text(path)
    blobs = {f"printouts/{p.name}": p.read_bytes() for p in sorted((root / "printouts").glob("*.docx"))} \
        if templates else {}
    name = defcache.key(texts, blobs, prefix, templates)
    registry = defcache.get(name)
    if registry is None:
        with _no_gc():
            registry = _load(root, prefix, templates, texts)
        defcache.put(name, registry)
    registry.root = root
    return registry


def read_text(path: Path) -> str:
    """A definition file's text; bytes that are not UTF-8 are kept as escapes (U+DC80–U+DCFF) for the parser to
    report at their place."""
    return path.read_bytes().decode("utf-8", errors="surrogateescape")


@contextmanager
def _no_gc() -> Iterator[None]:
    """Without the cyclic garbage collector: a load makes a great many small objects and no cycles to collect,
    and the collector's passes over them cost nearly half the time of a big load."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _load(root: Path, prefix: str, templates: bool, texts: dict[str, str]) -> Registry:
    registry = load_texts(texts, prefix)
    registry.warnings += calendar_warnings(registry.site, _display(prefix, SITE_FILE), texts.get(SITE_FILE))
    if templates and not registry.problems:  # (with a broken workflow its templates would only echo it)
        from .printcheck import lint_printouts  # docxtpl and lxml: imported only when templates are checked

        problems, warnings = lint_printouts(registry, root, prefix)
        registry.problems = sorted(set(registry.problems) | set(problems))
        registry.warnings = sorted(set(registry.warnings) | set(warnings))
    if SITE_FILE not in texts:
        registry.problems.insert(0, Problem(_display(prefix, SITE_FILE), 1, 1,
                                            f"{SITE_FILE} is missing: declare the roles of the site there"))
    return registry


def load_strict(root: str | Path) -> Registry:
    """Load definitions and raise DefinitionError if anything is wrong."""
    registry = load(root)
    if registry.problems:
        raise DefinitionError(registry.problems)
    return registry


def _display(prefix: str, rel: str) -> str:
    return rel if prefix in ("", ".") else f"{prefix.rstrip('/')}/{rel}"


def load_texts(texts: dict[str, str], prefix: str = "", lint_graph: bool = True) -> Registry:
    """Build a registry from YAML texts keyed by relative path (`forms/x.yaml`, ...)."""
    from . import metaschema  # jsonschema: imported only when something is loaded afresh
    from .formdef import build_form
    from .lint import lint_workflow

    problems: list[Problem] = []
    warnings: list[Problem] = []
    sources: dict[str, Source] = {}
    broken: set[str] = set()
    for rel, text in texts.items():
        source, found = parse(_display(prefix, rel), text)
        kind = "site" if rel == SITE_FILE else rel.split("/", 1)[0].rstrip("s")
        if source.data is not None:
            if not isinstance(source.data, dict):
                found.append(source.problem((), "expected a mapping of keys at the top of the file, found "
                                                f"{type(source.data).__name__}"))
                source.data = None
            else:
                found += metaschema.check(source, kind)
        problems += found
        if found:
            broken.add(Path(rel).stem)  # others that refer to it get no second message
        if source.data is not None:
            sources[rel] = source  # clean, or with unknown keys already reported and corrected: lint on
    site = build_site(sources.get(SITE_FILE), problems, warnings)
    records = _records(sources, site, prefix, problems, warnings, broken)
    forms: dict[str, Form] = {}
    form_files: dict[str, str] = {}
    for rel, source in sources.items():
        if rel.startswith("forms/"):
            form = build_form(source, site, problems, warnings)
            if form is None:
                broken.add(source.data["id"])
                continue
            if form.id in forms:
                problems.append(source.problem(("id",), f"duplicate form id '{form.id}': already defined in "
                                                        f"{_display(prefix, form_files[form.id])}"))
                continue
            forms[form.id], form_files[form.id] = form, rel
            check_refs(source, form, records, broken, problems)
    fragments = _fragments(sources, problems, broken)
    workflows: dict[str, Workflow] = {}
    wf_files: dict[str, str] = {}
    built: list[tuple[Workflow, Source]] = []
    for rel, source in sources.items():
        if not rel.startswith("workflows/"):
            continue
        wf = _build_workflow(source, forms, problems, broken, records, fragments)
        if wf is None:
            continue
        if wf.id in workflows:
            problems.append(source.problem(("id",), f"duplicate workflow id '{wf.id}': already defined in "
                                                    f"{_display(prefix, wf_files[wf.id])}"))
            continue
        wf.files = {rel: texts[rel]}
        used = {id(a) for a in source.aliases.values()}
        for frel, fsource in sources.items():  # (a changed fragment: a new version of each workflow using it)
            if id(fsource) in used:
                wf.files[frel] = texts[frel]
        if wf.form.id in form_files:
            wf.files[form_files[wf.form.id]] = texts[form_files[wf.form.id]]
        wf.version = version_of(wf.files)
        wf.calendar, wf.site_roles = site.calendar, site.roles
        workflows[wf.id], wf_files[wf.id] = wf, rel
        built.append((wf, source))
    if lint_graph:
        for wf, source in built:
            found, notes = lint_workflow(wf, source, site, workflows, broken)
            problems += found
            warnings += notes
        warnings += _uncollected(forms, {fid: sources[rel] for fid, rel in form_files.items()}, workflows)
    for wf, source in built:
        _check_samples(wf, source, workflows, broken, problems)
    for fid, rel in form_files.items():  # a link field names workflows that exist
        for name, allowed in forms[fid].links.items():
            for i, other in enumerate(allowed):
                if other not in workflows and other not in broken | failed_ids(sources, workflows):
                    kp = ("schema", "properties", name, "workflow") + ((i,) if len(allowed) > 1 or isinstance(
                        forms[fid].properties[name].get("workflow"), list) else ())
                    problems.append(sources[rel].problem(kp, f"unknown workflow '{other}'"
                                                             f"{did_you_mean(other, workflows)}"))
    failed = failed_ids(sources, workflows)
    reports = _reports(sources, site, workflows, records, problems, broken | failed)
    for wf, source in built:
        if wf.seed:
            _check_seed(wf, source, reports, problems)
    return Registry(Path(prefix or "."), site, forms, workflows, sorted(set(problems)), sorted(set(warnings)),
                    records, {rel: texts[rel] for rel in sources if rel.startswith("records/")}, reports)


def failed_ids(sources: dict[str, Source], workflows: dict[str, Workflow]) -> set[str]:
    """The ids of workflow files that did not build (their problems are reported in them)."""
    return {s.data["id"] for rel, s in sources.items() if rel.startswith("workflows/")} - set(workflows)


def _reports(sources: dict[str, Source], site: Site, workflows: dict[str, Workflow], records: dict[str, RecordType],
             problems: list[Problem], broken: set[str]) -> dict[str, Report]:
    from .reports import build_report

    forms_of = {wid: wf.form.properties for wid, wf in workflows.items()}
    out: dict[str, Report] = {}
    for rel, source in sources.items():
        if rel.startswith("reports/"):
            report = build_report(source, site, forms_of, records, problems, broken)
            if report.id in out:
                problems.append(source.problem(("id",), f"duplicate report id '{report.id}': already defined in "
                                                        f"{out[report.id].path}"))
            else:
                out[report.id] = report
    return out


def _records(sources: dict[str, Source], site: Site, prefix: str, problems: list[Problem],
             warnings: list[Problem], broken: set[str]) -> dict[str, RecordType]:
    """The record types of records/*.yaml, their lookups of one another checked once all are built."""
    records: dict[str, RecordType] = {}
    files: dict[str, tuple[str, Source]] = {}
    for rel, source in sources.items():
        if not rel.startswith("records/"):
            continue
        record = build_record(source, site, problems, warnings)
        if record is None:
            broken.add(source.data["id"])
        elif record.id in records:
            problems.append(source.problem(("id",), f"duplicate record type id '{record.id}': already defined in "
                                                    f"{_display(prefix, files[record.id][0])}"))
        else:
            records[record.id], files[record.id] = record, (rel, source)
    for record in records.values():
        check_refs(files[record.id][1], record.form, records, broken, problems, "record type")
    return records


def _uncollected(forms: dict[str, Form], sources: dict[str, Source], workflows: dict[str, Workflow]) -> list[Problem]:
    """A warning for each field of a form in use that nothing ever fills: no step of its workflows collects it, no
    `computed:` computes it, no parent's `subprocess` or schedule passes it in."""
    filled: dict[str, set[str]] = {}
    for wf in workflows.values():
        mine = filled.setdefault(wf.form.id, set(wf.form.computed))
        mine.update(wf.start.fields)
        for step in wf.steps.values():
            mine.update(step.fields)
            child = workflows.get(step.starts or "")
            if child is not None:
                filled.setdefault(child.form.id, set(child.form.computed)).update(getattr(step, "data", {}))
        for schedule in wf.schedules:
            mine.update(schedule.data)
    out = []
    for fid, names in sorted(filled.items()):
        form = forms.get(fid)
        if form is None or form.stub or fid not in sources:
            continue
        for name in form.properties:
            if name not in names:
                out.append(sources[fid].problem(("schema", "properties", name), f"warning: field '{name}' of form "
                                                f"'{fid}' is never filled: no step's `fields` collects it, nothing "
                                                "computes or passes it in; add it to a step or remove it", key=True))
    return out


def _check_samples(wf: Workflow, source: Source, workflows: dict[str, Workflow], broken: set[str],
                   problems: list[Problem]) -> None:
    """A sampling plan samples a workflow there is, and takes each field from one of its form's (or its number)."""
    for i, schedule in enumerate(wf.schedules):
        plan = schedule.sample
        if plan is None:
            continue
        kp = ("schedules", i, "sample")
        other = workflows.get(plan.workflow)
        if other is None:
            if plan.workflow not in broken:
                problems.append(source.problem(kp + ("workflow",), f"unknown workflow '{plan.workflow}'"
                                                                   f"{did_you_mean(plan.workflow, workflows)}"))
            continue
        for name, origin in plan.data.items():
            if origin != "number" and origin not in other.form.properties:
                problems.append(source.problem(kp + ("data", name), f"form '{other.form.id}' has no field '{origin}'"
                                                                    f"{did_you_mean(origin, other.form.properties)} "
                                                                    "(or write `number` for its document number)"))


def _check_seed(wf: Workflow, source: Source, reports: dict[str, Report], problems: list[Problem]) -> None:
    """A start's `seed:` names a report, its parameters from fields of the form, and fields filled from its tables:
    an array field from a table's rows (its columns the row fields), another from a column of a table's first row."""
    seed, props = wf.seed, wf.form.properties
    kp = ("start", "seed")
    report = reports.get(seed["report"])
    if report is None:
        problems.append(source.problem(kp + ("report",), f"unknown report '{seed['report']}'"
                                                         f"{did_you_mean(seed['report'], reports)}; it must be the id "
                                                         "of a file in reports/"))
        return
    for param, name in seed.get("params", {}).items():
        if param not in report.params:
            problems.append(source.problem(kp + ("params", param), f"report '{report.id}' has no parameter "
                                                                   f"'{param}'{did_you_mean(param, report.params)}",
                                           key=True))
        if name not in props and not wf.form.stub:
            problems.append(source.problem(kp + ("params", param), f"unknown field '{name}'"
                                                                   f"{did_you_mean(name, props)}"))
    tables = {t.id: t for t in report.tables}
    for name, path in seed["values"].items():
        where = kp + ("values", name)
        table_id, _, column = path.partition(".")
        table = tables.get(table_id)
        if name not in props:
            problems.append(source.problem(where, f"unknown field '{name}'{did_you_mean(name, props)}", key=True))
            continue
        if table is None:
            problems.append(source.problem(where, f"report '{report.id}' has no table '{table_id}'"
                                                  f"{did_you_mean(table_id, tables)}"))
            continue
        ids = [c.id for c in table.columns]
        if column and column not in ids:
            problems.append(source.problem(where, f"table '{table_id}' has no column '{column}'"
                                                  f"{did_you_mean(column, ids)}"))
        elif not column and props[name].get("type") != "array":
            problems.append(source.problem(where, f"field '{name}' is not a table: fill it from one column, e.g. "
                                                  f"'{table_id}.{ids[0] if ids else 'count'}'"))
        elif not column:
            items = (props[name].get("items") or {}).get("properties", {})
            missing = [i for i in ids if i not in items]
            if missing:
                problems.append(source.problem(where, f"the rows of field '{name}' have no field "
                                                      f"{', '.join(repr(m) for m in missing)} for the table's columns"))


def version_of(files: dict[str, str]) -> str:
    """Content hash of a workflow version: its YAML and its form's YAML."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + files[rel].encode() + b"\0")
    return digest.hexdigest()[:16]


class Builder:
    """Builds one workflow's steps: what every kind's `build` uses to compile expressions and durations, read
    deadlines and postings, and report problems at their place."""

    def __init__(self, source: Source, form: Form, ledgers: dict[str, Ledger], problems: list[Problem],
                 records: dict[str, RecordType] | None = None, broken: set[str] | None = None) -> None:
        self.source, self.form, self.ledgers, self.problems = source, form, ledgers, problems
        self.names = None if form.stub else form.properties
        self.records, self.broken = records or {}, broken or set()
        self.fragments: dict[str, Source] = {}  # fragments/*.yaml by id (`include`)

    def problem(self, kp: KeyPath, message: str, key: bool = False) -> None:
        self.problems.append(self.source.problem(kp, message, key))

    def compile(self, kp: KeyPath, text: Any, what: str) -> Expression | None:
        """An expression over the form's fields and the workflow's ledgers (None when it does not compile)."""
        return compile_at(self.source, kp, text, self.names, self.problems, what, self.ledgers)

    def compile_with(self, kp: KeyPath, text: Any, what: str, names: dict | None) -> Expression | None:
        """An expression over `names` (the form's fields and more: a checklist item's `item`)."""
        return compile_at(self.source, kp, text, names, self.problems, what, self.ledgers)

    def duration(self, kp: KeyPath, text: str | None) -> Duration | None:
        if text is None:
            return None
        try:
            return parse_duration(text)
        except ValueError as exc:
            self.problem(kp, str(exc))
            return None

    def required(self, fields: tuple[str, ...], spec: dict) -> frozenset[str]:
        """Required at a step: the schema's `required` among its fields, plus its own `required`."""
        return frozenset((self.form.required & set(fields)) | set(spec.get("required", [])))

    def posts(self, kp: KeyPath, specs: list[dict]) -> list[Post]:
        out = []
        for i, post in enumerate(specs):
            pkp = kp + ("post", i)
            amount = self.compile(pkp + ("amount",), post["amount"], "amount")
            when = self.compile(pkp + ("when",), post["when"], "condition") if "when" in post else None
            if amount:
                out.append(Post(post["ledger"], post["entry"], amount, when, post.get("memo")))
        return out

    def updates(self, kp: KeyPath, spec: dict | list | None) -> list[Update]:
        """A step's `update:` (one mapping or a list): the record type known, its fields and state checked."""
        if spec is None:
            return []
        out = []
        listed = isinstance(spec, list)
        for i, one in enumerate(spec if listed else [spec]):
            ukp = kp + ("update",) + ((i,) if listed else ())
            record = self.records.get(one["record"])
            if record is None:
                if one["record"] not in self.broken:
                    self.problem(ukp + ("record",), f"unknown record type '{one['record']}'"
                                                    f"{did_you_mean(one['record'], self.records)}; it must be the id "
                                                    "of a file in records/")
                continue
            values = dict(one.get("set", {}))
            state = one.get("state")
            if "state" in values and record.states and "state" not in record.properties:
                state = values.pop("state")  # (`set: {state: 借出}`: the record's state)
                where = ukp + ("set", "state")
            else:
                where = ukp + ("state",)
            if state is not None and not record.states:
                self.problem(where, f"record type '{record.id}' has no states; leave out `state`")
            elif state is not None and str(state) not in record.states:
                self.problem(where, f"'{state}' is not a state of record type '{record.id}' ("
                                    f"{', '.join(record.states)}){did_you_mean(str(state), record.states)}")
            exprs = {}
            for name, text in values.items():
                if name not in record.properties:
                    self.problem(ukp + ("set", name), f"record type '{record.id}' has no field '{name}'"
                                                      f"{did_you_mean(name, record.properties)}", key=True)
                elif name in record.key:
                    self.problem(ukp + ("set", name), f"'{name}' is part of the key of record type '{record.id}': "
                                                      "a step cannot change which record it is", key=True)
                expr = self.compile(ukp + ("set", name), text if isinstance(text, str) else repr(text), "value")
                if expr:
                    exprs[name] = expr
            key = self.compile(ukp + ("key",), one["key"], "key")
            when = self.compile(ukp + ("when",), one["when"], "condition") if "when" in one else None
            field = one["key"] if isinstance(one["key"], str) and one["key"] in self.form.properties else None
            ref = self.form.refs.get(field or "")
            if field and ref is not None and ref.record and ref.record != record.id:
                self.problem(ukp + ("key",), f"field '{field}' looks up record type '{ref.record}', not "
                                             f"'{record.id}'")
            if key:
                out.append(Update(record.id, key, exprs, None if state is None else str(state), when, field))
        return out

    def due(self, kp: KeyPath, spec: dict) -> Due | None:
        """A task step's `due`: one limit, or {soft, hard, from}."""
        value = spec.get("due")
        if value is None:
            return None
        if isinstance(value, str):
            soft = self.duration(kp + ("due",), value)
            return Due(soft) if soft else None
        soft = self.duration(kp + ("due", "soft"), value["soft"])
        hard = self.duration(kp + ("due", "hard"), value.get("hard"))
        origin = value.get("from")
        expr = None
        times = ["started"] + [k for k, v in self.form.properties.items() if v.get("format") in ("date", "date-time")]
        if origin is not None and origin not in times and not self.form.stub:
            if re.fullmatch(r"[a-z][a-z0-9_]*", origin):  # a name: of a field that is not a date
                hint = did_you_mean(origin, times)
                self.problem(kp + ("due", "from"), f"`from: {origin}` must be `started` or a date or date-time "
                                                   f"field of the form ({', '.join(times)}){hint}, or an expression "
                                                   "giving a date, e.g. add_days(start_date, 30)")
            else:  # the moment an expression gives
                expr = self.compile(kp + ("due", "from"), origin, "moment")
                origin = None if expr is None else origin
        if soft and hard and soft.unit == hard.unit and hard.amount < soft.amount:
            self.problem(kp + ("due", "hard"), f"the hard limit {hard.text} is earlier than the due time {soft.text}")
        return Due(soft, hard, origin, expr) if soft else None

    def ladder(self, kp: KeyPath, spec: dict, due: Due | None, key: str = "deadlines") -> tuple[Rung, ...]:
        """The `deadlines` ladder (under `key`): each rung has one time (before / after / at) and one action."""
        rungs = []
        for i, rung in enumerate(spec.get(key, [])):
            rkp = kp + (key, i)
            times = [k for k in ("before", "after", "at") if k in rung]
            actions = [k for k in ACTIONS if k in rung]
            if len(times) != 1:
                self.problem(rkp, "give each deadline exactly one of `before: 1h`, `after: 2h` or `at: due` / "
                                  f"`at: hard` (found {', '.join(times) or 'none'})")
                continue
            if len(actions) != 1:
                self.problem(rkp, f"give each deadline exactly one action: {', '.join(ACTIONS)} "
                                  f"(found {', '.join(actions) or 'none'})")
                continue
            when, action = times[0], actions[0]
            anchor = rung["at"] if when == "at" else "due"
            if due is None and "due" in spec:
                pass  # the due time itself is wrong, and reported
            elif due is None:  # (the rung is still kept, so that its `goto` counts in the graph checks)
                self.problem(rkp + (when,), "a deadline needs the step's `due` time: add `due: 30m` (or "
                                            "{soft: 24h, hard: 36h}) to the step")
            elif anchor == "hard" and due.hard is None:
                self.problem(rkp + ("at",), "`at: hard` needs a hard limit: write the step's due as "
                                            "{soft: 24h, hard: 36h}")
            offset = self.duration(rkp + (when,), rung[when]) if when != "at" else None
            value = rung[action]
            roles = tuple(value) if isinstance(value, list) else ()
            rungs.append(Rung(anchor, offset, when == "before", action, roles,
                              value if action == "goto" else None, rung.get("message")))
        return tuple(rungs)


def _schedules(source: Source, data: dict, form: Form, problems: list[Problem]) -> list[Schedule]:
    from croniter import croniter

    out = []
    seen: set[str] = set()
    for i, spec in enumerate(data.get("schedules", [])):
        kp = ("schedules", i)
        if spec["id"] in seen:
            problems.append(source.problem(kp + ("id",), f"duplicate schedule id '{spec['id']}'"))
        seen.add(spec["id"])
        if not croniter.is_valid(spec["cron"]) or len(spec["cron"].split()) != 5:
            problems.append(source.problem(kp + ("cron",), f"'{spec['cron']}' is not a cron schedule; write five "
                                                           "fields: minute hour day-of-month month day-of-week, "
                                                           "e.g. '0 9 1 * *' for 09:00 on the 1st of each month"))
            continue
        if not form.stub:
            for name in spec.get("data", {}):
                if name not in form.properties:
                    hint = did_you_mean(name, form.properties)
                    problems.append(source.problem(kp + ("data", name), f"form '{form.id}' has no field '{name}'"
                                                                        f"{hint}", key=True))
        sample = None
        if "sample" in spec:
            plan = spec["sample"]
            value = plan["share"]
            share = float(value[:-1]) / 100 if isinstance(value, str) else float(value)
            if share > 1:
                problems.append(source.problem(kp + ("sample", "share"), f"share {value} is more than 100%"))
            if not form.stub:
                for name in plan.get("data", {}):
                    if name not in form.properties:
                        problems.append(source.problem(kp + ("sample", "data", name), f"form '{form.id}' has no field "
                                                       f"'{name}'{did_you_mean(name, form.properties)}", key=True))
            sample = Sample(plan["workflow"], plan["period"], share, dict(plan.get("data", {})))
        out.append(Schedule(spec["id"], spec["cron"], spec.get("title", spec["id"]), dict(spec.get("data", {})),
                            sample))
    return out


def _targets(source: Source, data: dict, problems: list[Problem]) -> list[Target]:
    out = []
    for i, spec in enumerate(data.get("targets", [])):
        kp = ("targets", i)
        for key in ("step", "among"):
            name = spec.get(key)
            if name and name not in data["steps"]:
                problems.append(source.problem(kp + (key,), f"unknown step '{name}'"
                                                            f"{did_you_mean(name, data['steps'])}"))
        value = spec["target"]
        share = float(value[:-1]) / 100 if isinstance(value, str) else float(value)
        if share > 1:
            problems.append(source.problem(kp + ("target",), f"target {value} is more than 100%"))
        out.append(Target(spec["id"], spec["title"], spec["step"], share, spec.get("among"), spec.get("per")))
    return out



def _fragments(sources: dict[str, Source], problems: list[Problem], broken: set[str]) -> dict[str, Source]:
    """The shared groups of steps (fragments/*.yaml) by id; their own problems reported in their files."""
    from .steps.include import unknown_params

    out: dict[str, Source] = {}
    for rel, source in sources.items():
        if not rel.startswith("fragments/"):
            continue
        data = source.data
        if data["id"] in out:
            problems.append(source.problem(("id",), f"duplicate fragment id '{data['id']}'"))
            continue
        if data["start"] not in data["steps"]:
            problems.append(source.problem(("start",), f"`start: {data['start']}` is not one of the fragment's steps"
                                                       f"{did_you_mean(data['start'], data['steps'])}"))
            broken.add(data["id"])
        for kp, name in unknown_params(source):
            problems.append(source.problem(kp, f"'${{{name}}}' is not a parameter of fragment '{data['id']}'; "
                                               f"declare it under `params` (params: {{{name}: what it is}})"))
        out[data["id"]] = source
    return out


def _included(source: Source, b: Builder, fragments: dict[str, Source], broken: set[str]) -> dict[str, dict]:
    """The workflow's steps with each `include`'s fragment steps added (their parameters put in); a fragment step
    is reported in its own file (`source.aliases`)."""
    from . import metaschema
    from .steps.include import expand

    steps = dict(source.data["steps"])
    for sid, spec in source.data["steps"].items():
        if spec.get("kind") != "include":
            continue
        kp = ("steps", sid)
        fragment = fragments.get(spec["fragment"])
        if fragment is None:
            if spec["fragment"] not in broken:
                b.problem(kp + ("fragment",), f"unknown fragment '{spec['fragment']}'"
                                              f"{did_you_mean(spec['fragment'], fragments)}; it must be the id of a "
                                              "file in fragments/")
            continue
        for fid, body in expand(spec, fragment, kp, b.problem).items():
            wrong = metaschema.check_step(fragment, fid, body)
            if wrong:  # (reported in the fragment's file, with the parameters of this include)
                b.problems.extend(wrong)
                continue
            if fid in steps:
                b.problem(kp + ("fragment",), f"fragment '{spec['fragment']}' brings step '{fid}', which the workflow "
                                              "has already; rename one of them (a fragment is included once)")
                continue
            steps[fid] = body
            source.aliases[fid] = fragment
    return steps


def _build_workflow(source: Source, forms: dict[str, Form], problems: list[Problem],
                    broken: set[str], records: dict[str, RecordType],
                    fragments: dict[str, Source] | None = None) -> Workflow | None:
    data = source.data
    form = forms.get(data["form"])
    if form is None and data["form"] in broken:  # reported in its own file; still lint this one
        form = Form(id=data["form"], title=data["form"], schema={"type": "object", "properties": {}})
        form.stub = True
    if form is None:
        problems.append(source.problem(("form",), f"unknown form '{data['form']}'"
                                                  f"{did_you_mean(data['form'], forms)}; "
                                                  "it must be the id of a file in forms/"))
        return None
    ledgers = {lid: _ledger(lid, spec) for lid, spec in data.get("ledgers", {}).items()}
    b = Builder(source, form, ledgers, problems, records, broken)
    spec = data["start"]
    fields = tuple(spec.get("fields", []))
    start = FormStep(id="start", title=spec.get("title", "開始"), keypath=("start",), roles=tuple(spec["roles"]),
                     fields=fields, required=b.required(fields, spec), next=spec["next"])
    b.fragments = fragments or {}
    specs = _included(source, b, b.fragments, broken)
    steps: dict[str, Step] = {sid: KINDS[spec["kind"]].build(b, sid, spec) for sid, spec in specs.items()}
    for step in steps.values():
        step.settle(steps)
    return Workflow(id=data["id"], title=data["title"], form=form, start=start, steps=steps, ledgers=ledgers,
                    area=data.get("area"), description=data.get("description"), path=source.path,
                    schedules=_schedules(source, data, form, problems), targets=_targets(source, data, problems),
                    seed=spec.get("seed"), carry=_carry(source, data.get("carry", []), form, problems),
                    deadlines=spans.build(b, data.get("deadlines", [])))


def _carry(source: Source, specs: list[dict], form: Form, problems: list[Problem]) -> list[Carry]:
    """`carry:`: each field of the form, taken from a field of the same kind (a table's rows, or a value); `when`
    over a row's fields for a table, over the previous instance's data otherwise."""
    out = []
    props = form.properties
    for i, spec in enumerate(specs):
        kp = ("carry", i)
        name, origin = spec["field"], spec.get("from", spec["field"])
        if form.stub:
            continue
        bad = [(key, n) for key, n in (("field", name), ("from", origin)) if n not in props]
        for key, n in bad:
            problems.append(source.problem(kp + (key,), f"unknown field '{n}'{did_you_mean(n, props)}; form "
                                                        f"'{form.id}' has no such field"))
        if bad:
            continue
        rows = props[origin].get("type") == "array"
        if rows != (props[name].get("type") == "array"):
            problems.append(source.problem(kp, f"'{name}' and '{origin}' must both be tables or both not: rows are "
                                               "carried into a table, a value into a field"))
            continue
        names = (props[origin].get("items") or {}).get("properties", {}) if rows else props
        when = compile_at(source, kp + ("when",), spec["when"], names, problems, "condition") if "when" in spec \
            else None
        if "when" in spec and when is None:
            continue
        out.append(Carry(name, origin, when, rows))
    return out


def _ledger(lid: str, spec: dict) -> Ledger:
    entries = spec["entries"]
    return Ledger(lid, spec["title"], int(spec.get("floor", 0)) * 100,
                  {e: v["direction"] if isinstance(v, dict) else v for e, v in entries.items()},
                  {e: v["title"] for e, v in entries.items() if isinstance(v, dict) and v.get("title")})
