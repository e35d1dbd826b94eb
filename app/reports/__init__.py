"""Savings and quality reports from the request ledger: attribution to the levers, per-class health."""
from app.reports.attribution import Levers, attempt_levers, round_money, saving_pct
from app.reports.export import (DisplayCurrency, quality_csv, quality_json, requests_csv, requests_json, savings_csv,
                                savings_json)
from app.reports.ledger import DEFAULT_GROUPING, GROUPINGS, Figures, SavingsReport, savings_report
from app.reports.period import Period, parse_period
from app.reports.quality import QualityReport, Suggestion, escalation_band, quality_report
from app.reports.requests import RequestLine, ledger_totals, request_lines

__all__ = ["DEFAULT_GROUPING", "DisplayCurrency", "Figures", "GROUPINGS", "Levers", "Period", "QualityReport",
           "SavingsReport", "Suggestion", "attempt_levers", "escalation_band", "parse_period", "quality_csv",
           "quality_json", "quality_report", "request_lines", "requests_csv", "requests_json",
           "ledger_totals", "RequestLine", "round_money", "saving_pct", "savings_csv", "savings_json",
           "savings_report"]
