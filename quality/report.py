"""The reports: Great Expectations' Data Docs and silobridge's own quality report.

`build_reports` rebuilds both under `settings.reports_dir`: `data_docs/index.html` from
every stored validation result, and the quality report, one self-contained page (inline
CSS and SVG charts, no script, nothing fetched) with a table of contents and collapsible
sections: the accounting per source, trends over runs, the latest checks, gate
decisions, freshness and volume, the quarantine by reason with masked examples, and
drift. It is written in Chinese (`quality/index.html`) and in English
(`quality/index.en.html`), each linking the other; every word comes from one catalog
(`quality.messages`). The template autoescapes all text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from warehouse.db import session

from .checks import CheckLabel, QualitySettings
from .messages import DEFAULT, LANGUAGES, Language, Words

if TYPE_CHECKING:
    from conform.mapping import Mapping as MappingFile

    from .files import QualityFiles

QUALITY_DIR = "quality"
TEMPLATES = Path(__file__).parent / "templates"
#: the report's page in each language: the default one is the folder's index
PAGES: dict[Language, str] = {lang: "index.html" if lang == DEFAULT else f"index.{lang}.html"
                              for lang in LANGUAGES}
HTML_LANG: dict[Language, str] = {"zh": "zh-CN", "en": "en"}
#: times are shown as the people using the report read them (as the warehouse session does)
CHINA = ZoneInfo("Asia/Shanghai")


@dataclass
class ReportPaths:
    reports_dir: Path
    quality: Path       # the report in the default language (Chinese)
    data_docs: Path

    @property
    def quality_pages(self) -> dict[Language, Path]:
        return {lang: self.quality.parent / name for lang, name in PAGES.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"reports_dir": str(self.reports_dir), "quality": str(self.quality),
                "quality_pages": {k: str(v) for k, v in self.quality_pages.items()},
                "data_docs": str(self.data_docs)}


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _shown(check: dict[str, Any], labels: Mapping[str, CheckLabel]) -> dict[str, Any]:
    """The check with observed/threshold worded in their unit (share, ratio, hours, count):
    a domain's checks say theirs (`labels`); a batch check no file names any more was a
    GX share."""
    label = labels.get(check["check_name"])
    if check["scope"] == "freshness":
        def fmt(v: float | None) -> str:
            return "" if v is None else f"{v:,.1f} h"
    elif check["scope"] == "volume" or (label.share if label is not None else (
            check["scope"] == "batch" and check["check_name"] != "no_drift")):
        fmt = _percent
    else:
        fmt = _number
    return {**check, "observed_text": fmt(check["observed"]),
            "threshold_text": fmt(check["threshold"])}


def render(data: dict[str, Any], charts: list[Any], generated_at: datetime,
           lang: Language = DEFAULT, labels: Mapping[str, CheckLabel] | None = None) -> str:
    from jinja2 import (  # noqa: PLC0415
        Environment,
        FileSystemLoader,
        StrictUndefined,
        select_autoescape,
    )

    env = Environment(loader=FileSystemLoader(TEMPLATES),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    env.filters["percent"] = _percent
    env.filters["number"] = _number
    env.filters["when"] = _when
    labels = labels or {}
    words = Words(lang, labels)
    other: Language = next(other for other in LANGUAGES if other != lang)
    checks = [_shown(c, labels) for c in data["checks"]]
    failed = [c for c in checks if not c["success"]]
    return env.get_template("quality_report.html.j2").render(
        **{**data, "checks": checks}, charts=charts, generated_at=generated_at,
        t=words.t, code=words.code, html_lang=HTML_LANG[lang],
        other_page=PAGES[other], other_lang=HTML_LANG[other],
        critical_failures=sum(c["severity"] == "critical" for c in failed),
        warning_failures=sum(c["severity"] == "warning" for c in failed),
        freshness=[c for c in checks if c["scope"] in ("freshness", "volume")])


def build_quality_report(settings: QualitySettings, files: Sequence[QualityFiles],
                         mappings: Sequence[MappingFile]) -> Path:
    """Write the report in every language, naming the checks of `files` as they do;
    returns the default language's page.

    `mappings`: the packs' mapping files, which say what a quarantined record's columns
    hold (so what its example may show)."""
    from markupsafe import Markup  # noqa: PLC0415

    from .charts import trend_charts  # noqa: PLC0415
    from .report_data import gather  # noqa: PLC0415

    labels = {k: v for f in files for k, v in f.labels().items()}
    # the sources of the packs the report is of (a pack not run by default stays out of
    # a default run's report)
    sources = tuple(s for f in files for s in f.sources)
    read_only = settings.warehouse_path.exists()
    with session(settings.warehouse_path, read_only=read_only) as con:
        data = gather(con, mappings, sources)
    folder = settings.reports_dir / QUALITY_DIR
    folder.mkdir(parents=True, exist_ok=True)
    generated_at = datetime.now(UTC)
    for lang, name in PAGES.items():
        charts = trend_charts(data["trends"], Words(lang), [s.name for s in sources])
        for chart in charts:
            # rendered by vl-convert from counts, times and source names: markup we made
            chart.svg = Markup(chart.svg)  # noqa: S704
        (folder / name).write_text(render(data, charts, generated_at, lang, labels),
                                   encoding="utf-8")
    return folder / PAGES[DEFAULT]


def build_reports(settings: QualitySettings, files: Sequence[QualityFiles],
                  mappings: Sequence[MappingFile]) -> ReportPaths:
    """Rebuild Data Docs and the quality report; returns where they are."""
    from .gx import build_docs  # noqa: PLC0415 - imports Great Expectations

    quality = build_quality_report(settings, files, mappings)
    docs = build_docs(settings.reports_dir)
    return ReportPaths(settings.reports_dir, quality, docs)
