"""Load forms, workflows and site settings from YAML into typed definitions, collecting every problem."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from . import metaschema
from .deadlines import ACTIONS, Due, Rung
from .durations import Duration, parse_duration
from .errors import DefinitionError, ExpressionError, NotFound
from .expressions import Expression
from .forms import Form, Rule
from .workcalendar import BusinessCalendar
from .yamlsrc import KeyPath, Problem, Source, parse

TASK_KINDS = frozenset({"form", "approval", "checklist", "print"})
SITE_FILE = "goldkey.yaml"
_NUMBER_FIELDS = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@dataclass
class Post:
    ledger: str
    entry: str
    amount: Expression
    when: Expression | None = None
    memo: str | None = None


@dataclass
class Step:
    """One step of a workflow; which attributes matter depends on `kind`."""

    id: str
    kind: str
    title: str
    keypath: KeyPath
    description: str | None = None
    roles: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    required: frozenset[str] = frozenset()
    next: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)
    branches: list[tuple[Expression, str]] = field(default_factory=list)  # decision
    default: str | None = None
    split: tuple[str, ...] = ()  # parallel branches
    join: str | None = None
    items: list[dict] = field(default_factory=list)
    approvals: int | str = 1
    order: str = "any"
    required_roles: tuple[str, ...] = ()
    allow_self: bool = False
    comment_required: frozenset[str] = frozenset({"reject", "rework"})
    item_when: dict[str, Expression] = field(default_factory=dict)  # checklist item -> condition
    printout: str | None = None
    copies: int = 1
    duration: Duration | None = None  # wait
    due: Due | None = None  # task steps: when the task is due (and at the latest)
    ladder: tuple[Rung, ...] = ()  # task steps: actions around the due time
    holds: dict[str, str] = field(default_factory=dict)  # task steps: named states that pause the clock
    workflow: str | None = None
    wait: bool = True  # subprocess: wait for the child's outcome (False: start it and go on)
    after: Duration | None = None  # subprocess: start the child this long after the step is reached
    data: dict[str, Expression] = field(default_factory=dict)
    outcome: str | None = None
    status: str = "completed"
    posts: list[Post] = field(default_factory=list)

    @property
    def is_task(self) -> bool:
        return self.kind in TASK_KINDS

    def edges(self) -> list[tuple[str, KeyPath]]:
        """(target step, where the reference is written) for every transition out of this step."""
        kp = self.keypath
        out: list[tuple[str, KeyPath]] = []
        if self.next:
            out.append((self.next, kp + ("next",)))
        out += [(to, kp + ("outcomes", name)) for name, to in self.outcomes.items()]
        out += [(to, kp + ("branches", i, "to")) for i, (_, to) in enumerate(self.branches)]
        if self.default:
            out.append((self.default, kp + ("default",)))
        out += [(to, kp + ("branches", i)) for i, to in enumerate(self.split)]
        out += [(r.target, kp + ("deadlines", i, "goto")) for i, r in enumerate(self.ladder) if r.target]
        return out


@dataclass
class Ledger:
    id: str
    title: str
    floor: int  # fen
    entries: dict[str, str]  # entry -> "in" | "out"


@dataclass(frozen=True)
class Schedule:
    """Start the workflow on a cron schedule (site time zone) with fixed data; `{run:%Y-%m}` in a text
    value becomes the run's local time."""

    id: str
    cron: str
    title: str
    data: dict


@dataclass(frozen=True)
class Target:
    """A rate the company must reach: the share of ended instances in which `step` was completed (of those
    that passed `among`, when given), overall or on each day (`per: day`)."""

    id: str
    title: str
    step: str
    target: float
    among: str | None = None
    per: str | None = None


@dataclass
class Workflow:
    id: str
    title: str
    form: Form
    start: Step
    steps: dict[str, Step]
    ledgers: dict[str, Ledger]
    area: str | None = None
    description: str | None = None
    path: str = ""
    files: dict[str, str] = field(default_factory=dict)  # relative path -> YAML text of this version
    version: str = ""
    schedules: list[Schedule] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)  # the site's

    @property
    def roles(self) -> list[str]:
        found = dict.fromkeys(self.start.roles)
        for step in self.steps.values():
            found.update(dict.fromkeys(step.roles))
        return list(found)

    @property
    def viewer_roles(self) -> set[str]:
        """Roles that may see its instances, print them and read its register: its own and the form's
        confidential readers."""
        return set(self.roles) | set(self.form.confidential.get("roles", ()))

    def end_outcomes(self) -> list[str]:
        return sorted({s.outcome or s.id for s in self.steps.values() if s.kind == "end"})


