"""Pictures declared as data (quality.pictures): every mistake in a pictures.toml is one
error naming the file and the picture, found before anything is drawn; a query reads
core and marts only, named columns, nothing personal, nothing outside the warehouse; a
picture with no rows says so; a drawing that would fetch anything stops the page.
Drawn for real with vl-convert from a real DuckDB file under tmp_path."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from quality.picture_page import build_pictures_page, page_path
from quality.picture_reading import QueryRefused, check_query
from quality.pictures import PictureError, PictureSet, load_pictures
from schemas.pii import find_numbers
from silobridge.packs import pack
from silobridge.quality_files import withheld

POINTS = "SELECT p.place_id, p.lon, p.lat, p.load_share FROM core.places p"
LINES = "SELECT r.road_id, r.lon, r.lat, r.vertex FROM core.roads r"
HEAT = "SELECT h.road_id, h.hour_of_day, h.speed FROM marts.road_hours h"
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with a point table, a polyline table (a row per vertex), a mart and a
    table holding a personal number's ciphertext and link key beside a name."""
    path = tmp_path_factory.mktemp("pictures") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("""
        CREATE SCHEMA core; CREATE SCHEMA marts; CREATE SCHEMA raw;
        CREATE TABLE core.places AS SELECT * FROM (VALUES
            ('P1', 121.25, 31.38, 0.10), ('P2', 121.27, 31.40, 0.62),
            ('P3', 121.30, 31.36, 0.35)) t(place_id, lon, lat, load_share);
        CREATE TABLE core.roads AS SELECT * FROM (VALUES
            ('R1', 121.24, 31.37, 0), ('R1', 121.31, 31.41, 1),
            ('R2', 121.26, 31.35, 0), ('R2', 121.28, 31.39, 1),
            ('R2', 121.29, 31.42, 2)) t(road_id, lon, lat, vertex);
        CREATE TABLE marts.road_hours AS
            SELECT road_id, h AS hour_of_day, 20 + h AS speed
            FROM (VALUES ('R1'), ('R2')) r(road_id), range(24) t(h);
        CREATE TABLE core.empty_days (day DATE, value DOUBLE);
        CREATE TABLE core.people AS SELECT '""" + SCRIPT + """' AS name,
            '\\x01'::BLOB AS id_number_cipher, 'k1' AS id_number_link,
            '330***********0011' AS id_number_masked;
        CREATE TABLE raw.records AS SELECT 1 AS a;
    """)
    con.close()
    return path


Write = Callable[..., Path]


@pytest.fixture
def declare(tmp_path: Path) -> Write:
    """Write a pictures.toml (and spec files beside it) into a pack folder of its own."""
    def write(text: str, **specs: str) -> Path:
        for name, spec in specs.items():
            (tmp_path / f"{name}.vl.json").write_text(spec, encoding="utf-8")
        file = tmp_path / "pictures.toml"
        file.write_text(text, encoding="utf-8")
        return file
    return write


def _draw(warehouse: Path, file: Path, withheld: frozenset[str] = frozenset()) -> str:
    reports = file.parent / "reports"
    path = build_pictures_page(warehouse, reports, PictureSet("demo", "演示", "demo", file,
                                                               withheld))
    assert path == page_path(reports, "demo") == reports / "pictures" / "demo" / "index.html"
    return path.read_text(encoding="utf-8")


HEATMAP = f'''
[pictures.speeds]
title_zh = "路段每小时车速"
title_en = "speed per road and hour"
sql = "{HEAT}"
[pictures.speeds.spec]
mark = "rect"
encoding.x = {{ field = "hour_of_day", type = "ordinal" }}
encoding.y = {{ field = "road_id", type = "nominal" }}
encoding.color = {{ field = "speed", type = "quantitative" }}
'''


