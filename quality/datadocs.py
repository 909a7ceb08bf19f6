"""Data Docs that render offline: GX's pages with every asset served by the site itself.

GX's page templates link Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from
public CDNs, and the logo from GX's web-asset bucket with the data context id in its
URL: on a network without internet the index stays blank. GX's site builder takes its
view classes by module and class name, so the site in `quality.gx` names the views
below. They look up templates in `templates/data_docs/` before GX's own, and those few
templates link `static/vendor/`, which `vendor_assets` fills from installed packages
(xstatic-*), never from the network. Two kinds of block lose their scripts on the way:
bootstrap-table's tables (the index) are written as HTML rows, and Vega-Lite graphs are
drawn as SVG by vl-convert when the page is built.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Literal

from jinja2 import ChoiceLoader, Environment, FileSystemLoader

from .gx import load_gx

load_gx()  # GX's logger hushed before its view modules load
from great_expectations.render.view import (  # noqa: E402 - after load_gx, on purpose
    DefaultJinjaIndexPageView,
    DefaultJinjaPageView,
)

TEMPLATES = Path(__file__).parent / "templates" / "data_docs"
VENDOR = "vendor"
#: the site's pages by kind, with how many folders below the site root each one lies
#: (a suite name's dots become folders too): validations/<suite>/<run>/<time>/<batch>.html
_DEPTH = {"ValidationResults": 4, "ProfilingResults": 4, "ExpectationSuite": 1}
_REMOTE_URL = re.compile(r"url\(\s*['\"]?https?://[^)]*\)")
_DARK = "@media (prefers-color-scheme: dark)"


@dataclass(frozen=True)
class Asset:
    """A file or folder of an xstatic package's data, copied to static/vendor/<package>/."""

    package: str
    path: str
    kind: Literal["style", "script", "file"]

    @property
    def source(self) -> Path:
        return Path(import_module(f"xstatic.pkg.{self.package}").BASE_DIR) / self.path

    @property
    def target(self) -> str:
        """Where it lies under the site's static/ folder."""
        return f"{VENDOR}/{self.package}/{self.path}"


#: what GX's pages need, in load order (jQuery before Bootstrap's scripts); Bootstrap's
#: bundle carries Popper. Font Awesome's stylesheet finds its fonts in ../webfonts/.
ASSETS = (
    Asset("bootstrap", "css/bootstrap.min.css", "style"),
    Asset("font_awesome", "css/all.min.css", "style"),
    Asset("font_awesome", "webfonts", "file"),
    Asset("font_awesome", "LICENSE.txt", "file"),
    Asset("jquery", "jquery.min.js", "script"),
    Asset("bootstrap", "js/bootstrap.bundle.min.js", "script"),
)


def vendor_assets(site: Path) -> None:
    """Copy ASSETS into `<site>/static/vendor/` (GX copies its own images and fonts)."""
    for asset in ASSETS:
        target = site / "static" / asset.target
        target.parent.mkdir(parents=True, exist_ok=True)
        if asset.source.is_dir():
            shutil.copytree(asset.source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(asset.source, target)


def package_copies(site: Path) -> set[Path]:
    """The files under `<site>/static/` that are byte for byte what an installed package
    ships (GX's images and fonts, the vendored assets): made from no data, so scans for
    personal data may pass them by (binary fonts are full of digit runs)."""
    from great_expectations.render.view import view  # noqa: PLC0415

    gx_static = Path(view.__file__).parent / "static"
    sources = {site / "static" / f.relative_to(gx_static): f
               for f in gx_static.rglob("*") if f.is_file()}
    for asset in ASSETS:
        files = asset.source.rglob("*") if asset.source.is_dir() else [asset.source]
        sources.update({site / "static" / asset.target / f.relative_to(asset.source): f
                        for f in files if f.is_file()})
    return {copy for copy, source in sources.items()
            if copy.is_file() and copy.read_bytes() == source.read_bytes()}


def site_root(renderer_type: str, suite_name: str | None = None) -> str:
    """The relative path from a page of this kind up to the site's root."""
    for kind, depth in _DEPTH.items():
        if kind in renderer_type:
            return "../" * (depth + (suite_name or "").count("."))
    return ""  # the index


def offline_css(css: str) -> str:
    """GX's default styles without their dark-mode block (it complements a dark Bootstrap
    theme fetched from a CDN, not shipped here, and its logo comes from the internet) and
    without any other remote url()."""
    start = css.find(_DARK)
    if start >= 0:
        depth, end = 0, start
        for end in range(css.index("{", start), len(css)):
            depth += {"{": 1, "}": -1}.get(css[end], 0)
            if depth == 0:
                break
        css = css[:start] + css[end + 1:]
    return _REMOTE_URL.sub("none", css)


def vega_svg(spec: str | dict[str, Any]) -> str:
    """A Vega-Lite spec (GX passes a JSON string or a dict) as inline SVG."""
    import vl_convert  # noqa: PLC0415 - starts a JS runtime: only when a page has a graph

    return vl_convert.vegalite_to_svg(json.loads(spec) if isinstance(spec, str) else spec)


def _offline(env: Environment) -> None:
    env.loader = ChoiceLoader([FileSystemLoader(TEMPLATES), env.loader])
    env.globals["site_root"] = site_root
    env.globals["offline_styles"] = [a.target for a in ASSETS if a.kind == "style"]
    env.globals["offline_scripts"] = [a.target for a in ASSETS if a.kind == "script"]
    env.filters["offline_css"] = offline_css
    env.filters["vega_svg"] = vega_svg


class OfflinePageView(DefaultJinjaPageView):
    """Suite and validation pages."""

    def __init__(self, custom_styles_directory: str | None = None,
                 custom_views_directory: str | None = None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        _offline(self.env)


class OfflineIndexPageView(DefaultJinjaIndexPageView):
    """The site's index."""

    def __init__(self, custom_styles_directory: str | None = None,
                 custom_views_directory: str | None = None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        _offline(self.env)


def site_config(base_directory: Path) -> dict[str, Any]:
    """The Data Docs site's configuration: GX's site builder with the views above."""
    def view(name: str) -> dict[str, str]:
        return {"module_name": __name__, "class_name": name}

    return {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(base_directory)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                               "view": view(OfflineIndexPageView.__name__)},
        "site_section_builders": {
            section: {"view": view(OfflinePageView.__name__)}
            for section in ("expectations", "validations", "profiling")},
    }
