"""A record type's YAML (records/*.yaml) to a RecordType: its schema checked as a form's is, its key, states and
moves, search fields and roles, every problem at its place; and the checks of the lookups that refer to records
(`format: ref` fields of forms and records, their `fill:`)."""

from __future__ import annotations

from .formdef import build_form
from .forms import Form
from .hints import did_you_mean
from .model import Site
from .records import RecordType
from .yamlsrc import Problem, Source


def build_record(source: Source, site: Site, problems: list[Problem], warnings: list[Problem]) -> RecordType | None:
    data = source.data
    form = build_form(source, site, problems, warnings)
    if form is None:
        return None
    props = form.properties
    for name in form.signatures:  # (signed on screen at a step: engine/signatures.py binds it to what was signed)
        problems.append(source.problem(("schema", "properties", name, "format"), f"signature field '{name}': a "
                                       "record has no step to sign at; put the signature in the form of a workflow "
                                       "whose step the signer is present at"))
    for part in ("key", "search", "columns"):
        for i, name in enumerate(data.get(part, [])):
            if name not in props:
                problems.append(source.problem((part, i), f"unknown field '{name}'{did_you_mean(name, props)}; "
                                                          f"record type '{data['id']}' has no such field"))
    for i, name in enumerate(data["key"]):
        schema = props.get(name, {})
        if schema and schema.get("type") not in ("string", "integer"):
            problems.append(source.problem(("key", i), f"key field '{name}' must be text or a whole number, not "
                                                       f"{schema.get('type') or 'untyped'}"))
    states, initial, moves = _states(source, data.get("states"), problems)
    if site.roles:
        for part in ("roles", "edit"):
            for i, role in enumerate(data.get(part, [])):
                if role not in site.roles:
                    problems.append(source.problem((part, i), f"unknown role '{role}'{did_you_mean(role, site.roles)}"
                                                              "; roles are declared in goldkey.yaml"))
    return RecordType(id=data["id"], title=data["title"], form=form, key=tuple(data["key"]),
                      search=tuple(data.get("search", ())), columns=tuple(data.get("columns", ())), states=states,
                      initial=initial, moves=moves, readers=tuple(data.get("roles", ())),
                      editors=tuple(data.get("edit", ())), path=source.path, description=data.get("description"))


def _states(source: Source, spec: dict | None, problems: list[Problem]):
    """(states, initial, moves) of `states: {initial, moves: {state: [states]}}` or `{initial, list: [states]}`."""
    if not spec:
        return (), None, None
    if ("moves" in spec) == ("list" in spec):
        problems.append(source.problem(("states",), "give the states either as `list: [空置, 自住, 出租]` (any state "
                                                    "may change to any other) or as `moves: {在櫃: [借出], 借出: "
                                                    "[在櫃]}` (where each state may go), not both or neither"))
        return (), None, None
    if "list" in spec:
        states, moves = tuple(spec["list"]), None
    else:
        found = dict.fromkeys(spec["moves"])
        for targets in spec["moves"].values():
            found.update(dict.fromkeys(targets))
        states = tuple(found)
        moves = {s: tuple(spec["moves"].get(s, ())) for s in states}
        for state, targets in spec["moves"].items():
            if state in targets:
                problems.append(source.problem(("states", "moves", state), f"state '{state}' moves to itself; leave "
                                                                           "it out of its own list"))
    initial = spec["initial"]
    if initial not in states:
        problems.append(source.problem(("states", "initial"), f"initial state '{initial}' is not one of the states "
                                                              f"({', '.join(states)}){did_you_mean(initial, states)}"))
    return states, initial, moves


def check_refs(source: Source, form: Form, records: dict[str, RecordType], broken: set[str],
               problems: list[Problem], where: str = "form") -> None:
    """Each lookup field of `form` names a record type, and its `fill:` maps fields of the form to fields of the
    record of the same kind of value."""
    props = form.properties
    for name, ref in form.refs.items():
        kp = ("schema", "properties", name)
        record = records.get(ref.record)
        if record is None:
            if ref.record and ref.record not in broken:  # (no `record:` at all is reported where it is built)
                problems.append(source.problem(kp + ("record",), f"unknown record type '{ref.record}'"
                                                                 f"{did_you_mean(ref.record, records)}; it must be "
                                                                 "the id of a file in records/"))
            continue
        for target, origin in ref.fill.items():
            fkp = kp + ("fill", target)
            if target not in props:
                problems.append(source.problem(fkp, f"`fill` names unknown field '{target}'"
                                                    f"{did_you_mean(target, props)}; {where} '{form.id}' has no such "
                                                    "field", key=True))
            elif target == name:
                problems.append(source.problem(fkp, f"field '{name}' cannot fill itself", key=True))
            if origin not in record.properties:
                problems.append(source.problem(fkp, f"record type '{record.id}' has no field '{origin}'"
                                                    f"{did_you_mean(origin, record.properties)}"))
            elif target in props and _kind(props[target]) != _kind(record.properties[origin]):
                problems.append(source.problem(fkp, f"'{target}' is {_kind(props[target])} but '{origin}' of "
                                                    f"record type '{record.id}' is {_kind(record.properties[origin])}"
                                                    ": fill a field with a field of the same type"))
    for name, schema in props.items():
        items = schema.get("items")
        if isinstance(items, dict) and any(isinstance(s, dict) and s.get("format") == "ref"
                                           for s in items.get("properties", {}).values()):
            problems.append(source.problem(("schema", "properties", name), f"field '{name}': a record lookup "
                                                                           "(`format: ref`) must be a field of the "
                                                                           "form itself, not a column of a table"))


def _kind(schema: dict) -> str:
    kind = schema.get("type", "untyped")
    return f"{kind} ({schema['format']})" if schema.get("format") in ("money", "date", "date-time") else str(kind)
