"""GET /v1/reports/savings, /v1/reports/quality and /v1/reports/requests: the ledger's saving, per-class
health and the per-request ledger the simulator replays, JSON or CSV.

Reports show the whole company's spend, so they need the ``admin`` scope.
"""
from __future__ import annotations

from flask import current_app, jsonify, request

from app.api import bp
from app.web.downloads import csv_response
from app.api.auth import require_scope
from app.errors import InvalidField
from app.web.openapi import document
from app.reports import (DEFAULT_GROUPING, GROUPINGS, DisplayCurrency, parse_period, quality_csv, quality_json,
                         quality_report, request_lines, requests_csv, requests_json, savings_csv, savings_json,
                         savings_report)
from app.shadow.report import shadow_report
from app.web.context import current_policy, db

FORMATS = ("json", "csv")


def _format() -> str:
    wanted = (request.args.get("format") or "json").lower()
    if wanted not in FORMATS:
        raise InvalidField(f"format must be one of {', '.join(FORMATS)}", "format")
    return wanted


@bp.get("/reports/savings")
@require_scope("admin")
def savings():
    group_by = request.args.get("group_by") or DEFAULT_GROUPING
    if group_by not in GROUPINGS:
        raise InvalidField(f"group_by must be one of {', '.join(GROUPINGS)}", "group_by")
    wanted = _format()
    period = parse_period(request.args.get("from"), request.args.get("to"))
    report = savings_report(db(), current_policy(), period, group_by)
    display = DisplayCurrency.from_settings(current_app.config.get("TIERGATE"))
    shadow = shadow_report(db(), current_policy(), period).spend()  # its own line, never in the saving
    if wanted == "csv":
        return csv_response(savings_csv(report, display, shadow), f"tiergate-savings-by-{group_by}.csv")
    return jsonify({**savings_json(report, display), "shadow": shadow})


@bp.get("/reports/requests")
@require_scope("admin")
def requests_ledger():
    wanted = _format()
    period = parse_period(request.args.get("from"), request.args.get("to"))
    lines = request_lines(db(), period)
    if wanted == "csv":
        return csv_response(requests_csv(lines), "tiergate-requests.csv")
    return jsonify(requests_json(lines, period))


@bp.get("/reports/quality")
@require_scope("admin")
def quality():
    wanted = _format()
    report = quality_report(db(), current_policy(), parse_period(request.args.get("from"), request.args.get("to")))
    if wanted == "csv":
        return csv_response(quality_csv(report), "tiergate-quality.csv")
    return jsonify(quality_json(report))


_WINDOW = [
    {"name": "from", "in": "query", "schema": {"type": "string"},
     "description": "Start, inclusive: YYYY-MM, YYYY-MM-DD or an ISO date-time (UTC)."},
    {"name": "to", "in": "query", "schema": {"type": "string"},
     "description": "End: a date-only value includes that day or month; a date-time is exclusive."},
    {"name": "format", "in": "query", "schema": {"type": "string", "enum": list(FORMATS), "default": "json"}},
]
document("/v1/reports/savings", "get",
         "Cost, baseline and saving per group, attributed to routing, caching and batch minus overheads", scope="admin",
         parameters=[*_WINDOW, {"name": "group_by", "in": "query",
                                "schema": {"type": "string", "enum": list(GROUPINGS), "default": DEFAULT_GROUPING}}],
         responses={"200": "total, groups and attribution (saving_usd = routing + caching + batch - overhead), and "
                           "shadow (shadow comparison spend, never in the saving); or CSV",
                    "403": "the key lacks the admin scope", "422": "a parameter is invalid"})
document("/v1/reports/requests", "get",
         "The per-request ledger: task, tiers, recorded baseline, tokens (cache writes by TTL), answer cost, "
         "overhead by kind, batch, shadow and judge spend; the file `tiergate simulate` replays", scope="admin",
         parameters=_WINDOW,
         responses={"200": "requests and their totals, or CSV", "403": "the key lacks the admin scope",
                    "422": "a parameter is invalid"})
document("/v1/reports/quality", "get",
         "Per task class: cost per request, escalation band, format success, reviews, latency, suggestions",
         scope="admin", parameters=_WINDOW,
         responses={"200": "classes and suggestions, or CSV", "403": "the key lacks the admin scope",
                    "422": "a parameter is invalid"})
