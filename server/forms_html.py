"""Form fields from a JSON Schema + `ui:` hints: what each input looks like, what to show in it, and how a posted
HTML form turns back into the data dict the engine validates.

Input names: `f.{field}`; checkboxes of an enum array repeat the name; table rows are `f.{field}.{i}.{sub}`.
Nothing here knows a particular form: everything comes from the schema, the hints and the step's field list."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

PREFIX = "f."
_ROW_NAME = re.compile(r"^f\.([^.]+)\.(\d{1,4})\.([^.]+)$")


@dataclass
class Field:
    name: str
    title: str
    control: str  # text textarea number money date datetime time select radio checkbox checkboxes rows hidden phone
    #               attachment lookup signature person instance
    required: bool = False
    help: str | None = None
    placeholder: str | None = None
    show_when: str | None = None
    options: list[str] = field(default_factory=list)
    integer: bool = False
    subs: list[Field] = field(default_factory=list)
    kind: str = ""  # the control the value would have without the hidden widget (how to read it back)
    record: str | None = None  # a lookup (`format: ref`): the record type whose key it holds
    fill: dict[str, str] = field(default_factory=dict)  # a lookup's {field: record field} filled when one is chosen
    roles: tuple[str, ...] = ()  # a person field (`format: person`): the roles its person holds one of
    people: list[dict] = field(default_factory=list)  # ... and who they are ([{name, title}]), filled by the page
    links: tuple[str, ...] = ()  # a link field (`format: instance`): the workflows whose cases it may name

    @property
    def input_name(self) -> str:
        return PREFIX + self.name

    @property
    def fill_json(self) -> str:
        return json.dumps(self.fill, ensure_ascii=False)


@dataclass
class Section:
    title: str | None
    fields: list[Field]


def _control(schema: dict, widget: str | None) -> str:
    kind = schema.get("type")
    if widget == "hidden":
        return "hidden"
    if kind == "boolean":
        return "checkbox"
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        if items.get("type") == "object" or "properties" in items:
            return "rows"
        return "checkboxes"
    if "enum" in schema:
        return "radio" if widget == "radio" else "select"
    if schema.get("format") == "ref":
        return "lookup"  # a text input that suggests records as one types (the key is what it holds)
    if schema.get("format") == "attachment":
        return "attachment"  # a file input; the field holds the uploaded file's id
    if schema.get("format") == "person":
        return "person"  # a choice of the staff holding its roles (their names shown, their login sent)
    if schema.get("format") == "signature":
        return "signature"  # a pad (static/signature.js) and a hidden input holding the id of its uploaded PNG
    if schema.get("format") == "instance":
        return "instance"  # a text input for another case's number (the engine checks it names one)
    if schema.get("format") == "money" or widget == "money":
        return "money"
    if kind in ("integer", "number"):
        return "number"
    fmt = schema.get("format")
    if fmt == "date" or widget == "date":
        return "date"
    if fmt == "date-time" or widget == "datetime":
        return "datetime"
    if fmt == "time" or widget == "time":
        return "time"
    if widget in ("textarea", "phone"):
        return widget
    return "text"  # also the attachment widget on a field that is not `format: attachment`: plain text


def make_field(name: str, schema: dict, hints: dict | None, required: bool) -> Field:
    hints = hints or {}
    widget = hints.get("widget")
    kind = _control(schema, None if widget == "hidden" else widget)
    control = "hidden" if widget == "hidden" else kind
    options: list[str] = []
    subs: list[Field] = []
    if control in ("select", "radio"):
        options = [str(v) for v in schema.get("enum", [])]
    elif control == "checkboxes":
        options = [str(v) for v in (schema.get("items") or {}).get("enum", [])]
    elif control == "rows":
        items = schema.get("items") or {}
        needed = set(items.get("required", []))
        subs = [make_field(sub, sub_schema, None, sub in needed)
                for sub, sub_schema in (items.get("properties") or {}).items()]
    lookup = kind == "lookup"
    return Field(name=name, title=str(schema.get("title") or name), control=control, required=required,
                 help=hints.get("help"), placeholder=hints.get("placeholder"), show_when=hints.get("show_when"),
                 options=options, integer=schema.get("type") == "integer", subs=subs, kind=kind,
                 record=str(schema.get("record") or "") if lookup else None,
                 fill={str(k): str(v) for k, v in (schema.get("fill") or {}).items()} if lookup else {},
                 roles=tuple(schema.get("roles") or ()) if kind == "person" else (),
                 links=_linked_workflows(schema) if kind == "instance" else ())


def _linked_workflows(schema: dict) -> tuple[str, ...]:
    allowed = schema.get("workflow")
    return (allowed,) if isinstance(allowed, str) else tuple(str(w) for w in allowed or ())


def hint_links(secs: list[Section], examples: dict[str, str]) -> list[Section]:
    """Each link field (`format: instance`) without a placeholder of its own says what to type: 「輸入單號，例如
    T-2026-0001」 (`examples`: workflow -> a number of its form), or 「輸入單號」 when no example is known."""
    for f in all_fields(secs):
        if f.control == "instance" and not f.placeholder:
            example = next((examples[w] for w in f.links if examples.get(w)), "")
            f.placeholder = f"輸入單號，例如 {example}" if example else "輸入單號"
    return secs


def with_staff(secs: list[Section], holders) -> list[Section]:
    """The sections with each person field's choice of staff (`holders(roles)`: [{name, title}])."""
    for f in all_fields(secs):
        if f.control == "person":
            f.people = sorted(holders(f.roles), key=lambda p: (p["title"], p["name"]))
    return secs