@dataclass
class Site:
    name: str = "goldkey"
    timezone: str = "Asia/Shanghai"
    roles: dict[str, str] = field(default_factory=dict)  # id -> title
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    verify_url: str = "http://localhost:8000/verify"  # printed under the QR code, with the code appended

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass
class Registry:
    """Everything loaded from a definitions folder."""

    root: Path
    site: Site
    forms: dict[str, Form]
    workflows: dict[str, Workflow]
    problems: list[Problem]
    warnings: list[Problem] = field(default_factory=list)  # things to fix that do not stop the engine

    def workflow(self, workflow_id: str) -> Workflow:
        try:
            return self.workflows[workflow_id]
        except KeyError:
            known = ", ".join(sorted(self.workflows)) or "none"
            raise NotFound(f"沒有流程「{workflow_id}」{metaschema.did_you_mean(workflow_id, self.workflows)}"
                           f"（已載入：{known}）") from None


def load(root: str | Path, display_root: str | None = None, templates: bool = False) -> Registry:
    """Load and lint every definition under `root`; problems are collected, not raised. `templates`: also
    lint the printout templates (slower: each is opened and compiled; `goldkey check` does)."""
    root = Path(root)
    prefix = display_root if display_root is not None else str(root)
    texts: dict[str, str] = {}
    for rel in [SITE_FILE] + sorted(f"forms/{p.name}" for p in (root / "forms").glob("*.yaml")) + sorted(
            f"workflows/{p.name}" for p in (root / "workflows").glob("*.yaml")):
        path = root / rel
        if path.is_file():
            texts[rel] = path.read_text(encoding="utf-8")
    registry = load_texts(texts, prefix)
    registry.root = root
    registry.warnings = calendar_warnings(registry.site, _display(prefix, SITE_FILE), texts.get(SITE_FILE))
    if templates and not registry.problems:  # (with a broken workflow its templates would only echo it)
        from .printouts import lint_printouts  # docxtpl and lxml: imported only when templates are checked

        registry.problems = sorted(set(registry.problems) | set(lint_printouts(registry, root, prefix)))
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


def calendar_warnings(site: Site, path: str, text: str | None, today: date | None = None) -> list[Problem]:
    """A warning for this year and next when the holiday dates are only estimated (no official notice in
    the holidays package yet, and the year not confirmed in goldkey.yaml)."""
    today = today or datetime.now(site.tz).date()
    years = [y for y in (today.year, today.year + 1) if site.calendar.estimated(y)]
    if not years:
        return []
    source, _ = parse(path, text or "calendar:")
    return [source.problem(("calendar",), f"warning: the public holidays of {y} are estimated (the holidays "
                                          f"package has no official notice for {y} yet): when the State Council "
                                          f"publishes them, add that year's days off under calendar.holidays and "
                                          f"make-up working days under calendar.workdays, then list {y} in "
                                          "calendar.confirmed_years", key=True) for y in years]


def _display(prefix: str, rel: str) -> str:
    return rel if prefix in ("", ".") else f"{prefix.rstrip('/')}/{rel}"


def load_texts(texts: dict[str, str], prefix: str = "", lint_graph: bool = True) -> Registry:
    """Build a registry from YAML texts keyed by relative path (`forms/x.yaml`, ...)."""
    from .lint import lint_workflow  # lint imports definitions' types

    problems: list[Problem] = []
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
    site = _build_site(sources.get(SITE_FILE), problems)
    forms: dict[str, Form] = {}
    form_files: dict[str, str] = {}
    for rel, source in sources.items():
        if rel.startswith("forms/"):
            form = _build_form(source, site, problems)
            if form is None:
                broken.add(source.data["id"])
                continue
            if form.id in forms:
                problems.append(source.problem(("id",), f"duplicate form id '{form.id}': already defined in "
                                                        f"{_display(prefix, form_files[form.id])}"))
                continue
            forms[form.id], form_files[form.id] = form, rel
    workflows: dict[str, Workflow] = {}
    wf_files: dict[str, str] = {}
    built: list[tuple[Workflow, Source]] = []
    for rel, source in sources.items():
        if not rel.startswith("workflows/"):
            continue
        wf = _build_workflow(source, forms, problems, broken)
        if wf is None:
            continue
        if wf.id in workflows:
            problems.append(source.problem(("id",), f"duplicate workflow id '{wf.id}': already defined in "
                                                    f"{_display(prefix, wf_files[wf.id])}"))
            continue
        wf.files = {rel: texts[rel]}
        if wf.form.id in form_files:
            wf.files[form_files[wf.form.id]] = texts[form_files[wf.form.id]]
        wf.version = version_of(wf.files)
        wf.calendar = site.calendar
        workflows[wf.id], wf_files[wf.id] = wf, rel
        built.append((wf, source))
    if lint_graph:
        for wf, source in built:
            problems += lint_workflow(wf, source, site, workflows, broken)
    return Registry(Path(prefix or "."), site, forms, workflows, sorted(set(problems)))


