"""A form at run time: JSON Schema validation with Chinese messages, exact money, cross-field rules."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .errors import ExpressionError
from .expressions import Expression
from .money import MONEY_PATTERN, canonical, is_money_text, parse_money

MONEY_FORMAT = "money"
_NON_NEGATIVE_MONEY = MONEY_PATTERN.replace("^-?", "^")


@dataclass
class Rule:
    check: Expression
    message: str
    field: str | None


@dataclass(frozen=True)
class Ref:
    """A field that holds the key of a record (`format: ref`): the record type, and the fields filled from the
    record's when one is chosen ({field: record field})."""

    record: str
    fill: dict[str, str] = field(default_factory=dict)


REF_FORMAT = "ref"
PERSON_FORMAT = "person"  # the login name of a member of staff (`roles:` those they must hold at the site)
INSTANCE_FORMAT = "instance"  # the number of another case (`workflow:` the workflows it may be of)
SIGNATURE_FORMAT = "signature"  # the id (content hash) of a PNG drawn on the signature pad (engine/signatures.py)
DIGEST_PATTERN = "^[0-9a-f]{64}$"


@dataclass
class Form:
    """A loaded form definition plus the helpers the runtime needs."""

    id: str
    title: str
    schema: dict
    number: str | None = None
    ui: dict = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    show_when: dict[str, Expression] = field(default_factory=dict)
    confidential: dict = field(default_factory=dict)
    printouts: dict = field(default_factory=dict)
    computed: dict[str, Expression] = field(default_factory=dict)  # field -> its expression, in the order to compute
    retention: dict | None = None  # {keep: Duration, text, fields}: personal data removed this long after the end
    _validators: dict = field(default_factory=dict, repr=False)
    stub: bool = False  # stands in for a form whose file has errors, so its workflows are still linted

    def __post_init__(self) -> None:
        self.schema = with_money_patterns(self.schema)
        self.properties: dict[str, dict] = self.schema.get("properties", {})
        self.required: frozenset[str] = frozenset(self.schema.get("required", []))
        self.refs: dict[str, Ref] = {name: Ref(str(s.get("record", "")), dict(s.get("fill") or {}))
                                     for name, s in self.properties.items()
                                     if isinstance(s, dict) and s.get("format") == REF_FORMAT}
        self.signatures: tuple[str, ...] = tuple(name for name, s in self.properties.items()
                                                 if isinstance(s, dict) and s.get("format") == SIGNATURE_FORMAT)
        self.persons: dict[str, tuple[str, ...]] = {  # person field -> the roles its person holds one of (): any
            name: tuple(s.get("roles") or ()) for name, s in self.properties.items()
            if isinstance(s, dict) and s.get("format") == PERSON_FORMAT}
        self.links: dict[str, tuple[str, ...]] = {  # link field -> the workflows it may name a case of (): any
            name: tuple([s["workflow"]] if isinstance(s.get("workflow"), str) else s.get("workflow") or ())
            for name, s in self.properties.items() if isinstance(s, dict) and s.get("format") == INSTANCE_FORMAT}

    def hidden_from(self, roles) -> set[str]:
        """The customer fields (`confidential`) hidden from someone with `roles`: all of them, unless one of
        the roles is one the form allows."""
        spec = self.confidential or {}
        return set() if set(roles) & set(spec.get("roles", ())) else set(spec.get("fields", ()))

    def title_of(self, path: str) -> str:
        """The label staff see for a field path such as `rows.0.qty`."""
        parts = path.split(".")
        schema: dict = self.schema
        labels = []
        for part in parts:
            if part.isdigit():
                labels.append(f"第{int(part) + 1}行")
                schema = schema.get("items", {})
                continue
            schema = schema.get("properties", {}).get(part, {})
            labels.append(schema.get("title", part))
        return " ".join(labels)

    def with_computed(self, data: dict, balance=None, clock=None) -> dict:
        """`data` with every computed field set from the others (in order, so one may use another); a field whose
        expression cannot be computed yet (a field it reads is empty) is left empty."""
        if not self.computed:
            return data
        out = dict(data)
        for name, expr in self.computed.items():
            try:
                value = _normalize(plain(expr.evaluate(self.scope(out), balance, clock)), self.properties[name])
            except ExpressionError:
                value = None
            if value is None or value == "":
                out.pop(name, None)
            else:
                out[name] = value
        return out

    def row_scope(self, table: str, row) -> dict:
        """A row of the table field `table` as an expression's names (its money as Decimal)."""
        items = self.properties.get(table, {}).get("items") or {}
        return _to_scope(row, items) if isinstance(row, dict) else {}

    def normalize(self, data: dict) -> dict:
        """Money to canonical text, JSON numbers read as Decimal back to int/float (never for money)."""
        return _normalize(data, self.schema)

    def scope(self, data: dict) -> dict:
        """Field values for expressions: money as Decimal."""
        return _to_scope(data, self.schema)

    def validate(self, data: dict, required: frozenset[str] | set[str] = frozenset(),
                 checked: frozenset[str] | set[str] | None = None, balance=None, clock=None) -> list[dict]:
        """Problems as `[{field, message}]`: the fields in `checked` (all when None) against their schemas,
        `required` among them present, then the rules about a field in `checked`: a rule with `field` is
        about that field, one without it about every field it reads. Fields written at earlier steps were
        checked then and are not checked again."""
        fields = frozenset(self.properties) if checked is None else frozenset(checked)
        key = (fields, frozenset(required))
        checkers = self._validators.get(key)
        if checkers is None:
            from jsonschema import Draft202012Validator  # (first validation only: the CLI need not load it)

            schema = {"type": "object", "properties": {f: self.properties[f] for f in fields if f in self.properties},
                      "required": sorted(key[1])}
            if "$defs" in self.schema:
                schema["$defs"] = self.schema["$defs"]
            checkers = self._validators[key] = (_fast(schema), Draft202012Validator(
                schema, format_checker=Draft202012Validator.FORMAT_CHECKER)) if schema["properties"] else None
        problems = []
        if checkers is not None:
            fast, full = checkers
            subset = {k: data[k] for k in fields if k in data}
            if fast is None or not _passes(fast, subset):
                problems = [self._message(e) for e in full.iter_errors(subset)]
        if problems:
            return sorted(problems, key=lambda p: p["field"])
        scope = None
        for rule in self.rules:
            if not ({rule.field} & fields if rule.field else rule.check.names & fields):
                continue
            scope = scope if scope is not None else self.scope(data)
            try:
                ok = rule.check.evaluate(scope, balance, clock)
            except ExpressionError:
                ok = False  # a rule that cannot be computed (a field left empty) has not been met
            if not ok:
                target = rule.field or (sorted(rule.check.names)[0] if rule.check.names else "")
                problems.append({"field": target, "message": rule.message})
        return problems

    def _message(self, error) -> dict:
        path = ".".join(str(p) for p in error.absolute_path)
        kind = error.validator
        if kind == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path = f"{path}.{missing}" if path else missing
            return {"field": path, "message": f"「{self.title_of(path)}」為必填"}
        label = self.title_of(path) if path else self.title
        value = error.validator_value
        schema = error.schema
        if schema.get("format") == MONEY_FORMAT and kind in ("pattern", "type"):
            text = f"「{label}」應為金額（元，最多兩位小數），例如 1234.50"
        elif schema.get("format") == SIGNATURE_FORMAT and kind in ("pattern", "type"):
            text = f"「{label}」應為簽名板上的簽名，請重新簽名"
        elif kind == "type":
            names = {"string": "文字", "integer": "整數", "number": "數字", "boolean": "是或否",
                     "array": "列表", "object": "表格", "null": "空值"}
            wanted = value if isinstance(value, list) else [value]
            text = f"「{label}」應為{'或'.join(names.get(w, w) for w in wanted)}"
        elif kind == "enum":
            text = f"「{label}」只能是：{'、'.join(str(v) for v in value)}"
        elif kind == "minLength" and value <= 1:
            text = f"「{label}」不可為空"
        elif kind in _MESSAGES:
            text = _MESSAGES[kind].format(label=label, value=value)
        elif kind == "format":
            examples = {"date": "2026-11-27", "date-time": "2026-11-27T09:30:00+08:00", "time": "09:30:00+08:00",
                        "email": "name@example.com"}
            text = f"「{label}」格式不正確，例如 {examples.get(value, value)}"
        elif kind == "pattern":
            text = f"「{label}」格式不正確"
        elif kind == "additionalProperties":
            text = f"「{label}」含有未定義的欄位：{error.message}"
        else:
            text = f"「{label}」不符合要求：{error.message}"
        return {"field": path, "message": text}


