"""The report pages: the reports one may run, and a report with its parameters, its tables, charts (SVG drawn on
the server) and colour grid, and its downloads (.xlsx, .csv, .docx)."""

from __future__ import annotations

from urllib.parse import urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine import reportout
from engine.errors import GoldkeyError

from .views import _base, _engine, _page, _tz, signed_in

_NUMERIC = ("number", "money", "percent")


@signed_in
async def reports(request: Request, user: str) -> Response:
    ctx = _base(request, user, "reports")
    ctx["reports"] = _engine(request).reports(user)
    return _page(request, "reports.html", ctx)


@signed_in
async def report(request: Request, user: str) -> Response:
    engine = _engine(request)
    definition = engine.report_def(request.path_params["report"])
    given = {k: v[:100] for k, v in request.query_params.items() if k in definition.params}
    site = request.query_params.get("site") or None
    ctx = _base(request, user, "reports")
    sites = engine.site_titles()
    ctx.update(report=definition, given=given, site=site or "", sites=sites if len(sites) > 1 else {},
               error=None, result=None, tables=[])
    try:
        result = engine.run_report(definition.id, user, given, site)
    except GoldkeyError as exc:
        if exc.code == "forbidden":
            raise
        ctx["error"] = exc.message
        return _page(request, "report.html", ctx, 422)
    tz = _tz(request)
    query = urlencode({**{k: p["value"] for k, p in result["params"].items() if p["value"]},
                       **({"site": site} if site else {})})
    ctx.update(result=result, query=query, tables=[_shown(t, tz) for t in result["tables"]],
               values={k: p["value"] or "" for k, p in result["params"].items()})
    return _page(request, "report.html", ctx)


def _shown(table: dict, tz) -> dict:
    """A table of a run as the page shows it: cells in words, numbers on the right, its chart as SVG."""
    if table.get("grid"):
        g = table["grid"]
        colours = {i["value"]: i["colour"] for i in g["legend"]}
        return {"id": table["id"], "title": table["title"], "grid": g,
                "cells": [[{"value": v or "", "colour": colours.get(v, "")} for v in row] for row in g["cells"]]}
    kinds = [c["kind"] for c in table["columns"]]
    return {"id": table["id"], "title": table["title"], "columns": table["columns"],
            "numeric": [k in _NUMERIC for k in kinds],
            "rows": [[reportout.cell_text(k, v, tz) for k, v in zip(kinds, row, strict=True)] for row in table["rows"]],
            "chart": Markup(reportout.chart_svg(table))}  # (our own SVG; every text in it is escaped)


routes = [Route("/reports", reports), Route("/reports/{report}", report)]