def sections(schema: dict, ui: dict | None, names, required) -> list[Section]:
    """The fields `names` (of a step or of the start) grouped and ordered by the form's ui sections; fields no
    section names come last, in the step's order."""
    ui = ui or {}
    props = schema.get("properties", {})
    hints = ui.get("fields") or {}
    wanted = [n for n in names if n in props]
    required = set(required or ())
    out: list[Section] = []
    placed: set[str] = set()
    for sec in ui.get("sections") or []:
        mine = [n for n in sec.get("fields", []) if n in wanted and n not in placed]
        if mine:
            placed.update(mine)
            out.append(Section(sec.get("title"), [make_field(n, props[n], hints.get(n), n in required)
                                                  for n in mine]))
    rest = [n for n in wanted if n not in placed]
    if rest:
        out.append(Section(None, [make_field(n, props[n], hints.get(n), n in required) for n in rest]))
    return out


def all_fields(secs: list[Section]) -> list[Field]:
    return [f for sec in secs for f in sec.fields]


def has_files(secs: list[Section]) -> bool:
    return any(f.control == "attachment" for f in all_fields(secs))


# --- what an input shows ------------------------------------------------------------------------------------

def _local_input(value, tz: ZoneInfo) -> str:
    """A stored ISO date-time as a datetime-local value (site time, to the minute)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    return moment.strftime("%Y-%m-%dT%H:%M")


def _shown(f: Field, value, tz: ZoneInfo):
    if f.control == "hidden":
        return "" if value is None else ("true" if value is True else "false" if value is False else str(value))
    if f.control == "checkbox":
        return value is True
    if f.control == "checkboxes":
        return [str(v) for v in value] if isinstance(value, list) else []
    if f.control == "rows":
        rows = value if isinstance(value, list) else []
        return [{s.name: _shown(s, row.get(s.name) if isinstance(row, dict) else None, tz) for s in f.subs}
                for row in rows]
    if value is None:
        return ""
    if f.control == "datetime":
        return _local_input(value, tz)
    if f.control == "time":
        return str(value)[:5]
    return str(value)


def shown_values(fields: list[Field], data: dict, tz: ZoneInfo, hidden: set[str] = frozenset()) -> dict:
    """What each input shows for stored data (a confidential field the user may not see shows empty)."""
    return {f.name: _shown(f, None if f.name in hidden else data.get(f.name), tz) for f in fields}


def posted_values(fields: list[Field], form, uploads: dict[str, str] | None = None) -> dict:
    """What each input shows after a post: exactly what was typed. An attachment field shows the file just
    uploaded (`uploads`: field -> id), else the one it kept (`f.{field}.keep`)."""
    out: dict = {}
    for f in fields:
        if f.control == "attachment":
            out[f.name] = (uploads or {}).get(f.name) or str(form.get(f.input_name + ".keep") or "")
        elif f.control == "checkbox":
            out[f.name] = "true" in form.getlist(f.input_name)
        elif f.control == "checkboxes":
            out[f.name] = [str(v) for v in form.getlist(f.input_name)]
        elif f.control == "rows":
            out[f.name] = [{s.name: (vals.get(s.name) == "true" if s.control == "checkbox" else
                                     vals.get(s.name, "")) for s in f.subs}
                           for vals in _posted_rows(f, form)]
        else:
            out[f.name] = str(form.get(f.input_name) or "")
    return out


def _posted_rows(f: Field, form) -> list[dict]:
    rows: dict[int, dict] = {}
    subs = {s.name for s in f.subs}
    for key, value in form.multi_items():
        m = _ROW_NAME.match(key)
        if m and m.group(1) == f.name and m.group(3) in subs:
            rows.setdefault(int(m.group(2)), {})[m.group(3)] = str(value)
    filled = [rows[i] for i in sorted(rows)]
    return [r for r in filled if any(v.strip() for v in r.values())]


# --- from the post to data ----------------------------------------------------------------------------------

def _number(text: str, integer: bool):
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text  # the schema says what is wrong with it
    if not value.is_finite():
        return text
    if value == value.to_integral_value() and ("." not in text or integer):
        return int(value)
    return value


def _datetime(text: str, tz: ZoneInfo):
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return moment.replace(tzinfo=tz).isoformat(timespec="seconds")
    return text


def _time(text: str, tz: ZoneInfo):
    m = re.fullmatch(r"(\d{2}):(\d{2})(?::(\d{2}))?", text)
    if not m:
        return text
    offset = datetime.now(tz).strftime("%z")
    return f"{m.group(1)}:{m.group(2)}:{m.group(3) or '00'}{offset[:3]}:{offset[3:]}"


def _value(f: Field, shown, tz: ZoneInfo):
    """The data value of one input's shown value; None means not filled."""
    if f.control == "checkbox":
        return bool(shown)
    if f.control == "checkboxes":
        return list(dict.fromkeys(shown)) or None
    if f.control == "rows":
        rows = []
        for row in shown:
            item = {}
            for s in f.subs:
                v = _value(s, row.get(s.name, ""), tz)
                if v is not None and not (s.control == "checkbox" and v is False):
                    item[s.name] = v
            if item:
                rows.append(item)
        return rows or None
    text = shown.replace("\r\n", "\n").strip()
    if not text:
        return None
    if f.control == "hidden" and f.kind == "checkbox":
        return text.lower() == "true"
    if f.kind == "number":
        return _number(text, f.integer)
    if f.kind == "datetime":
        return _datetime(text, tz)
    if f.kind == "time":
        return _time(text, tz)
    return text