_MESSAGES = {  # JSON Schema keyword -> what staff read
    "const": "「{label}」必須是 {value}",
    "maxLength": "「{label}」最多 {value} 個字",
    "minLength": "「{label}」至少 {value} 個字",
    "minimum": "「{label}」不可小於 {value}",
    "exclusiveMinimum": "「{label}」必須大於 {value}",
    "maximum": "「{label}」不可大於 {value}",
    "exclusiveMaximum": "「{label}」必須小於 {value}",
    "minItems": "「{label}」至少要有 {value} 行",
    "maxItems": "「{label}」最多 {value} 行",
    "uniqueItems": "「{label}」不可有重複的項目",
    "multipleOf": "「{label}」必須是 {value} 的倍數",
}

# Keywords whose meaning fastjsonschema and jsonschema share; formats are checked by jsonschema's own
# checker in both. A schema using anything else is validated by jsonschema alone.
_FAST_KEYWORDS = frozenset("""type title description enum const minLength maxLength pattern minimum maximum
    exclusiveMinimum exclusiveMaximum multipleOf items minItems maxItems uniqueItems properties required
    additionalProperties format default examples $comment readOnly writeOnly deprecated record fill workflow
    roles""".split())


def _fast(schema: dict):
    """A compiled validator for the common case (valid data), or None where it could differ from jsonschema."""
    import fastjsonschema
    from jsonschema import Draft202012Validator

    formats: set[str] = set()

    def plain(node: Any) -> bool:
        if not isinstance(node, dict) or not set(node) <= _FAST_KEYWORDS:
            return False
        if "format" in node:
            formats.add(node["format"])
        subs = list(node.get("properties", {}).values())
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                subs.append(node[key])
        return all(plain(sub) for sub in subs)

    if not plain({k: v for k, v in schema.items() if k != "$defs"}) or "$defs" in schema:
        return None
    checker = Draft202012Validator.FORMAT_CHECKER
    try:
        return fastjsonschema.compile(schema, formats={f: (lambda v, f=f: checker.conforms(v, f)) for f in formats})
    except fastjsonschema.JsonSchemaDefinitionException:
        return None


