"""The reports: Great Expectations' Data Docs and silobridge's own quality report.

`build_reports` rebuilds both under `settings.reports_dir`: `data_docs/index.html` from
every stored validation result, and `quality/index.html`, one self-contained page (inline
CSS and SVG charts, no script, nothing fetched) with the accounting per source, the
quarantine by reason with masked examples, drift, the latest checks, gate decisions,
freshness and volume, and trends over runs. The template autoescapes all text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from schemas.reasons import DESCRIPTIONS
from warehouse.db import session

from .checks import QualitySettings

QUALITY_DIR = "quality"
TEMPLATES = Path(__file__).parent / "templates"
#: times are shown as the people using the report read them (as the warehouse session does)
CHINA = ZoneInfo("Asia/Shanghai")


@dataclass
class ReportPaths:
    reports_dir: Path
    quality: Path
    data_docs: Path

    def to_dict(self) -> dict[str, str]:
        return {"reports_dir": str(self.reports_dir), "quality": str(self.quality),
                "data_docs": str(self.data_docs)}


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _shown(check: dict[str, Any]) -> dict[str, Any]:
    """The check with observed/threshold worded in their unit (share, ratio, hours, count)."""
    if check["scope"] == "freshness":
        def fmt(v: float | None) -> str:
            return "" if v is None else f"{v:,.1f} h"
    elif check["scope"] == "volume" or check["check_name"] == "status_conflict_share" or (
            check["scope"] == "batch" and check["check_name"] != "no_drift"):
        fmt = _percent
    else:
        fmt = _number
    return {**check, "observed_text": fmt(check["observed"]),
            "threshold_text": fmt(check["threshold"])}


def render(data: dict[str, Any], charts: list[Any], generated_at: datetime) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: PLC0415

    env = Environment(loader=FileSystemLoader(TEMPLATES),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["percent"] = _percent
    env.filters["number"] = _number
    env.filters["when"] = _when
    checks = [_shown(c) for c in data["checks"]]
    failed = [c for c in checks if not c["success"]]
    return env.get_template("quality_report.html.j2").render(
        **{**data, "checks": checks}, charts=charts, generated_at=generated_at,
        reasons={reason.value: text for reason, text in DESCRIPTIONS.items()},
        critical_failures=sum(c["severity"] == "critical" for c in failed),
        warning_failures=sum(c["severity"] == "warning" for c in failed),
        freshness=[c for c in checks if c["scope"] in ("freshness", "volume")])


def build_quality_report(settings: QualitySettings) -> Path:
    from markupsafe import Markup  # noqa: PLC0415

    from conform.mapping import load_mappings  # noqa: PLC0415

    from .charts import trend_charts  # noqa: PLC0415
    from .report_data import gather  # noqa: PLC0415

    mappings = load_mappings(settings.mappings_dir)
    read_only = settings.warehouse_path.exists()
    with session(settings.warehouse_path, read_only=read_only) as con:
        data = gather(con, mappings)
    charts = trend_charts(data["trends"])
    for chart in charts:
        # rendered by vl-convert from counts, times and source names: markup we made
        chart.svg = Markup(chart.svg)  # noqa: S704
    out = settings.reports_dir / QUALITY_DIR / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(data, charts, datetime.now(UTC)), encoding="utf-8")
    return out


def build_reports(settings: QualitySettings) -> ReportPaths:
    """Rebuild Data Docs and the quality report; returns where they are."""
    from .gx import build_docs  # noqa: PLC0415 - imports Great Expectations

    quality = build_quality_report(settings)
    docs = build_docs(settings.reports_dir)
    return ReportPaths(settings.reports_dir, quality, docs)
