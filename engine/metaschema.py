"""Validate definition files against the shipped meta-schema; turn errors into fix-it problems."""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .yamlsrc import Problem, Source

_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "text", "integer": "a whole number",
               "number": "a number", "boolean": "true or false", "null": "nothing"}


@cache
def _validator(kind: str) -> Draft202012Validator:
    meta = json.loads((Path(__file__).with_name("metaschema.json")).read_text(encoding="utf-8"))
    schema = {"$schema": meta["$schema"], "$defs": meta["$defs"], "$ref": f"#/$defs/{kind}"}
    return Draft202012Validator(schema)


def did_you_mean(word: str, choices) -> str:
    """' Did you mean 'x'?' when a close match exists, else ''."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def check(source: Source, kind: str) -> list[Problem]:
    """Every meta-schema problem in `source` (kind: site, form or workflow), one per wrong thing.

    When the only problems are unknown keys, the data is corrected in place (a misspelled key renamed to
    the key it was meant to be, other unknown keys dropped) so that later checks still run; the
    problems are reported once, here. Otherwise `source.data` is set to None: nothing more to check."""
    problems: list[Problem] = []
    seen: set[tuple] = set()
    errors = list(_validator(kind).iter_errors(source.data))
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
        if fatal or next(_validator(kind).iter_errors(source.data), None) is not None:
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
           "target": "a share such as 60% or 0.6"}


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
    if kind == "if":
        return []
    return [source.problem(path, f"{where}: {error.message}")]
