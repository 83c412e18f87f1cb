"""Reports over the JSON API and as files (`/api/reports/...`): the reports one may run, a run as JSON (the
parameters in the query string), and the same run as .csv, .xlsx or .docx."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.reportservice import FILES, report_file

from .api import json_out
from .auth import require_user

_RESERVED = {"site"}


def _params(request: Request) -> tuple[dict[str, str], str | None]:
    query = request.query_params
    return {k: v[:100] for k, v in query.items() if k not in _RESERVED}, query.get("site") or None


async def listing(request: Request) -> Response:
    user = require_user(request)
    return json_out(request.app.state.engine.reports(user))


async def run(request: Request) -> Response:
    user = require_user(request)
    params, site = _params(request)
    return json_out(request.app.state.engine.run_report(request.path_params["report"], user, params, site))


async def download(request: Request) -> Response:
    user = require_user(request)
    engine = request.app.state.engine
    params, site = _params(request)
    kind = request.path_params["kind"]
    result = engine.run_report(request.path_params["report"], user, params, site)
    body, name = report_file(engine, result, kind)
    return Response(body, media_type=FILES[kind],
                    headers={"content-disposition": f"attachment; filename*=UTF-8''{quote(name)}"})


routes = [Route("/api/reports", listing),
          Route("/api/reports/{report}.{kind}", download),
          Route("/api/reports/{report}", run)]
