"""A form's YAML to a Form: its JSON Schema checked (keyword typos too), rules, ui hints, confidential fields,
numbering."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .defcheck import check_fields, compile_at
from .forms import INSTANCE_FORMAT, PERSON_FORMAT, REF_FORMAT, SIGNATURE_FORMAT, Form, Rule
from .hints import did_you_mean
from .model import Site
from .yamlsrc import KeyPath, Problem, Source

_NUMBER_FIELDS = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def build_form(source: Source, site: Site, problems: list[Problem], warnings: list[Problem]) -> Form | None:
    """The form of a file (meta-schema valid), or None when its schema is not JSON Schema."""
    data = source.data
    schema = data["schema"]
    error = best_match(_metaschema().iter_errors(schema))
    if error is not None:
        problems.append(source.problem(("schema",) + tuple(error.absolute_path),
                                       f"schema is not valid JSON Schema: {error.message}"))
        return None
    props = schema["properties"]
    _check_keywords(source, ("schema",), schema, problems)
    _untitled(source, ("schema",), schema, warnings)
    _lookups(source, props, problems, site)
    _signatures(source, props, data.get("computed") or {}, problems)
    check_fields(source, ("schema", "required"), schema.get("required", []), props, problems)
    rules = []
    for i, rule in enumerate(data.get("rules", [])):
        expr = compile_at(source, ("rules", i, "assert"), rule["assert"], props, problems, "rule")
        if rule.get("field") and rule["field"] not in props:
            problems.append(source.problem(("rules", i, "field"), f"unknown field '{rule['field']}'"
                                                                  f"{did_you_mean(rule['field'], props)}"))
        if expr:
            rules.append(Rule(expr, rule["message"], rule.get("field")))
    ui = data.get("ui", {})
    for i, section in enumerate(ui.get("sections", [])):
        check_fields(source, ("ui", "sections", i, "fields"), section["fields"], props, problems)
    show_when = {}
    for name, hints in ui.get("fields", {}).items():
        if name not in props:
            problems.append(source.problem(("ui", "fields", name), f"ui hints for unknown field '{name}'"
                                                                   f"{did_you_mean(name, props)}",
                                           key=True))
        if "show_when" in hints:
            expr = compile_at(source, ("ui", "fields", name, "show_when"), hints["show_when"], props, problems,
                              "show_when")
            if expr:
                show_when[name] = expr
    confidential = data.get("confidential", {})
    if confidential:
        check_fields(source, ("confidential", "fields"), confidential["fields"], props, problems)
        if site.roles:
            check_fields(source, ("confidential", "roles"), confidential["roles"], site.roles, problems, "role")
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
                show_when=show_when, confidential=confidential, printouts=data.get("printouts", {}),
                computed=_computed(source, data.get("computed", {}), props, problems),
                retention=_retention(source, data.get("retention"), props, confidential, problems))


def _retention(source: Source, spec: dict | None, props: dict, confidential: dict,
               problems: list[Problem]) -> dict | None:
    """`retention: {keep: 2 years, fields: [...]}`: how long after an instance ends its personal data (the listed
    fields, by default the confidential ones) is kept."""
    if not spec:
        return None
    from .durations import parse_duration

    try:
        keep = parse_duration(spec["keep"])
    except ValueError as exc:
        problems.append(source.problem(("retention", "keep"), str(exc)))
        return None
    if keep.unit not in ("days", "months"):
        problems.append(source.problem(("retention", "keep"), f"keep personal data for days, months or years "
                                                              f"(e.g. 2 years), not {spec['keep']}"))
        return None
    fields = list(spec.get("fields") or confidential.get("fields", ()))
    check_fields(source, ("retention", "fields"), spec.get("fields", []), props, problems)
    if not fields:
        problems.append(source.problem(("retention",), "say which personal data to remove: list `fields`, or "
                                                       "declare the form's `confidential` fields"))
        return None
    return {"keep": keep, "text": spec["keep"], "fields": [f for f in fields if f in props]}


def _computed(source: Source, spec: dict, props: dict, problems: list[Problem]) -> dict:
    """`computed: {field: expression}` in the order to compute them (a field read by another first); a field the
    schema lacks, or computed fields reading each other in a circle, are problems."""
    exprs = {}
    for name, text in spec.items():
        kp = ("computed", name)
        if name not in props:
            hint = did_you_mean(name, props)
            problems.append(source.problem(kp, f"computed field '{name}' is not in the schema{hint}; declare it "
                                               "under schema.properties with its type and title", key=True))
            continue
        expr = compile_at(source, kp, text, props, problems, "computed")
        if expr:
            if name in expr.names:
                problems.append(source.problem(kp, f"computed field '{name}' reads itself"))
                continue
            exprs[name] = expr
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in visiting:
            circle = " → ".join(path[path.index(name):] + (name,))
            problems.append(source.problem(("computed", name), f"computed fields read each other in a circle: "
                                                               f"{circle}"))
            return
        visiting.add(name)
        for other in sorted(exprs[name].names & set(exprs)):
            visit(other, path + (name,))
        visiting.discard(name)
        if name not in order:
            order.append(name)

    for name in exprs:
        visit(name, ())
    return {name: exprs[name] for name in order}


_KEYWORDS = frozenset("""type title description enum const default examples format pattern minLength maxLength
    minimum maximum exclusiveMinimum exclusiveMaximum multipleOf items prefixItems minItems maxItems uniqueItems
    contains minContains maxContains properties required additionalProperties patternProperties propertyNames
    minProperties maxProperties dependentRequired dependentSchemas allOf anyOf oneOf not if then else $ref $defs
    $schema $id $anchor $comment readOnly writeOnly deprecated contentMediaType contentEncoding
    unevaluatedProperties unevaluatedItems record fill workflow roles""".split())


@cache
def _metaschema() -> Draft202012Validator:
    """A validator of JSON Schemas (draft 2020-12) for form schemas: the draft's meta-schema with its vocabularies
    merged into one schema, so a form's schema is checked as `check_schema` does, in a quarter of the time (the
    vocabularies' $dynamicRef is what costs)."""
    from jsonschema_specifications import REGISTRY

    base = "https://json-schema.org/draft/2020-12/"
    meta = REGISTRY.contents(base + "schema")
    merged: dict = {"type": ["object", "boolean"], "properties": dict(meta.get("properties", {})), "$defs": {}}
    for part in meta["allOf"]:
        vocabulary = REGISTRY.contents(base + part["$ref"])
        merged["properties"].update(vocabulary.get("properties", {}))
        merged["$defs"].update(vocabulary.get("$defs", {}))
    return Draft202012Validator(_no_dynamic(merged), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _no_dynamic(node: Any) -> Any:
    """`$dynamicRef: "#meta"` (the vocabularies' way back to the whole meta-schema) as `$ref: "#"`."""
    if isinstance(node, dict):
        return {("$ref" if k == "$dynamicRef" else k): ("#" if k == "$dynamicRef" else _no_dynamic(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_no_dynamic(v) for v in node]
    return node


def _lookups(source: Source, props: dict, problems: list[Problem], site: Site) -> None:
    """`format: ref` names its record type; `record:` and `fill:` belong to such a field only."""
    for name, sub in props.items():
        if not isinstance(sub, dict):
            continue
        kp = ("schema", "properties", name)
        if sub.get("format") == REF_FORMAT:
            if not isinstance(sub.get("record"), str):
                problems.append(source.problem(kp, f"lookup field '{name}' (`format: ref`) needs `record:` naming "
                                                   "a record type, e.g. `record: unit`"))
            if "fill" in sub and not (isinstance(sub["fill"], dict) and all(
                    isinstance(k, str) and isinstance(v, str) for k, v in sub["fill"].items())):
                problems.append(source.problem(kp + ("fill",), "`fill` maps fields of this form to fields of the "
                                                               "record, e.g. `fill: {owner_name: owner, phone: "
                                                               "phone}`"))
            if sub.get("type", "string") != "string":
                problems.append(source.problem(kp + ("type",), f"lookup field '{name}' holds a record's key: its "
                                                               "type is string"))
        else:
            for key in ("record", "fill"):
                if key in sub:
                    problems.append(source.problem(kp + (key,), f"`{key}` belongs to a lookup field: add `format: "
                                                                "ref` to look up a record", key=True))
        if sub.get("format") == PERSON_FORMAT:
            if sub.get("type", "string") != "string":
                problems.append(source.problem(kp + ("type",), f"person field '{name}' holds a login name: its type "
                                                               "is string"))
            roles = sub.get("roles", [])
            if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                problems.append(source.problem(kp + ("roles",), "`roles` lists the roles the person holds one of, "
                                                                "e.g. `roles: [repair_tech]`"))
            else:
                check_fields(source, kp + ("roles",), roles, site.roles, problems, "role")
        elif "roles" in sub:
            problems.append(source.problem(kp + ("roles",), "`roles` belongs to a person field: add `format: person` "
                                                            "to choose a member of staff", key=True))
        if sub.get("format") == INSTANCE_FORMAT and sub.get("type", "string") != "string":
            problems.append(source.problem(kp + ("type",), f"link field '{name}' holds another case's number: its "
                                                           "type is string"))
        elif "workflow" in sub and sub.get("format") != INSTANCE_FORMAT:
            problems.append(source.problem(kp + ("workflow",), "`workflow` belongs to a link to another case: add "
                                                               "`format: instance`", key=True))


def _signatures(source: Source, props: dict, computed: dict, problems: list[Problem]) -> None:
    """`format: signature` holds the id of a picture drawn on the pad: a text field of the form itself (not a column
    of a table), written by a person (never computed)."""
    for name, sub in props.items():
        if not isinstance(sub, dict):
            continue
        kp = ("schema", "properties", name)
        if sub.get("format") == SIGNATURE_FORMAT:
            if sub.get("type", "string") != "string":
                problems.append(source.problem(kp + ("type",), f"signature field '{name}' holds the id of the "
                                                               "picture signed on screen: its type is string (write "
                                                               "`type: string`, or leave `type` out)"))
            if name in computed:
                problems.append(source.problem(("computed", name), f"signature field '{name}' is signed on screen, "
                                                                   "not computed: remove it from `computed`", key=True))
        items = sub.get("items") if isinstance(sub.get("items"), dict) else {}
        for column, col in (items.get("properties") or {}).items() if isinstance(items.get("properties"),
                                                                                 dict) else ():
            if isinstance(col, dict) and col.get("format") == SIGNATURE_FORMAT:
                problems.append(source.problem(kp + ("items", "properties", column, "format"),
                                               f"a signature is a field of the form, not a column of a table: move "
                                               f"'{column}' out of '{name}' into schema.properties"))


def _untitled(source: Source, keypath: KeyPath, schema: dict, warnings: list[Problem]) -> None:
    """A warning for every field (and column of a table) without a title: staff would read its id."""
    for name, sub in schema.get("properties", {}).items() if isinstance(schema.get("properties"), dict) else ():
        if not isinstance(sub, dict):
            continue
        where = keypath + ("properties", name)
        if not sub.get("title"):
            warnings.append(source.problem(where, f"warning: field '{name}' has no title: staff would read its "
                                                  "id; add `title:` in words", key=True))
        if isinstance(sub.get("items"), dict):
            _untitled(source, where + ("items",), sub["items"], warnings)


def _check_keywords(source: Source, keypath: KeyPath, schema: Any, problems: list[Problem]) -> None:
    """JSON Schema ignores keywords it does not know, so a typo such as `maxLenght` would silently check
    nothing: report every unknown keyword."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        where = keypath + (key,)
        if key not in _KEYWORDS:
            problems.append(source.problem(where, f"unknown JSON Schema keyword '{key}'"
                                                  f"{did_you_mean(key, _KEYWORDS)}", key=True))
        elif key in ("properties", "$defs", "patternProperties", "dependentSchemas") and isinstance(value, dict):
            for name, sub in value.items():
                _check_keywords(source, where + (name,), sub, problems)
        elif key in ("allOf", "anyOf", "oneOf", "prefixItems") and isinstance(value, list):
            for i, sub in enumerate(value):
                _check_keywords(source, where + (i,), sub, problems)
        elif key in ("items", "not", "if", "then", "else", "additionalProperties", "contains", "propertyNames",
                     "unevaluatedProperties", "unevaluatedItems"):
            _check_keywords(source, where, value, problems)
