"""The meta-schema every definition file is checked against, and its errors as fix-it problems.

The meta-schema is JSON Schema assembled from the parts below (workflow, form, record, site) and the fragment each
registered step kind owns (`Step.schema()`); `goldkey schema` writes it out for editors.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterator
from functools import cache

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from . import spans
from .hints import did_you_mean
from .steps import KINDS
from .steps.schema import EXPR, ID, IDS, ROLES, TEXT
from .yamlsrc import Problem, Source

__all__ = ["check", "did_you_mean", "document"]

DATE_MAP = {"type": "object", "propertyNames": {"pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
            "additionalProperties": TEXT}
DIRECTION = {"enum": ["in", "out"]}
# `deposit: in`, or `deposit: {direction: in, title: 存入}` with the words staff read
ENTRY = {"oneOf": [DIRECTION, {"type": "object", "additionalProperties": False, "required": ["direction"],
                               "properties": {"direction": DIRECTION, "title": TEXT}}]}
SHARE = {"oneOf": [{"type": "number", "minimum": 0, "maximum": 1},  # 60%, or 0.6
                   {"type": "string", "pattern": "^[0-9]{1,3}(\\.[0-9]+)?%$"}]}
SEED_VALUE = {"type": "string", "pattern": "^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)?$"}  # a table, or table.column
_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "text", "integer": "a whole number",
               "number": "a number", "boolean": "true or false", "null": "nothing"}


def document() -> dict:
    """The whole meta-schema, for the kinds registered now."""
    return _document(tuple(KINDS.items()))


@cache
def _document(kinds: tuple) -> dict:
    defs: dict = {}
    for kind, cls in kinds:
        fragment = cls.schema()
        fragment["properties"]["kind"] = {"const": kind}
        defs[f"step_{kind}"] = fragment
    defs["step"] = {"type": "object", "required": ["kind"], "properties": {"kind": {"enum": [k for k, _ in kinds]}},
                    "allOf": [{"if": {"properties": {"kind": {"const": k}}, "required": ["kind"]},
                               "then": {"$ref": f"#/$defs/step_{k}"}} for k, _ in kinds]}
    defs["fragment"] = {"type": "object", "additionalProperties": False, "required": ["id", "title", "start", "steps"],
                        "properties": {"id": ID, "title": TEXT, "description": TEXT, "start": ID,
                                       "params": {"type": "object", "propertyNames": ID, "additionalProperties": TEXT},
                                       "steps": {"type": "object", "minProperties": 1, "propertyNames": ID,
                                                 "additionalProperties": {"$ref": "#/$defs/step"}}}}
    defs["workflow"] = {"type": "object", "additionalProperties": False,
      "required": ["id", "title", "form", "start", "steps"],
      "properties": {"id": ID, "title": TEXT, "area": TEXT, "description": TEXT, "form": ID,
        "ledgers": {"type": "object", "propertyNames": ID, "additionalProperties": {"type": "object",
            "additionalProperties": False, "required": ["title", "entries"],
            "properties": {"title": TEXT, "floor": {"type": "integer"},
                           "entries": {"type": "object", "minProperties": 1, "propertyNames": ID,
                                       "additionalProperties": ENTRY}}}},
        "schedules": {"type": "array", "minItems": 1, "items": {"type": "object", "additionalProperties": False,
            "required": ["id", "cron"], "properties": {"id": ID, "title": TEXT, "cron": TEXT,
                                                       "data": {"type": "object", "propertyNames": ID},
                "sample": {"type": "object", "additionalProperties": False, "required": ["workflow", "period", "share"],
                           "properties": {"workflow": ID, "period": {"enum": ["day", "week", "month"]}, "share": SHARE,
                                          "data": {"type": "object", "propertyNames": ID,
                                                   "additionalProperties": ID}}}}}},
        "targets": {"type": "array", "minItems": 1, "items": {"type": "object", "additionalProperties": False,
            "required": ["id", "title", "step", "target"],
            "properties": {"id": ID, "title": TEXT, "step": ID, "among": ID, "per": {"enum": ["day"]},
                           "target": SHARE}}},
        "deadlines": spans.schema(),
        "carry": {"type": "array", "minItems": 1, "items": {"type": "object", "additionalProperties": False,
            "required": ["field"], "properties": {"field": ID, "from": ID, "when": EXPR}}},
        "start": {"type": "object", "additionalProperties": False, "required": ["roles", "next"],
                  "properties": {"roles": ROLES, "fields": IDS, "required": IDS, "next": ID, "title": TEXT,
                                 "seed": {"type": "object", "additionalProperties": False,
                                          "required": ["report", "values"],
                                          "properties": {"report": ID,
                                                         "params": {"type": "object", "propertyNames": ID,
                                                                    "additionalProperties": ID},
                                                         "values": {"type": "object", "propertyNames": ID,
                                                                    "additionalProperties": SEED_VALUE}}}}},
        "steps": {"type": "object", "minProperties": 1, "propertyNames": ID,
                  "additionalProperties": {"$ref": "#/$defs/step"}}}}
    defs["form"] = {"type": "object", "additionalProperties": False, "required": ["id", "title", "schema"],
      "properties": {"id": ID, "title": TEXT, "description": TEXT, "number": TEXT,
        "schema": {"type": "object", "required": ["type", "properties"], "properties": {"type": {"const": "object"},
                   "properties": {"type": "object", "minProperties": 1, "propertyNames": ID}}},
        "ui": {"type": "object", "additionalProperties": False, "properties": {
            "sections": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                "required": ["title", "fields"], "properties": {"title": TEXT, "fields": IDS}}},
            "fields": {"type": "object", "propertyNames": ID, "additionalProperties": {"type": "object",
                "additionalProperties": False, "properties": {
                    "widget": {"enum": ["text", "textarea", "number", "money", "date", "datetime", "time", "select",
                                       "radio", "checkbox", "checkboxes", "rows", "attachment", "phone", "hidden"]},
                    "help": TEXT, "placeholder": TEXT, "show_when": EXPR}}}}},
        "computed": {"type": "object", "minProperties": 1, "propertyNames": ID, "additionalProperties": EXPR},
        "retention": {"type": "object", "additionalProperties": False, "required": ["keep"],
                      "properties": {"keep": TEXT, "fields": IDS}},
        "rules": {"type": "array", "items": {"type": "object", "additionalProperties": False,
            "required": ["assert", "message"], "properties": {"assert": EXPR, "message": TEXT, "field": ID}}},
        "confidential": {"type": "object", "additionalProperties": False, "required": ["fields", "roles"],
            "properties": {"fields": IDS, "roles": ROLES}},
        "printouts": {"type": "object", "propertyNames": ID, "additionalProperties": {"type": "object",
            "additionalProperties": False, "required": ["template"],
            "properties": {"title": TEXT, "template": {"type": "string", "pattern": "^[A-Za-z0-9_\\-]+\\.docx$"},
                           "copies": {"type": "array", "items": TEXT, "minItems": 1},
                           "signatures": {"type": "array", "items": TEXT, "minItems": 1}}}}}}
    form = defs["form"]["properties"]
    defs["record"] = {"type": "object", "additionalProperties": False, "required": ["id", "title", "key", "schema"],
      "properties": {"id": ID, "title": TEXT, "description": TEXT, "schema": form["schema"], "ui": form["ui"],
        "rules": form["rules"], "confidential": form["confidential"],
        "key": {"type": "array", "items": ID, "minItems": 1, "uniqueItems": True},
        "search": IDS, "columns": IDS, "roles": ROLES, "edit": ROLES,
        "states": {"type": "object", "additionalProperties": False, "required": ["initial"],
                   "properties": {"initial": TEXT, "list": {"type": "array", "items": TEXT, "minItems": 2,
                                                            "uniqueItems": True},
                                  "moves": {"type": "object", "minProperties": 1, "additionalProperties": {
                                      "type": "array", "items": TEXT, "uniqueItems": True}}}}}}
    value = {"type": ["string", "number", "boolean", "null"]}
    where = {"type": "object", "propertyNames": ID, "additionalProperties": {"oneOf": [
        value, {"type": "array", "items": value, "minItems": 1},
        {"type": "object", "additionalProperties": False, "minProperties": 1,
         "properties": {op: value for op in ("not", "gt", "ge", "lt", "le", "filled")}}]}}
    column = {"type": ["object", "null"], "additionalProperties": False, "properties": {
        "title": TEXT, "field": ID, "count": {"oneOf": [{"const": True}, where]}, "rate": where,
        **{agg: ID for agg in ("sum", "avg", "min", "max")}}}
    defs["report"] = {"type": "object", "additionalProperties": False, "required": ["id", "title", "tables"],
      "properties": {"id": ID, "title": TEXT, "description": TEXT, "roles": ROLES,
        "template": {"type": "string", "pattern": "^[A-Za-z0-9_\\-]+\\.docx$"},
        "params": {"type": "object", "propertyNames": ID, "additionalProperties": {
            "type": "object", "additionalProperties": False, "required": ["type"],
            "properties": {"type": {"enum": ["date", "month", "text"]}, "title": TEXT, "default": TEXT,
                           "choices": {"type": "array", "items": TEXT, "minItems": 1}}}},
        "tables": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["id", "from"],
            "properties": {"id": ID, "title": TEXT, "from": {"enum": ["instances", "tasks", "ledger", "records"]},
                "workflow": {"oneOf": [ID, {"type": "array", "items": ID, "minItems": 1}]}, "record": ID,
                "period": {"type": "object", "additionalProperties": False, "required": ["param"],
                           "properties": {"param": ID, "field": ID}},
                "where": where, "group": {"type": "array", "items": {"type": "string"}},
                "columns": {"type": "object", "propertyNames": ID, "additionalProperties": column},
                "sort": {"type": "array", "items": {"type": "string", "pattern": "^-?[a-z][a-z0-9_]*$"}},
                "limit": {"type": "integer", "minimum": 1, "maximum": 10000},
                "chart": {"type": "object", "additionalProperties": False, "required": ["x", "y"],
                          "properties": {"kind": {"enum": ["bar", "line"]}, "x": ID,
                                         "y": {"oneOf": [ID, {"type": "array", "items": ID, "minItems": 1}]}}},
                "grid": {"type": "object", "additionalProperties": False, "required": ["rows", "cols", "colour"],
                         "properties": {"rows": ID, "cols": ID, "colour": ID,
                                        "colours": {"type": "object", "additionalProperties": {
                                            "type": "string", "pattern": "^#[0-9a-fA-F]{6}$"}}}}}}}}}
    defs["site"] = {"type": "object", "additionalProperties": False, "required": ["roles"],
      "properties": {"site": TEXT, "timezone": TEXT, "verify_url": {"type": "string", "pattern": "^https?://"},
        "admin_roles": {"type": "array", "items": ID, "uniqueItems": True},
        "calendar": {"type": "object", "additionalProperties": False, "properties": {
            "public_holidays": {"enum": ["china", "none"]},
            "working_days": {"type": "array", "minItems": 1, "uniqueItems": True,
                             "items": {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
            "working_hours": {"type": "array", "minItems": 1, "items": {
                "type": "string", "pattern": "^[0-9]{1,2}:[0-9]{2} *- *[0-9]{1,2}:[0-9]{2}$"}},
            "holidays": DATE_MAP, "workdays": DATE_MAP,
            "confirmed_years": {"type": "array", "uniqueItems": True, "items": {"type": "integer", "minimum": 2000}}}},
        "roles": {"type": "object", "minProperties": 1, "propertyNames": ID, "additionalProperties": {
            "type": "object", "additionalProperties": False, "required": ["title"],
            "properties": {"title": TEXT, "description": TEXT}}}}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "https://goldkey.invalid/metaschema.json",
            "title": "goldkey definitions", "$defs": defs}


def _errors(kind: str, data: object) -> Iterator[ValidationError]:
    """Every meta-schema error in a file of `kind` (site, form, record or workflow). A workflow's steps are each checked
    against their own kind's fragment (the same as the full document's dispatch on `kind`, a third of the time)."""
    validators = _validators(tuple(KINDS.items()))
    yield from validators[kind].iter_errors(data)
    if kind != "workflow" or not isinstance(data, dict) or not isinstance(data.get("steps"), dict):
        return
    for sid, spec in data["steps"].items():
        step = validators.get(f"step_{spec.get('kind')}") if isinstance(spec, dict) and isinstance(
            spec.get("kind"), str) else None
        if step is not None:
            for error in step.iter_errors(spec):
                error.path.extendleft(reversed(("steps", sid)))
                yield error


@cache
def _validators(kinds: tuple) -> dict[str, Draft202012Validator]:
    defs = _document(kinds)["$defs"]
    workflow = copy.deepcopy(defs["workflow"])
    workflow["properties"]["steps"]["additionalProperties"] = {k: v for k, v in defs["step"].items() if k != "allOf"}
    fragment = copy.deepcopy(defs["fragment"])
    fragment["properties"]["steps"]["additionalProperties"] = workflow["properties"]["steps"]["additionalProperties"]
    parts = dict(workflow=workflow, fragment=fragment, form=defs["form"], site=defs["site"], record=defs["record"],
                 report=defs["report"],
                 **{f"step_{k}": defs[f"step_{k}"] for k, _ in kinds})
    return {name: Draft202012Validator(schema) for name, schema in parts.items()}


def check_step(source: Source, sid: str, spec: dict) -> list[Problem]:
    """Every meta-schema problem in a step an included fragment brings, its parameters put in (a fragment's own file
    is checked for its shape only: `${lead}` is not yet a role), reported in the fragment's file."""
    step = _validators(tuple(KINDS.items())).get(f"step_{spec.get('kind')}")
    out: list[Problem] = []
    for error in step.iter_errors(spec) if step is not None else ():
        error.path.extendleft(reversed(("steps", sid)))
        out.extend(_problems(source, error))
    return out