def version_of(files: dict[str, str]) -> str:
    """Content hash of a workflow version: its YAML and its form's YAML."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + files[rel].encode() + b"\0")
    return digest.hexdigest()[:16]


def _build_site(source: Source | None, problems: list[Problem]) -> Site:
    if source is None:
        return Site()
    data = source.data
    site = Site(name=data.get("site", "goldkey"), timezone=data.get("timezone", "Asia/Shanghai"),
                roles={k: v["title"] for k, v in data.get("roles", {}).items()})
    site.verify_url = data.get("verify_url", site.verify_url)
    try:
        site.tz  # noqa: B018 - validates the name
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(source.problem(("timezone",), f"unknown time zone '{site.timezone}'; "
                                                      "use an IANA name such as Asia/Shanghai"))
        site.timezone = "Asia/Shanghai"
    site.calendar = _build_calendar(source, site.timezone, data.get("calendar", {}), problems)
    return site


def _build_calendar(source: Source, timezone: str, spec: dict, problems: list[Problem]) -> BusinessCalendar:
    """The business calendar of `calendar:` in goldkey.yaml; a problem is reported at the value at fault."""
    kp = ("calendar",)
    dated: dict[str, dict[date, str]] = {}
    for key in ("holidays", "workdays"):
        dated[key] = {}
        for text, name in spec.get(key, {}).items():
            try:
                dated[key][date.fromisoformat(text)] = name
            except ValueError:
                problems.append(source.problem(kp + (key, text), f"'{text}' is not a date; write YYYY-MM-DD, "
                                                                 "e.g. 2027-10-01", key=True))
    for day in sorted(dated["holidays"].keys() & dated["workdays"].keys()):
        problems.append(source.problem(kp + ("workdays", day.isoformat()), f"{day} is listed both as a holiday "
                                                                           "and as a working day", key=True))
        del dated["workdays"][day]
    hours = [tuple(part.strip() for part in period.split("-"))
             for period in spec.get("working_hours", ["09:00-12:00", "13:30-18:00"])]
    args = dict(timezone=timezone, working_days=spec.get("working_days", ("mon", "tue", "wed", "thu", "fri")),
                public_holidays=spec.get("public_holidays", "china"), holidays=dated["holidays"],
                workdays=dated["workdays"], confirmed_years=spec.get("confirmed_years", ()))
    try:
        return BusinessCalendar(working_hours=hours, **args)
    except ValueError as exc:
        where = kp + ("working_hours",) if "working_hours" in spec else kp
        problems.append(source.problem(where, f"calendar: {exc}"))
    try:
        return BusinessCalendar(**args)
    except ValueError:
        return BusinessCalendar(timezone=timezone)


def compile_at(source: Source, keypath: KeyPath, text: Any, names: set[str] | dict | None, problems: list[Problem],
               what: str, ledgers: dict | None = None) -> Expression | None:
    """Compile an expression and check every name against `names` (None: the form is broken, skip)."""
    try:
        expr = Expression(str(text))
    except ExpressionError as exc:
        problems.append(source.problem(keypath, f"{what}: {exc.message}"))
        return None
    for name in sorted(expr.names - set(names)) if names is not None else ():
        problems.append(source.problem(keypath, f"{what} '{expr.text}' names unknown field '{name}'"
                                                f"{metaschema.did_you_mean(name, names)}; it must be a field"
                                                " of the form"))
    for ledger in sorted(expr.ledgers - set(ledgers or {})):
        problems.append(source.problem(keypath, f"{what} '{expr.text}' reads unknown ledger '{ledger}'"
                                                f"{metaschema.did_you_mean(ledger, ledgers or {})}; declare it "
                                                "under `ledgers`"))
    return expr


def _check_fields(source: Source, keypath: KeyPath, fields: list, known, problems: list[Problem],
                  what: str = "field") -> None:
    for i, name in enumerate(fields or []):
        if name not in known:
            problems.append(source.problem(keypath + (i,), f"unknown {what} '{name}'"
                                                           f"{metaschema.did_you_mean(name, known)}"))


def _build_form(source: Source, site: Site, problems: list[Problem]) -> Form | None:
    data = source.data
    schema = data["schema"]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        problems.append(source.problem(("schema",) + tuple(exc.absolute_path),
                                       f"schema is not valid JSON Schema: {exc.message}"))
        return None
    props = schema["properties"]
    _check_keywords(source, ("schema",), schema, problems)
    _check_fields(source, ("schema", "required"), schema.get("required", []), props, problems)
    rules = []
    for i, rule in enumerate(data.get("rules", [])):
        expr = compile_at(source, ("rules", i, "assert"), rule["assert"], props, problems, "rule")
        if rule.get("field") and rule["field"] not in props:
            problems.append(source.problem(("rules", i, "field"), f"unknown field '{rule['field']}'"
                                                                  f"{metaschema.did_you_mean(rule['field'], props)}"))
        if expr:
            rules.append(Rule(expr, rule["message"], rule.get("field")))
    ui = data.get("ui", {})
    for i, section in enumerate(ui.get("sections", [])):
        _check_fields(source, ("ui", "sections", i, "fields"), section["fields"], props, problems)
    show_when = {}
    for name, hints in ui.get("fields", {}).items():
        if name not in props:
            problems.append(source.problem(("ui", "fields", name), f"ui hints for unknown field '{name}'"
                                                                   f"{metaschema.did_you_mean(name, props)}",
                                           key=True))
        if "show_when" in hints:
            expr = compile_at(source, ("ui", "fields", name, "show_when"), hints["show_when"], props, problems,
                              "show_when")
            if expr:
                show_when[name] = expr
    confidential = data.get("confidential", {})
    if confidential:
        _check_fields(source, ("confidential", "fields"), confidential["fields"], props, problems)
        if site.roles:
            _check_fields(source, ("confidential", "roles"), confidential["roles"], site.roles, problems, "role")
    number = data.get("number")
    if number:
        bad = [f for f in _NUMBER_FIELDS.findall(number) if f not in ("year", "seq")]
        if bad or "{seq" not in number:
            problems.append(source.problem(("number",), f"number pattern '{number}' may use only {{year}} and "
                                                        "{seq} (e.g. JYS-{year}-{seq:05}) and must use {seq}"))
        else:
            try:
                number.format(year=2026, seq=1)
            except (ValueError, IndexError, KeyError) as exc:
                problems.append(source.problem(("number",), f"number pattern '{number}' does not format: {exc}"))
    return Form(id=data["id"], title=data["title"], schema=schema, number=number, ui=ui, rules=rules,
                show_when=show_when, confidential=confidential, printouts=data.get("printouts", {}))


_KEYWORDS = frozenset("""type title description enum const default examples format pattern minLength maxLength
    minimum maximum exclusiveMinimum exclusiveMaximum multipleOf items prefixItems minItems maxItems uniqueItems
    contains minContains maxContains properties required additionalProperties patternProperties propertyNames
    minProperties maxProperties dependentRequired dependentSchemas allOf anyOf oneOf not if then else $ref $defs
    $schema $id $anchor $comment readOnly writeOnly deprecated contentMediaType contentEncoding
    unevaluatedProperties unevaluatedItems""".split())


def _check_keywords(source: Source, keypath: KeyPath, schema: Any, problems: list[Problem]) -> None:
    """JSON Schema ignores keywords it does not know, so a typo such as `maxLenght` would silently check
    nothing: report every unknown keyword."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        where = keypath + (key,)
        if key not in _KEYWORDS:
            problems.append(source.problem(where, f"unknown JSON Schema keyword '{key}'"
                                                  f"{metaschema.did_you_mean(key, _KEYWORDS)}", key=True))
        elif key in ("properties", "$defs", "patternProperties", "dependentSchemas") and isinstance(value, dict):
            for name, sub in value.items():
                _check_keywords(source, where + (name,), sub, problems)
        elif key in ("allOf", "anyOf", "oneOf", "prefixItems") and isinstance(value, list):
            for i, sub in enumerate(value):
                _check_keywords(source, where + (i,), sub, problems)
        elif key in ("items", "not", "if", "then", "else", "additionalProperties", "contains", "propertyNames",
                     "unevaluatedProperties", "unevaluatedItems"):
            _check_keywords(source, where, value, problems)


