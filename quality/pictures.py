"""A pack's pictures, declared as data: `pictures.toml` in the pack's folder.

Each `[pictures.<name>]` has its Chinese and English titles (`title_zh`, `title_en`), an
optional note in each language (`note_zh`, `note_en`), what it draws and how:

- `sql`: one query over the warehouse; its rows are the spec's data; or `queries`, a
  table of named queries, each a named data set the spec's layers read with
  `"data": {"name": "<query>"}` (e.g. points from one table, lines from another);
- `spec`: a Vega-Lite spec, inline (a TOML table) or the path of a `.vl.json` file in
  pictures.toml's folder. It brings no data of its own: no `url`, no top-level `data`.

The queries may read only the tables that quality.picture_reading allows (core and marts,
no personal column); the spec is checked against the Vega-Lite schema altair carries.
Every mistake is a PictureError naming the file and the picture, found when the file is
read, before anything is drawn. quality.picture_page draws them.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .picture_reading import QueryRefused, check_query

#: the file a pack declares its pictures in
PICTURES_FILE = "pictures.toml"
SPEC_SUFFIX = ".vl.json"
_KEYS = {"title_zh", "title_en", "note_zh", "note_en", "sql", "queries", "spec"}


class PictureError(ValueError):
    """A picture that cannot be drawn as declared: names the file and the picture."""

    def __init__(self, file: Path, picture: str | None, problem: str) -> None:
        where = f"{file}" if picture is None else f"{file}: pictures.{picture}"
        super().__init__(f"{where}: {problem}")
        self.file, self.picture = file, picture


@dataclass(frozen=True)
class Picture:
    name: str
    title_zh: str
    title_en: str
    #: data set name → SQL; the one query of `sql` has the name "" (the spec's own data)
    queries: dict[str, str]
    spec: dict[str, Any]
    note_zh: str = ""
    note_en: str = ""


@dataclass(frozen=True)
class PictureSet:
    """What a pack hands the engine for its pictures page."""

    pack: str
    title_zh: str
    title_en: str
    file: Path
    #: columns no picture may read (the pack's personal data: ciphertexts, link keys)
    withheld: frozenset[str] = field(default_factory=frozenset)

    def pictures(self) -> list[Picture]:
        return load_pictures(self.file, self.withheld)


def load_pictures(file: Path, withheld: frozenset[str] = frozenset()) -> list[Picture]:
    """The pictures `file` declares, in its order, each checked (see the module)."""
    try:
        declared = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise PictureError(file, None, f"cannot be read: {e}") from None
    extra = set(declared) - {"pictures"}
    if extra or not isinstance(declared.get("pictures"), dict) or not declared["pictures"]:
        raise PictureError(file, None, "declares its pictures as [pictures.<name>] tables "
                           f"and nothing else{f' (found {sorted(extra)})' if extra else ''}")
    return [_picture(file, name, table, withheld)
            for name, table in declared["pictures"].items()]


def _picture(file: Path, name: str, table: Any, withheld: frozenset[str]) -> Picture:
    def fail(problem: str) -> PictureError:
        return PictureError(file, name, problem)

    if not isinstance(table, dict):
        raise fail("is not a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise fail(f"unknown keys {unknown} (known: {sorted(_KEYS)})")
    for key in ("title_zh", "title_en"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise fail(f"needs {key}, a title")
    if ("sql" in table) == ("queries" in table):
        raise fail("needs either sql (one query) or queries (named queries), not both")
    queries = {"": table["sql"]} if "sql" in table else table["queries"]
    if not isinstance(queries, dict) or not queries or not all(
            isinstance(q, str) for q in queries.values()):
        raise fail("queries is a table of name = SQL")
    for query, sql in queries.items():
        try:
            check_query(sql, withheld)
        except QueryRefused as e:
            raise fail(f"{'sql' if query == '' else f'queries.{query}'}: {e}") from None
    spec = _spec(file, table.get("spec"), fail)
    _data_is_the_queries(spec, set(queries) - {""}, fail)
    _valid(spec, fail)
    return Picture(name, table["title_zh"].strip(), table["title_en"].strip(), dict(queries),
                   spec, str(table.get("note_zh", "")).strip(),
                   str(table.get("note_en", "")).strip())


def _spec(file: Path, value: Any, fail: Any) -> dict[str, Any]:
    if isinstance(value, str):
        path = file.parent / value
        if not value.endswith(SPEC_SUFFIX) or \
                not path.resolve().is_relative_to(file.parent.resolve()):
            raise fail(f"spec = {value!r}: name a {SPEC_SUFFIX} file in the folder of "
                       f"{file.name}")
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise fail(f"spec {value}: cannot be read ({e.strerror})") from None
        except json.JSONDecodeError as e:
            raise fail(f"spec {value}: not JSON ({e})") from None
    elif isinstance(value, dict):
        spec = value
    else:
        raise fail(f"needs spec: an inline table or the name of a {SPEC_SUFFIX} file")
    if not isinstance(spec, dict):
        raise fail("spec is not a Vega-Lite spec (an object)")
    return spec


def _valid(spec: dict[str, Any], fail: Any) -> None:
    """Check `spec` against the Vega-Lite schema as it will be drawn: with data (the
    schema requires it at the top of a facet or concatenation)."""
    drawn = {**spec, "data": {"values": []}}
    if _validator().is_valid(drawn):
        return
    # altair's check finds the error that explains the most (slower: only for a mistake)
    from altair.utils.schemapi import validate_jsonschema  # noqa: PLC0415
    from jsonschema import ValidationError  # noqa: PLC0415

    try:
        validate_jsonschema(drawn, vega_lite_schema())
    except ValidationError as e:
        at = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path)
        raise fail(f"spec{at}: {e.message} (Vega-Lite {vega_lite_version()})") from None
    raise fail(f"spec: not a Vega-Lite {vega_lite_version()} spec")


def _data_is_the_queries(spec: dict[str, Any], named: set[str], fail: Any) -> None:
    """The data a picture draws is its queries' rows: no file, no URL, no data of its own
    at the top, and every named data set one of its queries."""
    if "data" in spec or "datasets" in spec:
        raise fail("spec brings data of its own: its data are the rows of its query")
    for data in _data_blocks(spec):
        if "url" in data:
            raise fail(f"spec reads {data['url']!r}: a picture draws its queries' rows only")
        if "name" in data and data["name"] not in named:
            raise fail(f"spec reads the data set {data['name']!r}, which no query of "
                       f"queries names (named: {sorted(named)})")


def _data_blocks(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data" and isinstance(value, dict):
                yield value
            yield from _data_blocks(value)
    elif isinstance(node, list):
        for item in node:
            yield from _data_blocks(item)


@cache
def _validator() -> Any:
    from jsonschema.validators import validator_for  # noqa: PLC0415

    schema = vega_lite_schema()
    return validator_for(schema)(schema)  # the draft its $schema names


@cache
def vega_lite_schema() -> dict[str, Any]:
    """The Vega-Lite schema of the altair release installed (vl-convert renders with the
    same Vega-Lite version, `vega_lite_version`)."""
    from altair.vegalite.v6.schema import load_schema  # noqa: PLC0415

    return load_schema()


def vega_lite_version() -> str:
    """"6.4" for altair's "v6.4.1": the version vl-convert is asked to render with."""
    from altair.vegalite.v6.schema import SCHEMA_VERSION  # noqa: PLC0415

    return ".".join(SCHEMA_VERSION.lstrip("v").split(".")[:2])
