"""Builds engine/metaschema.json, the JSON Schema every definition file is checked against.

Edit this file, then run `python -m engine.metaschema_build`; a test fails while the JSON is stale.
"""

import json
from pathlib import Path

ID = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}
IDS = {"type": "array", "items": ID, "uniqueItems": True}
ROLES = {"type": "array", "items": ID, "minItems": 1, "uniqueItems": True}
TEXT = {"type": "string", "minLength": 1}
EXPR = {"type": "string", "minLength": 1}
DUR = {"type": "string", "minLength": 1}
DUE = {"oneOf": [DUR, {"type": "object", "additionalProperties": False, "required": ["soft"],
                       "properties": {"soft": DUR, "hard": DUR, "from": ID}}]}
RUNG = {"type": "object", "additionalProperties": False,
        "properties": {"before": DUR, "after": DUR, "at": {"enum": ["due", "hard"]},
                       "remind": {"oneOf": [{"const": True}, ROLES]}, "notify": ROLES, "escalate": ROLES,
                       "reassign": ROLES, "goto": ID, "message": TEXT}}
HOLDS = {"type": "object", "minProperties": 1, "propertyNames": ID, "additionalProperties": TEXT}
DATE_MAP = {"type": "object", "propertyNames": {"pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
            "additionalProperties": TEXT}
OUTCOMES = {"type": "object", "minProperties": 1, "propertyNames": ID, "additionalProperties": ID}
POST = {"type": "array", "items": {"type": "object", "additionalProperties": False,
        "required": ["ledger", "entry", "amount"],
        "properties": {"ledger": ID, "entry": ID, "amount": {"type": ["string", "integer"]}, "when": EXPR,
                       "memo": TEXT}}}
COMMON = {"kind": {"type": "string"}, "title": TEXT, "description": TEXT, "post": POST}
TASK = dict(COMMON, roles=ROLES, due=DUE, deadlines={"type": "array", "minItems": 1, "items": RUNG},
            holds=HOLDS)
def step(required, props):
    return {"type": "object", "additionalProperties": False, "required": ["kind"] + required, "properties": props}
kinds = {
  "form": step(["roles", "fields"], dict(TASK, fields=IDS, required=IDS, next=ID, outcomes=OUTCOMES,
        comment_required={"type": "array", "items": ID})),
  "approval": step(["roles", "outcomes"], dict(TASK, fields=IDS, required=IDS, outcomes=OUTCOMES,
        approvals={"oneOf": [{"type": "integer", "minimum": 1}, {"const": "all"}]},
        order={"enum": ["any", "sequence"]}, required_roles=IDS, allow_self={"type": "boolean"},
        comment_required={"type": "array", "items": ID})),
  "decision": step(["branches", "default"], dict(COMMON, branches={"type": "array", "minItems": 1, "items": {
        "type": "object", "additionalProperties": False, "required": ["when", "to"],
        "properties": {"when": EXPR, "to": ID, "title": TEXT}}}, default=ID)),
  "parallel": step(["branches", "join"], dict(COMMON, branches={"type": "array", "items": ID, "minItems": 2,
        "uniqueItems": True}, join=ID)),
  "join": step(["next"], dict(COMMON, next=ID)),
  "checklist": step(["roles", "items", "next"], dict(TASK, next=ID, fields=IDS, required=IDS,
        items={"type": "array", "minItems": 1, "items": {
        "type": "object", "additionalProperties": False, "required": ["id", "title"],
        "properties": {"id": ID, "title": TEXT, "optional": {"type": "boolean"}, "when": EXPR}}})),
  "print": step(["roles", "printout", "next"], dict(TASK, printout=ID, next=ID,
        copies={"type": "integer", "minimum": 1})),
  "wait": step(["duration", "next"], dict(COMMON, duration=DUR, next=ID)),
  "subprocess": step(["workflow"], dict(COMMON, workflow=ID, next=ID, outcomes=OUTCOMES, wait={"type": "boolean"},
        after=DUR,
        data={"type": "object", "propertyNames": ID, "additionalProperties": {"type": "string"}})),
  "end": step([], dict(COMMON, outcome=ID, status={"enum": ["completed", "cancelled"]})),
}
for k, s in kinds.items():
    s["properties"]["kind"] = {"const": k}
steps_schema = {"type": "object", "required": ["kind"],
    "properties": {"kind": {"enum": list(kinds)}},
    "allOf": [{"if": {"properties": {"kind": {"const": k}}, "required": ["kind"]},
               "then": {"$ref": f"#/$defs/step_{k}"}} for k in kinds]}
defs = {f"step_{k}": s for k, s in kinds.items()}
defs["step"] = steps_schema
defs["workflow"] = {"type": "object", "additionalProperties": False,
  "required": ["id", "title", "form", "start", "steps"],
  "properties": {"id": ID, "title": TEXT, "area": TEXT, "description": TEXT, "form": ID,
    "ledgers": {"type": "object", "propertyNames": ID, "additionalProperties": {"type": "object",
        "additionalProperties": False, "required": ["title", "entries"],
        "properties": {"title": TEXT, "floor": {"type": "integer"},
                       "entries": {"type": "object", "minProperties": 1, "propertyNames": ID,
                                   "additionalProperties": {"enum": ["in", "out"]}}}}},
    "schedules": {"type": "array", "minItems": 1, "items": {"type": "object", "additionalProperties": False,
        "required": ["id", "cron"], "properties": {"id": ID, "title": TEXT, "cron": TEXT,
                                                   "data": {"type": "object", "propertyNames": ID}}}},
    "targets": {"type": "array", "minItems": 1, "items": {"type": "object", "additionalProperties": False,
        "required": ["id", "title", "step", "target"],
        "properties": {"id": ID, "title": TEXT, "step": ID, "among": ID, "per": {"enum": ["day"]},
                       "target": {"oneOf": [{"type": "number", "minimum": 0, "maximum": 1},
                                            {"type": "string", "pattern": "^[0-9]{1,3}(\\.[0-9]+)?%$"}]}}}},
    "start": {"type": "object", "additionalProperties": False, "required": ["roles", "next"],
              "properties": {"roles": ROLES, "fields": IDS, "required": IDS, "next": ID, "title": TEXT}},
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
    "rules": {"type": "array", "items": {"type": "object", "additionalProperties": False,
        "required": ["assert", "message"], "properties": {"assert": EXPR, "message": TEXT, "field": ID}}},
    "confidential": {"type": "object", "additionalProperties": False, "required": ["fields", "roles"],
        "properties": {"fields": IDS, "roles": ROLES}},
    "printouts": {"type": "object", "propertyNames": ID, "additionalProperties": {"type": "object",
        "additionalProperties": False, "required": ["template"],
        "properties": {"title": TEXT, "template": {"type": "string", "pattern": "^[A-Za-z0-9_\\-]+\\.docx$"},
                       "copies": {"type": "array", "items": TEXT, "minItems": 1},
                       "signatures": {"type": "array", "items": TEXT, "minItems": 1}}}}}}
defs["site"] = {"type": "object", "additionalProperties": False, "required": ["roles"],
  "properties": {"site": TEXT, "timezone": TEXT, "verify_url": {"type": "string", "pattern": "^https?://"},
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
meta = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "https://goldkey.invalid/metaschema.json",
        "title": "goldkey definitions", "$defs": defs}
OUT = Path(__file__).with_name("metaschema.json")


def text() -> str:
    return json.dumps(meta, ensure_ascii=False, indent=1) + "\n"


if __name__ == "__main__":
    OUT.write_text(text(), encoding="utf-8")
