"""Data Docs and Great Expectations stay on the machine: no connection leaves it during a
pipeline run, analytics are off in the context's config, and GX's page templates are
replaced where they would fetch (assets, logo, graphs). The browser test shows the pages
render; these show the pieces."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from quality.datadocs import ASSETS, offline_css, site_root

if TYPE_CHECKING:
    from conftest import QualityRun

REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//""")


def test_the_pipeline_run_opened_no_connection_outside(quality_run: QualityRun) -> None:
    network = quality_run.network
    assert network is not None
    assert network.outside == []
    # the hook saw the run's own traffic: the province gateway on 127.0.0.1
    assert any(c.startswith("socket.connect 127.0.0.1") for c in network.local)


def test_analytics_are_off_in_the_context(quality_run: QualityRun) -> None:
    config = yaml.safe_load((quality_run.settings.reports_dir / "gx" /
                             "great_expectations.yml").read_text("utf-8"))
    assert config["analytics_enabled"] is False
    site = config["data_docs_sites"]["silobridge"]
    assert site["site_index_builder"]["view"]["module_name"] == "quality.datadocs"


def test_no_page_of_the_site_links_outside(quality_run: QualityRun) -> None:
    site = quality_run.settings.reports_dir / "data_docs"
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 9  # the index, 4 suites, 4 validations
    remote = {p.relative_to(site).as_posix(): REMOTE.findall(p.read_text("utf-8"))
              for p in pages}
    assert {page: hits for page, hits in remote.items() if hits} == {}
    for asset in ASSETS:
        assert (site / "static" / asset.target).exists(), asset


def test_every_relative_link_of_a_page_resolves(quality_run: QualityRun) -> None:
    site = quality_run.settings.reports_dir / "data_docs"
    for page in site.rglob("*.html"):
        for link in re.findall(r'(?:src|href)="([^"#:]+)"', page.read_text("utf-8")):
            assert (page.parent / link).resolve().exists(), (page, link)


def test_site_root_counts_folders_of_each_kind_of_page() -> None:
    assert site_root("SiteIndexPageRenderer") == ""
    assert site_root("ExpectationSuitePageRenderer", "batch_grid") == "../"
    assert site_root("ExpectationSuitePageRenderer", "a.b") == "../../"
    assert site_root("ValidationResultsPageRenderer", "batch_grid") == "../../../../"
    assert site_root("ValidationResultsPageRenderer", "a.b") == "../../../../../"


def test_default_styles_lose_the_dark_block_and_remote_urls() -> None:
    from great_expectations.render.view import view

    css = (Path(view.__file__).parent / "static" / "styles" /
           "data_docs_default_styles.css").read_text("utf-8")
    assert "prefers-color-scheme: dark" in css and "https://" in css  # what GX ships
    cleaned = offline_css(css)
    assert "prefers-color-scheme" not in cleaned and "https://" not in cleaned
    assert ".cooltip" in cleaned and cleaned.count("{") == cleaned.count("}")
    assert offline_css("a { background: url('http://x/y.png') }") == "a { background: none }"


def test_a_graph_is_drawn_as_svg_without_a_script() -> None:
    import altair as alt
    import pandas as pd
    from great_expectations.render.components import (
        RenderedDocumentContent,
        RenderedGraphContent,
        RenderedSectionContent,
    )

    from quality.datadocs import OfflinePageView

    chart = alt.Chart(pd.DataFrame({"code": ["01", "02", "03"], "n": [3, 1, 2]})) \
        .mark_bar().encode(x="code:N", y="n:Q")
    for graph in (chart.to_json(), chart.to_dict()):
        document = RenderedDocumentContent(
            renderer_type="ValidationResultsPageRenderer", expectation_suite_name="batch_grid",
            sections=[RenderedSectionContent(section_name="graph", content_blocks=[
                RenderedGraphContent(graph=graph)])])
        html = OfflinePageView().render(document)
        assert "<svg" in html and "vegaEmbed" not in html
        assert "mark-rect" in html and html.count("<path") >= 3  # the three bars
        assert REMOTE.findall(html) == []
