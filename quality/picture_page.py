"""A pack's pictures page: every picture of its pictures.toml drawn from the warehouse into
one self-contained HTML page, `pictures/<pack>/index.html` under the reports folder.

Each picture's queries run on a read-only connection that can reach nothing outside the
warehouse (quality.picture_reading); vl-convert renders the spec with their rows to SVG
in-process, allowed no URL at all, and the SVG is inlined: the page has no script and
fetches nothing. An SVG that still refers to anything outside itself (an image mark's
URL) stops the page. A picture whose queries return no rows says so. Titles are Chinese
first with the English beside them; each picture tells its row count, the page the
data's clock (the pack's newest record, quality.freshness.DataClock) and when it was
drawn. Every failure is a PictureError naming the file and the picture.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .messages import Words
from .picture_reading import reading, rows
from .pictures import Picture, PictureError, PictureSet, vega_lite_version

if TYPE_CHECKING:
    import duckdb

    from .freshness import DataClock

PICTURES_DIR = "pictures"
TEMPLATES = Path(__file__).parent / "templates"
_LONG_DECIMAL = re.compile(r"\d+\.\d{4,}")
#: what in an SVG makes the browser fetch something: a link, a source, a CSS url(), an
#: import; only references inside the drawing (#id) and data: URIs stay on the page
_REFERENCE = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']*)|url\(\s*["']?([^"')]*)|(@import)""",
                        re.IGNORECASE)
_INSIDE = ("#", "data:")


@dataclass
class Drawn:
    picture: Picture
    rows: int
    svg: str | None  # None: its queries returned no rows


def page_path(reports_dir: Path, pack: str) -> Path:
    return reports_dir / PICTURES_DIR / pack / "index.html"


def build_pictures_page(warehouse: Path, reports_dir: Path, pictures: PictureSet,
                        clock: DataClock | None = None) -> Path:
    """Draw every picture `pictures` declares and write the pack's page; returns its path."""
    declared = pictures.pictures()  # every declaration checked before anything is drawn
    started = time.perf_counter()
    with reading(warehouse) as con:
        data_time = _newest(con, clock)
        drawn = [_draw(con, pictures.file, p) for p in declared]
    path = page_path(reports_dir, pictures.pack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(pictures, drawn, data_time, time.perf_counter() - started),
                    encoding="utf-8")
    return path


def _newest(con: duckdb.DuckDBPyConnection, clock: DataClock | None) -> datetime | None:
    if clock is None:
        return None
    return clock.domain_newest(con)


def _draw(con: duckdb.DuckDBPyConnection, file: Path, picture: Picture) -> Drawn:
    data: dict[str, list[dict[str, Any]]] = {}
    for name, sql in picture.queries.items():
        try:
            data[name] = rows(con, sql)
        except Exception as e:  # a DuckDB error or rows a chart cannot take: which picture
            query = "sql" if name == "" else f"queries.{name}"
            raise PictureError(file, picture.name, f"{query}: {e}") from e
    count = sum(len(r) for r in data.values())
    if count == 0:
        return Drawn(picture, 0, None)
    spec = dict(picture.spec)
    if "" in data:
        spec["data"] = {"values": data[""]}
    else:
        spec["datasets"] = data
    return Drawn(picture, count, _render(file, picture.name, spec))


def _render(file: Path, name: str, spec: dict[str, Any]) -> str:
    import vl_convert  # noqa: PLC0415 - starts a JS runtime: only when pictures are drawn

    try:
        svg = vl_convert.vegalite_to_svg(spec, vl_version=vega_lite_version(),
                                         allowed_base_urls=[])
    except ValueError as e:
        # vl-convert's message, without the stack of its bundled JavaScript
        raise PictureError(file, name, f"Vega-Lite cannot draw it: "
                           f"{str(e).splitlines()[1:2] or e}") from None
    outside = [t for m in _REFERENCE.finditer(svg)
               if not (t := next(g for g in m.groups() if g is not None).strip()
                       ).lower().startswith(_INSIDE)]
    if outside:
        raise PictureError(file, name, f"the drawing refers to something outside the page: "
                           f"{outside[0]!r}")
    # coordinates come with 15 decimals; three are plenty, and long digit runs would look
    # like ID numbers to a scan for personal numbers
    return _LONG_DECIMAL.sub(lambda m: f"{float(m.group(0)):.3f}", svg)


def _page(pictures: PictureSet, drawn: list[Drawn], data_time: datetime | None,
          seconds: float) -> str:
    from jinja2 import (  # noqa: PLC0415
        Environment,
        FileSystemLoader,
        StrictUndefined,
        select_autoescape,
    )
    from markupsafe import Markup  # noqa: PLC0415

    env = Environment(loader=FileSystemLoader(TEMPLATES),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    zh, en = Words("zh"), Words("en")

    def both(key: str, **params: Any) -> tuple[str, str]:
        return zh.t(key, **params), en.t(key, **params)

    def when(value: datetime | None) -> str:
        from .picture_reading import CHINA  # noqa: PLC0415

        return "—" if value is None else value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")

    shown = [{"picture": d.picture, "rows": d.rows,
              # vl-convert drew it from the query's rows, and nothing in it links out
              "svg": None if d.svg is None else Markup(d.svg)}  # noqa: S704
             for d in drawn]
    return env.get_template("pictures.html.j2").render(
        pack=pictures, drawn=shown, both=both, data_time=when(data_time),
        generated=when(datetime.now(UTC)), seconds=f"{seconds:.1f}")
