"""The OpenAPI 3.1 document of the JSON API (`/api/openapi.json`): every operation with each status it can
answer and its request body as the server checks it (tests/test_contract.py holds the server to it)."""

from __future__ import annotations

_ERROR = {"$ref": "#/components/schemas/Error"}
_ID = {"type": "string", "maxLength": 200}
_WHY = {401: "not signed in (no token, or one expired or revoked)",
        403: "not allowed (role, site, or a session post without its CSRF token)", 404: "no such thing",
        409: "already done, or changed meanwhile", 413: "the body is too large (1 MB; uploads 41 MB)",
        422: "invalid input (a body that is not a JSON object, a field the form refuses): the message says what, "
             "`details` which field"}
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_OPTIONAL_TEXT = {"type": "string"}
_VERSION = {"type": "string", "pattern": "^([0-9a-fA-F]{4,16})?$",
            "description": "a version as `goldkey workflows` prints it, or its first 4 characters or more"}


def _op(summary: str, errors: tuple[int, ...], params: tuple[str, ...] = (), body: dict | None = None,
        ok: int = 200, media: str = "application/json", query: dict | None = None, public: bool = False,
        body_required: bool = False, body_media: str = "application/json") -> dict:
    """One operation: `errors` are the statuses besides `ok` it can answer (each with the Error body)."""
    parameters = [{"name": p, "in": "path", "required": True, "schema": _ID} for p in params]
    parameters += [{"name": name, "in": "query", "required": False, "schema": schema}
                   for name, schema in (query or {}).items()]
    op: dict = {"summary": summary, "parameters": parameters,
                "responses": {str(ok): {"description": "OK", "content": {media: {"schema": {}}}},
                              **{str(s): {"description": _WHY[s], "content": {"application/json": {"schema": _ERROR}}}
                                 for s in errors}}}
    if public:
        op["security"] = []
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": {body_media: {"schema": body}}}
    return op


def _upload() -> dict:
    op = _op("Upload a file (PNG, JPEG or PDF, at most 10 MB); its `id` goes into an attachment field",
             (401, 403, 413, 422), ok=201, body_required=True, body_media="multipart/form-data",
             body=_obj(("file",), file={"type": "string", "format": "binary"}))
    op["requestBody"]["content"]["multipart/form-data"]["encoding"] = {
        "file": {"contentType": "image/png, image/jpeg, application/pdf"}}  # (the kind is read from the bytes)
    return op


def _signature_upload() -> dict:
    op = _op("Upload a signature drawn on screen (a PNG, at most 512 KB); its `id` goes into a signature field",
             (401, 403, 413, 422), ok=201, body_required=True, body_media="multipart/form-data",
             body=_obj(("file",), file={"type": "string", "format": "binary"}))
    op["requestBody"]["content"]["multipart/form-data"]["encoding"] = {"file": {"contentType": "image/png"}}
    return op


def _report_op(op: dict) -> dict:
    """A report's parameters are its own (reports/*.yaml) and `site`: the query is a form of any of them."""
    op["parameters"].append({"name": "params", "in": "query", "required": False, "style": "form", "explode": True,
                             "schema": {"type": "object", "additionalProperties": {"type": "string"}}})
    return op


def _obj(required: tuple[str, ...] = (), **properties: dict) -> dict:
    return {"type": "object", "required": list(required), "properties": properties}


_REGISTER_QUERY = {
    "q": {"type": "string", "description": "text to find in the number and the fields one may see (first 100 "
                                           "characters)"},
    "status": {"enum": ["", "active", "completed", "cancelled"]},
    "from": {"type": "string", "anyOf": [{"format": "date"}, {"maxLength": 0}], "description": "started on or after"},
    "to": {"type": "string", "anyOf": [{"format": "date"}, {"maxLength": 0}], "description": "started on or before"},
    "unit": {"type": "string", "description": "part of the unit (房號), first 40 characters"},
    "state": {"type": "string", "description": "the named state (a `kind: state` step id) the cases rest in"},
    "sort": {"type": "string", "description": "started, number, status or unit; `-` first for descending"},
    "page": {"type": "integer", "minimum": 1, "maximum": 100000},
}