def _duration(source: Source, keypath: KeyPath, text: str | None, problems: list[Problem]) -> Duration | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        problems.append(source.problem(keypath, str(exc)))
        return None


def _due(source: Source, kp: KeyPath, spec: dict, form: Form, problems: list[Problem]) -> Due | None:
    value = spec.get("due")
    if value is None:
        return None
    if isinstance(value, str):
        soft = _duration(source, kp + ("due",), value, problems)
        return Due(soft) if soft else None
    soft = _duration(source, kp + ("due", "soft"), value["soft"], problems)
    hard = _duration(source, kp + ("due", "hard"), value.get("hard"), problems)
    origin = value.get("from")
    times = ["started"] + [k for k, v in form.properties.items() if v.get("format") in ("date", "date-time")]
    if origin is not None and origin not in times and not form.stub:
        problems.append(source.problem(kp + ("due", "from"), f"`from: {origin}` must be `started` or a date or "
                                                             f"date-time field of the form ({', '.join(times)})"
                                                             f"{metaschema.did_you_mean(origin, times)}"))
    if soft and hard and soft.unit == hard.unit and hard.amount < soft.amount:
        problems.append(source.problem(kp + ("due", "hard"), f"the hard limit {hard.text} is earlier than the "
                                                             f"due time {soft.text}"))
    return Due(soft, hard, origin) if soft else None


