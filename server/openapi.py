"""The OpenAPI 3.1 document of the JSON API (`/api/openapi.json`)."""

from __future__ import annotations

_ERROR = {"$ref": "#/components/schemas/Error"}
_ID = {"type": "string", "maxLength": 200}


def _op(summary: str, params: list[str] = (), body: dict | None = None, ok: int = 200, media: str = "application/json",
        public: bool = False) -> dict:
    op: dict = {"summary": summary,
                "parameters": [{"name": p, "in": "path", "required": True, "schema": _ID} for p in params],
                "responses": {str(ok): {"description": "OK", "content": {media: {"schema": {}}}},
                              **{str(s): {"description": d, "content": {"application/json": {"schema": _ERROR}}}
                                 for s, d in ((401, "not signed in"), (403, "not allowed"), (404, "not found"),
                                              (409, "already done or changed"), (422, "invalid input"))}}}
    if public:
        op["security"] = []
    if body is not None:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    return op


def document() -> dict:
    complete = {"type": "object", "properties": {"outcome": {"type": "string"}, "comment": {"type": "string"},
                                                 "data": {"type": "object"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "goldkey", "version": "1",
                 "description": "Property-management procedures: start, act on tasks, read instances."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "message", "details"],
                                  "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                                                 "details": {"type": "array"}}}}},
        "security": [{"bearer": []}],
        "paths": {
            "/api/workflows": {"get": _op("The workflows one may start")},
            "/api/workflows/{workflow}": {"get": _op("A workflow: roles, forms (JSON Schema), steps", ["workflow"])},
            "/api/workflows/{workflow}/graph.svg": {"get": _op(
                "The step graph as SVG (?instance=ID highlights its current steps)", ["workflow"],
                media="image/svg+xml")},
            "/api/instances": {"post": _op("Start an instance", body={
                "type": "object", "required": ["workflow"],
                "properties": {"workflow": {"type": "string"}, "data": {"type": "object"}}}, ok=201)},
            "/api/instances/{instance}": {"get": _op("An instance: data, status, open tasks, history",
                                                     ["instance"])},
            "/api/instances/{instance}/printouts/{name}": {"get": _op(
                "Print a printout (.docx); recorded in the audit log", ["instance", "name"],
                media="application/vnd.openxmlformats-officedocument.wordprocessingml.document")},
            "/api/tasks": {"get": _op("My open tasks, overdue first")},
            "/api/tasks/{task}/complete": {"post": _op("Act on a task", ["task"], complete)},
            "/api/tasks/{task}/hold": {"post": _op("Pause a task's clock in a named state", ["task"], {
                "type": "object", "properties": {"state": {"type": "string"}, "comment": {"type": "string"}}})},
            "/api/tasks/{task}/resume": {"post": _op("Restart a held task's clock", ["task"], {
                "type": "object", "properties": {"comment": {"type": "string"}}})},
            "/api/notifications": {"get": _op("Reminders, escalations and notices for my roles")},
            "/api/attachments": {"post": {"summary": "Upload a file (multipart `file`: PNG, JPEG or PDF, 10 MB)",
                                          "requestBody": {"content": {"multipart/form-data": {"schema": {
                                              "type": "object", "properties": {"file": {"type": "string",
                                                                                        "format": "binary"}}}}}},
                                          "responses": {"201": {"description": "stored"},
                                                        "422": {"description": "refused"}}}},
            "/api/attachments/{digest}": {"get": _op("Download an attachment", ["digest"],
                                                     media="application/octet-stream")},
            "/api/admin/definitions": {"get": _op("Lint results of the definitions folder, workflows, users "
                                                  "(managers)")},
            "/api/admin/reload": {"post": _op("Reload the definitions; kept as they are when the new ones fail "
                                              "(managers)")},
            "/api/registers/{form}": {"get": _op("A form's records (臺帳): ?q=&status=&from=&to=&unit=&sort=&page=",
                                                 ["form"])},
            "/api/verify/{code}": {"get": _op("Is a printed document genuine and current?", ["code"],
                                              public=True)},
        },
    }
