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
    """Every meta-schema problem in `source` (kind: site, form or workflow), one per wrong thing."""
    problems: list[Problem] = []
    seen: set[tuple] = set()
    for error in _leaf_errors(_validator(kind).iter_errors(source.data)):
        for problem in _problems(source, error):
            key = (problem.line, problem.col, problem.message)
            if key not in seen:
                seen.add(key)
                problems.append(problem)
    return problems


def _leaf_errors(errors):
    for error in errors:
        if error.context and error.validator in ("oneOf", "anyOf"):
            yield error  # report the alternative as a whole: "expected one of ..."
        else:
            yield error


def _where(path) -> str:
    parts = list(path)
    if len(parts) >= 2 and parts[0] == "steps":
        rest = ".".join(str(p) for p in parts[2:])
        return f"step '{parts[1]}'" + (f" ({rest})" if rest else "")
    return ".".join(str(p) for p in parts) or "the file"


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
        missing = error.message.split("'")[1] if "'" in error.message else "?"
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
        return [source.problem(path, f"{where}: expected {' or '.join(_TYPE_NAMES.get(w, w) for w in wanted)},"
                                     f" found {found}")]
    if kind == "pattern" and value.startswith("^[a-z]"):
        return [source.problem(path, f"{where}: '{instance}' is not a valid id; use lower-case letters, "
                                     "digits and _ (e.g. manager_sign)")]
    if kind == "propertyNames":
        return [source.problem(path, f"{where}: '{instance}' is not a valid id; use lower-case letters, "
                                     "digits and _")]
    if kind in ("oneOf", "anyOf") and path and path[-1] == "approvals":
        return [source.problem(path, f"{where}: expected a whole number of signatures (1, 2, ...) or 'all'")]
    if kind == "if":
        return []
    return [source.problem(path, f"{where}: {error.message}")]