def _ladder(source: Source, kp: KeyPath, spec: dict, due: Due | None, problems: list[Problem]) -> tuple[Rung, ...]:
    """The `deadlines` ladder: each rung has one time (before / after / at) and one action."""
    rungs = []
    for i, rung in enumerate(spec.get("deadlines", [])):
        rkp = kp + ("deadlines", i)
        times = [k for k in ("before", "after", "at") if k in rung]
        actions = [k for k in ACTIONS if k in rung]
        if len(times) != 1:
            problems.append(source.problem(rkp, "give each deadline exactly one of `before: 1h`, `after: 2h` or "
                                                f"`at: due` / `at: hard` (found {', '.join(times) or 'none'})"))
            continue
        if len(actions) != 1:
            problems.append(source.problem(rkp, f"give each deadline exactly one action: {', '.join(ACTIONS)} "
                                                f"(found {', '.join(actions) or 'none'})"))
            continue
        when, action = times[0], actions[0]
        anchor = rung["at"] if when == "at" else "due"
        if due is None and "due" in spec:
            pass  # the due time itself is wrong, and reported
        elif due is None:  # (the rung is still kept, so that its `goto` counts in the graph checks)
            problems.append(source.problem(rkp + (when,), "a deadline needs the step's `due` time: add "
                                                          "`due: 30m` (or {soft: 24h, hard: 36h}) to the step"))
        elif anchor == "hard" and due.hard is None:
            problems.append(source.problem(rkp + ("at",), "`at: hard` needs a hard limit: write the step's due "
                                                          "as {soft: 24h, hard: 36h}"))
        offset = _duration(source, rkp + (when,), rung[when], problems) if when != "at" else None
        value = rung[action]
        roles = tuple(value) if isinstance(value, list) else ()
        rungs.append(Rung(anchor, offset, when == "before", action, roles,
                          value if action == "goto" else None, rung.get("message")))
    return tuple(rungs)


def _schedules(source: Source, data: dict, form: Form, problems: list[Problem]) -> list[Schedule]:
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
                    hint = metaschema.did_you_mean(name, form.properties)
                    problems.append(source.problem(kp + ("data", name), f"form '{form.id}' has no field '{name}'"
                                                                        f"{hint}", key=True))
        out.append(Schedule(spec["id"], spec["cron"], spec.get("title", spec["id"]), dict(spec.get("data", {}))))
    return out


def _targets(source: Source, data: dict, problems: list[Problem]) -> list[Target]:
    out = []
    for i, spec in enumerate(data.get("targets", [])):
        kp = ("targets", i)
        for key in ("step", "among"):
            name = spec.get(key)
            if name and name not in data["steps"]:
                problems.append(source.problem(kp + (key,), f"unknown step '{name}'"
                                                            f"{metaschema.did_you_mean(name, data['steps'])}"))
        value = spec["target"]
        share = float(value[:-1]) / 100 if isinstance(value, str) else float(value)
        if share > 1:
            problems.append(source.problem(kp + ("target",), f"target {value} is more than 100%"))
        out.append(Target(spec["id"], spec["title"], spec["step"], share, spec.get("among"), spec.get("per")))
    return out