_RECORDS_QUERY = {
    "q": {"type": "string", "description": "part of the key or of a searched field (first 100 characters)"},
    "state": {"type": "string", "description": "only records in this state"},
    "page": {"type": "integer", "minimum": 1, "maximum": 100000},
}


def document() -> dict:
    comment = {"type": "string"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "goldkey", "version": "1",
                 "description": "Property-management procedures: start, act on tasks, read instances. Errors are "
                                "JSON {error, message, details}; a method a path does not take is a 405 with Allow."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "message", "details"],
                                  "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                                                 "details": {"type": "array"}}}}},
        "security": [{"bearer": []}],
        "paths": {
            "/api/workflows": {"get": _op("The workflows one may start", (401,))},
            "/api/workflows/{workflow}": {"get": _op("A workflow: roles, forms (JSON Schema), steps", (401, 404),
                                                     ("workflow",))},
            "/api/workflows/{workflow}/graph.svg": {"get": _op(
                "The step graph as SVG (?instance=ID highlights its current steps)", (401, 403, 404, 422),
                ("workflow",), media="image/svg+xml", query={"instance": _ID})},
            "/api/instances": {"post": _op(
                "Start an instance of a workflow with the start form's data", (401, 403, 404, 413, 422),
                body=_obj(("workflow",), workflow={"type": "string", "minLength": 1}, data={"type": "object"},
                          site={"type": "string"}),
                body_required=True, ok=201)},
            "/api/instances/{instance}": {"get": _op("An instance: data, status, open tasks, history",
                                                     (401, 403, 404), ("instance",))},
            "/api/instances/{instance}/printouts/{name}": {"get": _op(
                "Print a printout (.docx); recorded in the audit log", (401, 403, 404, 409, 422),
                ("instance", "name"), media=_DOCX)},
            "/api/tasks": {"get": _op("My open tasks, overdue first", (401,))},
            "/api/tasks/{task}/complete": {"post": _op(
                "Act on a task: its outcome, the step's fields, a comment", (401, 403, 404, 409, 413, 422),
                ("task",), _obj(outcome=_OPTIONAL_TEXT, comment=comment, data={"type": "object"}))},
            "/api/tasks/{task}/hold": {"post": _op(
                "Pause a task's clock in a named state", (401, 403, 404, 409, 413, 422), ("task",),
                _obj(("state",), state={"type": "string", "minLength": 1}, comment=comment), body_required=True)},
            "/api/instances/{instance}/act": {"post": _op(
                "Take an action of the named state a case rests in (借出 a key kept at the desk)",
                (401, 403, 404, 409, 413, 422), ("instance",),
                _obj(("step", "action"), step={"type": "string", "minLength": 1},
                     action={"type": "string", "minLength": 1}, data={"type": "object"}, comment=comment),
                body_required=True)},
            "/api/tasks/{task}/assign": {"post": _op(
                "Hand a task to one person holding its step's roles (the roles of its `assign.reassign`)",
                (401, 403, 404, 409, 413, 422), ("task",),
                _obj(("to",), to={"type": "string", "minLength": 1}, comment=comment), body_required=True)},
            "/api/tasks/{task}/resume": {"post": _op(
                "Restart a held task's clock", (401, 403, 404, 409, 413, 422), ("task",), _obj(comment=comment))},
            "/api/notifications": {"get": _op("Reminders, escalations and notices for my roles", (401,))},
            "/api/attachments": {"post": _upload()},
            "/api/signatures": {"post": _signature_upload()},
            "/api/attachments/{digest}": {"get": _op(
                "Download an attachment (its uploader, or one who may see a record holding it)", (401, 404),
                ("digest",), media="application/octet-stream")},
            "/api/admin/definitions": {"get": _op("Lint results of the definitions folder, workflows, users "
                                                  "(administrators)", (401, 403))},
            "/api/admin/reads": {"get": _op("Who read which confidential fields, when and how (administrators); "
                                            "`from`/`to` local days", (401, 403, 422),
                                            query={"user": {"type": "string"}, "from": _REGISTER_QUERY["from"],
                                                   "to": _REGISTER_QUERY["to"]})},
            "/api/admin/migrations/{workflow}": {
                "get": _op("The running instances of a workflow on older versions: whether each can move to the "
                           "current version, and why not (administrators); `from`: only those on that version",
                           (401, 403, 404, 422), ("workflow",), query={"from": _VERSION}),
                "post": _op("Move those that can to the current version, each in one transaction, recorded in its "
                            "history (administrators); `from`: only those on that version",
                            (401, 403, 404, 409, 413, 422), ("workflow",), _obj(**{"from": _VERSION}))},
            "/api/admin/reload": {"post": _op("Reload the definitions; kept as they are when the new ones fail "
                                              "(administrators)", (401, 403, 413, 422))},
            "/api/registers/{form}": {"get": _op("A form's records (臺帳), filtered, sorted and by pages",
                                                 (401, 403, 404, 422), ("form",), query=_REGISTER_QUERY)},
            "/api/records": {"get": _op("The record types one may read (房屋, 客戶, 鑰匙 ...)", (401,))},
            "/api/records/{type}": {
                "get": _op("Records of a type by key, searched by key and its searched fields", (401, 403, 404, 422),
                           ("type",), query=_RECORDS_QUERY),
                "post": _op("Add a record (`data`, its `state`, at `site`)", (401, 403, 404, 413, 422), ("type",),
                            _obj(("data",), data={"type": "object"}, state=_OPTIONAL_TEXT, site=_OPTIONAL_TEXT),
                            ok=201, body_required=True)},
            "/api/records/{type}/lookup": {"get": _op(
                "Records for a form's lookup field as one types: key, label, state, data", (401, 403, 404, 422),
                ("type",),
                query={"q": {"type": "string"}, "site": {"type": "string"}})},
            "/api/records/{type}/import": {"post": _op(
                "Import a .csv/.xlsx sheet (header row: field titles); 422 with every failed row, nothing imported, "
                "unless `partial`", (401, 403, 404, 413, 422), ("type",), body_required=True,
                body_media="multipart/form-data",
                body=_obj(("file",), file={"type": "string", "format": "binary"}, partial={"enum": ["", "1"]},
                          site=_OPTIONAL_TEXT))},
            "/api/records/{type}/export.{kind}": {"get": _op(
                "Records of a type as a .csv or .xlsx sheet that an import reads back", (401, 403, 404, 422),
                ("type", "kind"), media="application/octet-stream", query={"q": {"type": "string"},
                                                                           "state": {"type": "string"}})},
            "/api/records/{type}/{record}": {
                "get": _op("A record with its history (who changed what, when) and the moves it may make",
                           (401, 403, 404), ("type", "record")),
                "post": _op("Change fields of a record (`data`; null clears one), refused when `revision` is not its "
                            "current one", (401, 403, 404, 409, 413, 422), ("type", "record"),
                            _obj(("data",), data={"type": "object"}, revision={"type": "integer"}),
                            body_required=True)},
            "/api/records/{type}/{record}/move": {"post": _op(
                "Move a record to another `state`, as its type's moves allow", (401, 403, 404, 409, 413, 422),
                ("type", "record"), _obj(("state",), state={"type": "string", "minLength": 1}, comment=comment,
                                         revision={"type": "integer"}), body_required=True)},
            "/api/reports": {"get": _op("The reports one may run, with their parameters", (401,))},
            "/api/reports/{report}": {"get": _report_op(_op(
                "Run a report: its parameters in the query string (their defaults otherwise), `site` to narrow it; "
                "its tables of rows, charts and grids", (401, 403, 404, 422), ("report",)))},
            "/api/reports/{report}.{kind}": {"get": _report_op(_op(
                "A report run as a .csv, .xlsx or .docx file", (401, 403, 404, 422), ("report", "kind"),
                media="application/octet-stream"))},
            "/api/verify/{code}": {"get": {**_op("Is a printed document genuine and current?", (422,),
                                                 public=True),
                                           "parameters": [{"name": "code", "in": "path", "required": True,
                                                           "schema": {"type": "string", "maxLength": 40}}]}},
        },
    }