def to_data(fields: list[Field], shown: dict, tz: ZoneInfo, before: dict | None = None,
            hidden: set[str] = frozenset()) -> dict:
    """The data to send: every filled input; an emptied one that held a value before is sent as None (cleared).
    A confidential field the user could not see is left as it was when left empty."""
    before = before or {}
    data: dict = {}
    for f in fields:
        value = _value(f, shown.get(f.name), tz)
        if value is not None:
            data[f.name] = value
        elif before.get(f.name) not in (None, "", []) and f.name not in hidden:
            data[f.name] = None
    return data


def format_problems(fields: list[Field], data: dict) -> list[dict]:
    """Date-times and times the browser should have sent in its own format but did not (the engine's format
    checks may not cover them): `[{field, message}]` like the engine's."""
    problems = []
    examples = {"datetime": "2026-11-27 09:30", "time": "09:30"}
    for f in fields:
        value = data.get(f.name)
        if f.control in examples and isinstance(value, str) and not _well_formed(f.control, value):
            problems.append({"field": f.name, "message": f"「{f.title}」格式不正確，例如 {examples[f.control]}"})
    return problems


def _well_formed(control: str, value: str) -> bool:
    if control == "time":
        return bool(re.fullmatch(r"\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}", value))
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def field_errors(details: list, names) -> tuple[dict[str, list[str]], list[str]]:
    """Engine problems `[{field, message}]` by the top-level field they are about; the rest (a field not on the
    page, or none) for the top of the form."""
    names = set(names)
    by_field: dict[str, list[str]] = {}
    other: list[str] = []
    for d in details or []:
        if not isinstance(d, dict):
            other.append(str(d))
            continue
        key = str(d.get("field") or "").split(".")[0]
        message = str(d.get("message") or "")
        if key in names:
            by_field.setdefault(key, []).append(message)
        elif message:
            other.append(message)
    return by_field, other