def test_a_page_draws_inline_and_file_specs_and_named_queries(warehouse: Path,
                                                               declare: Write) -> None:
    """A heat map declared inline; a plain coordinate map from a .vl.json file: points
    coloured by a share and polylines from two named queries, layered; and a picture
    whose query finds no rows, which says so."""
    coordinate_map = {
        "width": 400, "height": 300,
        "layer": [
            {"data": {"name": "roads"}, "mark": "line",
             "encoding": {"longitude": {"field": "lon", "type": "quantitative"},
                          "latitude": {"field": "lat", "type": "quantitative"},
                          "detail": {"field": "road_id", "type": "nominal"},
                          "order": {"field": "vertex", "type": "quantitative"}}},
            {"data": {"name": "places"}, "mark": {"type": "circle", "size": 80},
             "encoding": {"longitude": {"field": "lon", "type": "quantitative"},
                          "latitude": {"field": "lat", "type": "quantitative"},
                          "color": {"field": "load_share", "type": "quantitative"}}}],
        "projection": {"type": "identity", "reflectY": True}}
    file = declare(HEATMAP + f'''
[pictures.map]
title_zh = "地图"
title_en = "map"
note_zh = "点与路段"
note_en = "points and roads"
spec = "map.vl.json"
queries = {{ places = "{POINTS}", roads = "{LINES}" }}

[pictures.nothing]
title_zh = "空的"
title_en = "empty"
sql = "SELECT e.day, e.value FROM core.empty_days e"
spec = {{ mark = "line", encoding.x = {{ field = "day", type = "temporal" }} }}
''', map=json.dumps(coordinate_map))
    page = _draw(warehouse, file)
    figures = re.findall(r'<figure class="picture" id="picture-(\w+)" data-rows="(\d+)">'
                         r"(.*?)</figure>", page, re.S)
    assert [(name, rows) for name, rows, _ in figures] == [
        ("speeds", "48"), ("map", "8"), ("nothing", "0")]
    body = {name: text for name, _, text in figures}
    assert body["speeds"].count("<path") >= 48  # a rect mark per road and hour
    assert body["map"].count("<path") >= 3 + 2  # a circle per place, a line per road
    assert "<svg" not in body["nothing"] and "查询无结果" in body["nothing"]
    assert "地图" in body["map"] and "点与路段" in body["map"]
    assert not re.search(r"(?:href|src)\s*=\s*[\"']https?:|url\(\s*[\"']?https?:", page)
    assert "<script" not in page


def test_values_are_escaped_and_withheld_columns_refused(warehouse: Path,
                                                          declare: Write) -> None:
    file = declare('''
[pictures.names]
title_zh = "名字"
title_en = "names"
sql = "SELECT p.name, p.id_number_masked, 1 AS n FROM core.people p"
[pictures.names.spec]
mark = "bar"
encoding.y = { field = "name", type = "nominal" }
encoding.x = { field = "n", type = "quantitative" }
encoding.color = { field = "id_number_masked", type = "nominal" }
''')
    page = _draw(warehouse, file, frozenset({"id_number_cipher", "id_number_link"}))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert find_numbers(page) == []  # the masked form is shown, never a number
    file.write_text(file.read_text(encoding="utf-8").replace(
        "p.id_number_masked", "p.id_number_link"), encoding="utf-8")
    with pytest.raises(PictureError, match=r"pictures\.names: sql: reads p\.id_number_link: "
                                           "personal data"):
        _draw(warehouse, file, frozenset({"id_number_cipher", "id_number_link"}))


@pytest.mark.parametrize(("sql", "refused"), [
    ("SELECT r.a FROM raw.records r", "reads raw.records: pictures read the tables of core "
                                      "and marts only"),
    ("SELECT a FROM records", "reads records"),
    ("SELECT * FROM core.places", "selects \\*"),
    ("SELECT p.* FROM core.places p", "selects \\*"),
    ("SELECT COLUMNS('.*') FROM core.places", "selects \\*"),
    ("SELECT to_json(p) FROM core.places p", "reads p as a whole row"),
    ("SELECT a FROM read_csv('/etc/passwd')", "table function"),
    ("SELECT a FROM other.core.places", "reads other.core.places"),
    ("SELECT 1 AS a; SELECT 2 AS b", "2 statements"),
    ("DELETE FROM core.places", "not one SELECT"),
    ("SELEC lon FROM core.places", "not one SELECT: .*syntax error"),
    ("SELECT x.id_number_cipher FROM core.people x", "personal data"),
])
def test_what_a_query_may_not_read(sql: str, refused: str) -> None:
    with pytest.raises(QueryRefused, match=refused):
        check_query(sql, frozenset({"id_number_cipher", "id_number_link"}))


def test_a_pack_withholds_the_stored_forms_of_its_personal_fields() -> None:
    """Derived from the pack's contracts: the dispute pack's parties' ID and phone numbers
    (their ciphertexts and link keys; the masked forms may be shown)."""
    kept = withheld(pack("disputes"))
    assert kept == {"id_number", "id_number_cipher", "id_number_link",
                    "phone", "phone_cipher", "phone_link"}
    with pytest.raises(QueryRefused, match="personal data"):
        check_query("SELECT p.phone_link FROM core.case_parties p", kept)
    check_query("SELECT p.phone_masked FROM core.case_parties p", kept)


def test_what_a_query_may_read() -> None:
    check_query("WITH d AS (SELECT h.road_id, max(h.speed) AS top FROM marts.road_hours h "
                "GROUP BY ALL) SELECT d.road_id, d.top, count(*) AS n FROM d "
                "JOIN core.roads r USING (road_id) GROUP BY ALL")