def check(source: Source, kind: str) -> list[Problem]:
    """Every meta-schema problem in `source` (kind: site, form or workflow), one per wrong thing.

    When the only problems are unknown keys, the data is corrected in place (a misspelled key renamed to
    the key it was meant to be, other unknown keys dropped) so that later checks still run; the
    problems are reported once, here. Otherwise `source.data` is set to None: nothing more to check."""
    problems: list[Problem] = []
    seen: set[tuple] = set()
    errors = list(_errors(kind, source.data))
    fixes = []  # (mapping, bad key, key it was meant to be or None)
    meant = set()
    for e in errors:
        if e.validator == "additionalProperties" and isinstance(e.instance, dict):
            allowed = list(e.schema.get("properties", {}))
            for key in e.instance:
                if key not in allowed:
                    match = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                    fixes.append((e.instance, key, match[0] if match and match[0] not in e.instance else None))
                    meant.update((tuple(e.absolute_path), m) for m in match)
    fatal = False
    for error in errors:
        if error.validator == "required" and (tuple(error.absolute_path), _quoted(error.message)) in meant:
            continue  # a misspelled required key is one problem, reported as the unknown key
        fatal = fatal or error.validator not in ("additionalProperties", "if")
        for problem in _problems(source, error):
            key = (problem.line, problem.col, problem.message)
            if key not in seen:
                seen.add(key)
                problems.append(problem)
    if problems:
        for mapping, bad, good in fixes:
            value = mapping.pop(bad)
            if good:
                mapping[good] = value
        if fatal or next(_errors(kind, source.data), None) is not None:
            source.data = None
    return problems