def _build_workflow(source: Source, forms: dict[str, Form], problems: list[Problem],
                    broken: set[str]) -> Workflow | None:
    data = source.data
    form = forms.get(data["form"])
    if form is None and data["form"] in broken:  # reported in its own file; still lint this one
        form = Form(id=data["form"], title=data["form"], schema={"type": "object", "properties": {}})
        form.stub = True
    if form is None:
        problems.append(source.problem(("form",), f"unknown form '{data['form']}'"
                                                  f"{metaschema.did_you_mean(data['form'], forms)}; "
                                                  "it must be the id of a file in forms/"))
        return None
    ledgers = {lid: Ledger(lid, spec["title"], int(spec.get("floor", 0)) * 100, spec["entries"])
               for lid, spec in data.get("ledgers", {}).items()}
    names = None if form.stub else form.properties
    start_spec = data["start"]
    start = Step(id="start", kind="form", title=start_spec.get("title", "開始"), keypath=("start",),
                 roles=tuple(start_spec["roles"]), fields=tuple(start_spec.get("fields", [])),
                 next=start_spec["next"])
    start.required = (form.required & set(start.fields)) | set(start_spec.get("required", []))
    steps: dict[str, Step] = {}
    for sid, spec in data["steps"].items():
        kp = ("steps", sid)
        kind = spec["kind"]
        step = Step(id=sid, kind=kind, title=spec.get("title", sid), keypath=kp, description=spec.get("description"),
                    roles=tuple(spec.get("roles", ())), fields=tuple(spec.get("fields", ())),
                    next=spec.get("next"), outcomes=dict(spec.get("outcomes", {})), default=spec.get("default"),
                    join=spec.get("join"), items=list(spec.get("items", [])),
                    approvals=spec.get("approvals", 1), order=spec.get("order", "any"),
                    required_roles=tuple(spec.get("required_roles", ())), allow_self=spec.get("allow_self", False),
                    printout=spec.get("printout"), copies=spec.get("copies", 1), workflow=spec.get("workflow"),
                    outcome=spec.get("outcome", sid if kind == "end" else None),
                    status=spec.get("status", "completed"))
        if "comment_required" in spec:
            step.comment_required = frozenset(spec["comment_required"])
        step.required = (form.required & set(step.fields)) | set(spec.get("required", []))
        if kind == "parallel":
            step.split = tuple(spec["branches"])
        for i, branch in enumerate(spec.get("branches", []) if kind == "decision" else []):
            expr = compile_at(source, kp + ("branches", i, "when"), branch["when"], names, problems,
                              "condition", ledgers)
            if expr:
                step.branches.append((expr, branch["to"]))
        for i, item in enumerate(spec.get("items", [])):
            if "when" in item:
                expr = compile_at(source, kp + ("items", i, "when"), item["when"], names, problems, "condition",
                                  ledgers)
                if expr:
                    step.item_when[item["id"]] = expr
        for name, text in spec.get("data", {}).items():
            expr = compile_at(source, kp + ("data", name), text, names, problems, "value", ledgers)
            if expr:
                step.data[name] = expr
        step.duration = _duration(source, kp + ("duration",), spec.get("duration"), problems)
        step.due = _due(source, kp, spec, form, problems)
        step.ladder = _ladder(source, kp, spec, step.due, problems)
        step.holds = dict(spec.get("holds", {}))
        step.wait = spec.get("wait", True)
        step.after = _duration(source, kp + ("after",), spec.get("after"), problems)
        if kind == "subprocess" and not step.wait and step.outcomes:
            problems.append(source.problem(kp + ("outcomes",), "a subprocess with `wait: false` does not wait for "
                                                               "the outcome: give `next` instead of `outcomes`"))
        for i, post in enumerate(spec.get("post", [])):
            pkp = kp + ("post", i)
            amount = compile_at(source, pkp + ("amount",), post["amount"], names, problems, "amount", ledgers)
            when = (compile_at(source, pkp + ("when",), post["when"], names, problems, "condition", ledgers)
                    if "when" in post else None)
            if amount:
                step.posts.append(Post(post["ledger"], post["entry"], amount, when, post.get("memo")))
        steps[sid] = step
    return Workflow(id=data["id"], title=data["title"], form=form, start=start, steps=steps, ledgers=ledgers,
                    area=data.get("area"), description=data.get("description"), path=source.path,
                    schedules=_schedules(source, data, form, problems), targets=_targets(source, data, problems))
