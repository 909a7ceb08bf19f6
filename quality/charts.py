"""Trend charts for the quality report: altair specs rendered to inline SVG.

vl-convert renders Vega-Lite in-process (no browser, no network), so the report carries
its charts as markup and needs no script at all. Only source names, run times and counts
enter a chart. Titles, axes and legends are in the page's language (quality.messages).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from .messages import Words

WIDTH, HEIGHT = 560, 220
CHINA = ZoneInfo("Asia/Shanghai")
_LONG_DECIMAL = re.compile(r"\d+\.\d{4,}")


@dataclass
class Chart:
    key: str
    title: str
    svg: str


def _render(chart: Any) -> str:
    import vl_convert  # noqa: PLC0415 - starts a JS runtime: only when charts are drawn

    svg = vl_convert.vegalite_to_svg(chart.to_json())
    # coordinates come with 15 decimals; three are plenty, and long digit runs would look
    # like ID numbers to the report's PII scan
    return _LONG_DECIMAL.sub(lambda m: f"{float(m.group(0)):.3f}", svg)


def trend_charts(trends: list[dict[str, Any]], words: Words,
                 source_names: Sequence[str]) -> list[Chart]:
    """Rows loaded and quarantined per source per run, and the quarantine rate; the
    legend lists `source_names` in their order (the packs' declarations'), each in the
    same colour on every page."""
    import altair as alt  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    t = words.t
    sources = [words.code("source", s) for s in source_names]
    # wall-clock China time without offset: vega shows it as given, like the tables
    rows = [{"source": words.code("source", t["source"]),
             "run": t["started_at"].astimezone(CHINA).replace(tzinfo=None).isoformat(),
             "loaded": int(t["loaded"]), "quarantined": int(t["quarantined"]),
             "rate": float(t["quarantine_rate"] or 0.0)} for t in trends]
    if not rows:
        rows = [{"source": s, "run": None, "loaded": 0, "quarantined": 0, "rate": 0.0}
                for s in sources]
    frame = pd.DataFrame(rows).rename(columns={"loaded": t("column.loaded"),
                                               "quarantined": t("column.quarantined")})
    # no label limit: text widths are measured with whatever fonts the machine has, and
    # one without CJK fonts would cut every Chinese label to a glyph or two
    color = alt.Color("source:N", scale=alt.Scale(domain=sources), title=t("column.source"),
                      legend=alt.Legend(labelLimit=0))
    # runs are hours apart in production, seconds apart in tests: label minutes
    x = alt.X("run:T", title=t("chart.run_axis"),
              axis=alt.Axis(format="%m-%d %H:%M", labelOverlap=True, tickCount=6))
    long = frame.melt(id_vars=["source", "run"],
                      value_vars=[t("column.loaded"), t("column.quarantined")],
                      var_name="rows", value_name="count")
    volume = alt.Chart(long).mark_line(point=True).encode(
        x=x, y=alt.Y("count:Q", title=t("chart.rows_axis")), color=color,
        detail="rows:N", shape=alt.Shape("rows:N", title=t("chart.outcome"),
                                         legend=alt.Legend(labelLimit=0)),
    ).properties(width=WIDTH, height=HEIGHT)
    rate = alt.Chart(frame).mark_line(point=True).encode(
        x=x, y=alt.Y("rate:Q", title=t("chart.rate_axis"), axis=alt.Axis(format="%")),
        color=color,
    ).properties(width=WIDTH, height=HEIGHT)
    return [Chart("volume", t("chart.volume"), _render(volume)),
            Chart("quarantine-rate", t("chart.rate"), _render(rate))]
