"""The pieces of JSON Schema the step kinds build their meta-schema fragments from."""

from __future__ import annotations

ID = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}
IDS = {"type": "array", "items": ID, "uniqueItems": True}
ROLES = {"type": "array", "items": ID, "minItems": 1, "uniqueItems": True}
TEXT = {"type": "string", "minLength": 1}
EXPR = {"type": "string", "minLength": 1}
DUR = {"type": "string", "minLength": 1}
DUE = {"oneOf": [DUR, {"type": "object", "additionalProperties": False, "required": ["soft"],
                       "properties": {"soft": DUR, "hard": DUR, "from": EXPR}}]}
RUNG = {"type": "object", "additionalProperties": False,
        "properties": {"before": DUR, "after": DUR, "at": {"enum": ["due", "hard"]},
                       "remind": {"oneOf": [{"const": True}, ROLES]}, "notify": ROLES, "escalate": ROLES,
                       "reassign": ROLES, "goto": ID, "message": TEXT}}
HOLDS = {"type": "object", "minProperties": 1, "propertyNames": ID, "additionalProperties": TEXT}
# `{name: step}`, or `{name: {to: step, title: 已修復}}` with the words staff read on the button
OUTCOME = {"oneOf": [ID, {"type": "object", "additionalProperties": False, "required": ["to"],
                          "properties": {"to": ID, "title": TEXT}}]}
OUTCOMES = {"type": "object", "minProperties": 1, "propertyNames": ID, "additionalProperties": OUTCOME}
POST = {"type": "array", "items": {"type": "object", "additionalProperties": False,
        "required": ["ledger", "entry", "amount"],
        "properties": {"ledger": ID, "entry": ID, "amount": {"type": ["string", "integer"]}, "when": EXPR,
                       "memo": TEXT}}}
_UPDATE = {"type": "object", "additionalProperties": False, "required": ["record", "key"],
           "properties": {"record": ID, "key": EXPR, "state": TEXT, "when": EXPR,
                          "set": {"type": "object", "minProperties": 1, "propertyNames": ID,
                                  "additionalProperties": {"type": ["string", "number", "boolean"]}}}}
# `update: {record: key, key: key_no, set: {state: 借出, holder: borrower}}`, or a list of them
UPDATE = {"oneOf": [_UPDATE, {"type": "array", "minItems": 1, "items": _UPDATE}]}
COMMON = {"kind": {"type": "string"}, "title": TEXT, "description": TEXT, "post": POST, "update": UPDATE}
# `roles: {from: department, map: {工程部: engineering_lead}, default: manager}`: the role picked by a field's value
ROUTE = {"type": "object", "additionalProperties": False, "required": ["from", "map"],
         "properties": {"from": ID, "map": {"type": "object", "minProperties": 1, "additionalProperties": ID},
                        "default": ID}}
# `assign: {field: technician}` or `{step: dispatch}`: one person's task; `reassign`: who may hand it on
ASSIGN = {"type": "object", "additionalProperties": False, "minProperties": 1,
          "properties": {"field": ID, "step": ID, "reassign": ROLES}}
TASK = dict(COMMON, roles={"oneOf": [ROLES, ROUTE]}, assign=ASSIGN, due=DUE,
            deadlines={"type": "array", "minItems": 1, "items": RUNG}, holds=HOLDS)
COMMENT_REQUIRED = {"type": "array", "items": ID}


def step(required: list[str], props: dict) -> dict:
    """A step kind's fragment: a mapping with exactly these keys (`kind` always required)."""
    return {"type": "object", "additionalProperties": False, "required": ["kind", *required], "properties": props}