SPEC = 'spec = { mark = "point", encoding.x = { field = "a", type = "quantitative" } }'


@pytest.mark.parametrize(("text", "problem"), [
    ("[pictures.p\ntitle_zh = 1", "cannot be read"),
    ("[page]\ntitle = 'x'", "declares its pictures as \\[pictures.<name>\\] tables"),
    (f'[pictures.p]\ntitle_en = "p"\nsql = "{HEAT}"\n{SPEC}', "pictures.p: needs title_zh"),
    (f'[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\n{SPEC}',
     "pictures.p: needs either sql .* or queries"),
    (f'[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\nsql = "{HEAT}"\nqueries = {{ a = "{HEAT}" }}'
     f"\n{SPEC}", "not both"),
    (f'[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\nsql = "{HEAT}"\ncolour = 1\n{SPEC}',
     "pictures.p: unknown keys \\['colour'\\]"),
    ('[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\nsql = "SELECT * FROM core.places"\n'
     f"{SPEC}", "pictures.p: sql: selects \\*"),
    (f'[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\nsql = "{HEAT}"',
     "pictures.p: needs spec"),
    (f'[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\nsql = "{HEAT}"\nspec = "missing.vl.json"',
     "pictures.p: spec missing.vl.json: cannot be read"),
    (f'[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\nsql = "{HEAT}"\nspec = "../up.vl.json"',
     "pictures.p: spec = '../up.vl.json': name a .vl.json file in the folder"),
    (f'[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\nsql = "{HEAT}"\nspec = "bad.vl.json"',
     "pictures.p: spec bad.vl.json: not JSON"),
    (f'[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\nsql = "{HEAT}"\n'
     'spec = { mark = "point", encodng = {} }',
     "pictures.p: spec: Additional properties are not allowed \\('encodng' was unexpected\\)"),
    (f'[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\nsql = "{HEAT}"\n'
     'spec = { mark = "point", encoding.x = { field = "a", type = "quantitatve" } }',
     "pictures.p: spec.encoding.x.type: 'quantitatve' is not one of"),
    (f'[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\nsql = "{HEAT}"\n'
     'spec = { mark = "point", data = { values = [] } }', "brings data of its own"),
    (f'[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\nsql = "{HEAT}"\n'
     'spec = { layer = [{ mark = "point", data = { url = "https://example.org/a.csv" } }] }',
     "reads 'https://example.org/a.csv': a picture draws its queries' rows only"),
    (f'[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\nqueries = {{ a = "{HEAT}" }}\n'
     'spec = { layer = [{ mark = "point", data = { name = "b" } }] }',
     "reads the data set 'b', which no query of queries names"),
])
def test_every_mistake_names_the_file_and_the_picture(declare: Write, text: str,
                                                      problem: str) -> None:
    file = declare(text, bad="{ not json")
    with pytest.raises(PictureError, match=problem) as caught:
        load_pictures(file)
    assert str(caught.value).startswith(f"{file}: ")


@pytest.mark.parametrize(("sql", "spec", "problem"), [
    ("SELECT g.a FROM core.gone g", '{ mark = "point" }',
     "pictures.p: sql: Catalog Error: Table with name gone does not exist"),
    ("SELECT p.lon, p.lon AS lat FROM core.places p, core.places p2 WHERE p.lon = p2.lon",
     '{ mark = "point" }', None),
    ("SELECT p.lon AS a, p.lat AS a FROM core.places p", '{ mark = "point" }',
     "pictures.p: sql: columns named twice: a"),
    ("SELECT x.id_number_masked, x.id_number_masked::BLOB AS b FROM core.people x",
     '{ mark = "point" }', "pictures.p: sql: column b: a bytes value"),
    ("SELECT p.place_id FROM core.places p",
     '{ mark = { type = "image", url = "https://example.org/a.png" } }',
     "pictures.p: the drawing refers to something outside the page: "
     "'https://example.org/a.png'"),
    ("SELECT p.place_id FROM core.places p",
     '{ mark = "point", encoding.x = { field = "place_id", type = "nominal", '
     'aggregate = "no_such" } }', "pictures.p: spec"),
])
def test_what_fails_only_when_drawn_names_the_picture_too(
        warehouse: Path, declare: Write, sql: str, spec: str, problem: str | None) -> None:
    file = declare(f'[pictures.p]\ntitle_zh = "图"\ntitle_en = "p"\nsql = "{sql}"\n'
                   f"spec = {spec}")
    if problem is None:  # a table read twice is fine
        _draw(warehouse, file)
        return
    with pytest.raises(PictureError, match=problem):
        _draw(warehouse, file)