def _quoted(message: str) -> str:
    return message.split("'")[1] if "'" in message else "?"


def _where(path) -> str:
    parts = list(path)
    if len(parts) >= 2 and parts[0] == "steps":
        rest = ".".join(str(p) for p in parts[2:])
        return f"step '{parts[1]}'" + (f" ({rest})" if rest else "")
    return ".".join(str(p) for p in parts) or "the file"


_ONE_OF = {"approvals": "a whole number of signatures (1, 2, ...) or 'all'",
           "due": "a duration such as 15m or 3 working days, or {soft: 24h, hard: 36h}",
           "remind": "true (the task's roles) or a list of roles",
           "target": "a share such as 60% or 0.6", "share": "a share such as 60% or 0.6"}


def _problems(source: Source, error: ValidationError) -> list[Problem]:
    path = tuple(error.absolute_path)
    where = _where(path)
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = list(error.schema.get("properties", {}))
        out = []
        for key in instance:
            if key not in allowed:
                msg = f"unknown key '{key}' in {where}{did_you_mean(key, allowed)}"
                if not did_you_mean(key, allowed):
                    msg += f" (allowed: {', '.join(allowed)})"
                out.append(source.problem(path + (key,), msg, key=True))
        return out
    if kind == "required":
        missing = _quoted(error.message)
        if missing == "join":
            return [source.problem(path, f"parallel split in {where} has no join: add `join: <join step id>`"
                                         " naming the step where its branches meet")]
        return [source.problem(path, f"{where} is missing the required key '{missing}'")]
    if kind in ("enum", "const"):
        choices = value if kind == "enum" else [value]
        what = "kind" if path and path[-1] == "kind" else where
        return [source.problem(path, f"{what} '{instance}' is not allowed{did_you_mean(instance, choices)}"
                                     f" (expected one of: {', '.join(str(c) for c in choices)})")]
    if kind == "type":
        wanted = value if isinstance(value, list) else [value]
        found = type(instance).__name__
        found = {"dict": "a mapping", "list": "a list", "str": "text", "int": "a number", "NoneType": "nothing",
                 "bool": "true/false", "float": "a number"}.get(found, found)
        hint = ""
        if isinstance(instance, bool) and "string" in wanted:
            hint = " (YAML reads yes/no/on/off/true/false as true or false: put the word in quotes)"
        return [source.problem(path, f"{where}: expected {' or '.join(_TYPE_NAMES.get(w, w) for w in wanted)},"
                                     f" found {found}{hint}")]
    if kind == "pattern" and value.startswith("^[a-z]"):
        return [source.problem(path, f"{where}: '{instance}' is not a valid id; use lower-case letters, "
                                     "digits and _ (e.g. manager_sign)")]
    if kind == "propertyNames":
        return [source.problem(path, f"{where}: '{instance}' is not a valid id; use lower-case letters, "
                                     "digits and _")]
    if kind in ("oneOf", "anyOf") and path and path[-1] in _ONE_OF:
        return [source.problem(path, f"{where}: expected {_ONE_OF[path[-1]]}")]
    if kind in ("oneOf", "anyOf") and not isinstance(instance, dict | list):
        # a plain value where the short form (a plain value) or a mapping may stand: the short form's message
        first = [e for e in error.context if e.schema_path and e.schema_path[0] == 0]
        if first:
            return [p for e in first for p in _problems(source, e)]
    if kind == "if":
        return []
    return [source.problem(path, f"{where}: {error.message}")]