def _passes(fast, data: dict) -> bool:
    import fastjsonschema

    try:
        fast(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def plain(value: Any) -> Any:
    """An expression's result as a JSON value (a fractional Decimal becomes money text, never a float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else f"{value:.2f}"
    return value


def with_money_patterns(schema: dict) -> dict:
    """A copy of `schema` where every `format: money` string also carries the money pattern, so any
    JSON Schema tool (and `describe`) knows what a valid amount is."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("format") == MONEY_FORMAT:
                node.setdefault("type", "string")
                node.setdefault("pattern", _NON_NEGATIVE_MONEY)
            elif node.get("format") == REF_FORMAT:  # the key of a record
                node.setdefault("type", "string")
            elif node.get("format") in ("attachment", SIGNATURE_FORMAT):  # the id (content hash) of a file
                node.setdefault("type", "string")
                node.setdefault("pattern", DIGEST_PATTERN)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def _walk(value: Any, schema: dict, money, plain) -> Any:
    """Rebuild `value` following its schema: `money` on money fields, `plain` on other leaves."""
    if schema.get("format") == MONEY_FORMAT:
        return money(value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: _walk(v, props.get(k, {}), money, plain) for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items", {})
        return [_walk(v, items if isinstance(items, dict) else {}, money, plain) for v in value]
    return plain(value)


def _stored_money(value: Any) -> Any:
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool) or is_money_text(value):
        try:
            return canonical(value)
        except ExpressionError:
            return str(value)  # the schema's pattern reports it
    return value


def _stored_number(value: Any) -> Any:
    if isinstance(value, Decimal):  # JSON numbers are read as Decimal; outside money they are plain numbers
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _normalize(value: Any, schema: dict) -> Any:
    return _walk(value, schema, _stored_money, _stored_number)


def _to_scope(value: Any, schema: dict) -> Any:
    return _walk(value, schema, lambda v: parse_money(v) if is_money_text(v) else v, lambda v: v)
