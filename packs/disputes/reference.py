"""The dispute pack's reference: the division and grid registry (ref.divisions,
ref.grids) its mappings' lookups and checks and DisputeCase's validators consult.

The province, its cities, counties and townships come from the vendored NBS codes
(schemas.divisions), with the old names legacy exports still use
(schemas/reference/divisions/former_names.csv); villages and grids from the grid system's
registry folder (villages.csv, grids.csv, as the mock world writes them). Loading
replaces the previous contents in one transaction. `DivisionRegistry` holds the codes as
DisputeCase's validators ask for them (models.Registry) and as its SQL twins read
them (schemas.model_sql.REGISTRY_VIEW).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb
import pyarrow as pa

from schemas import divisions
from schemas.model_sql import REGISTRY_VIEW
from warehouse.db import transaction

DDL = """
CREATE SCHEMA IF NOT EXISTS ref;
CREATE TABLE IF NOT EXISTS ref.divisions (code VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,
  level VARCHAR NOT NULL, parent_code VARCHAR, kind VARCHAR, former_names VARCHAR[]);
CREATE TABLE IF NOT EXISTS ref.grids (code VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,
  village_code VARCHAR NOT NULL);
"""
#: separators of several former names in one registry cell
_FORMER_SPLIT = re.compile(r"[;；|、,，]")

_DIVISION_SCHEMA = pa.schema([("code", pa.string()), ("name", pa.string()),
                              ("level", pa.string()), ("parent_code", pa.string()),
                              ("kind", pa.string()), ("former_names", pa.list_(pa.string()))])
_GRID_SCHEMA = pa.schema([("code", pa.string()), ("name", pa.string()),
                          ("village_code", pa.string())])


def _county_kind(name: str) -> str | None:
    return name[-1] if name[-1:] in ("区", "县", "市") else None


def _division_rows(registry_dir: Path | None) -> list[dict[str, object]]:
    divs = divisions.load()
    former: dict[str, list[str]] = {}
    for f in divs.former_names:
        former.setdefault(f.current_code, []).append(f.former_name)
    rows: list[dict[str, object]] = [
        {"code": p.code, "name": p.name, "level": "province", "parent_code": None,
         "kind": None, "former_names": []} for p in divs.provinces.values()]
    rows += [
        {"code": c.code, "name": c.name, "level": "city", "parent_code": c.parent,
         "kind": None, "former_names": []} for c in divs.cities.values()]
    rows += [
        {"code": c.code, "name": c.name, "level": "county", "parent_code": c.parent,
         "kind": _county_kind(c.name), "former_names": former.get(c.code, [])}
        for c in divs.counties.values()]
    rows += [
        {"code": t.code, "name": t.name, "level": "township", "parent_code": t.parent,
         "kind": divisions.township_kind(t.code),
         "former_names": former.get(t.code, [])}
        for t in divs.townships.values()]
    if registry_dir is not None:
        with (registry_dir / "villages.csv").open(encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                names = [n.strip() for n in _FORMER_SPLIT.split(r.get("former_names") or "")]
                rows.append({"code": r["code"], "name": r["name"], "level": "village",
                             "parent_code": r["town_code"], "kind": r.get("kind") or None,
                             "former_names": [n for n in names if n]})
    return rows


def _grid_rows(registry_dir: Path | None) -> list[dict[str, object]]:
    if registry_dir is None:
        return []
    with (registry_dir / "grids.csv").open(encoding="utf-8", newline="") as f:
        return [{"code": r["code"], "name": r["name"], "village_code": r["village_code"]}
                for r in csv.DictReader(f)]


def load_reference(con: duckdb.DuckDBPyConnection, registry_dir: Path | None) -> dict[str, int]:
    """Fill ref.divisions and ref.grids, replacing what they held; returns row counts.

    Without `registry_dir` only the province, cities, counties and townships are loaded
    (no villages or grids).
    """
    division_table = pa.Table.from_pylist(_division_rows(registry_dir), _DIVISION_SCHEMA)
    grid_table = pa.Table.from_pylist(_grid_rows(registry_dir), _GRID_SCHEMA)
    con.execute(DDL)
    con.register("_ref_divisions", division_table)
    con.register("_ref_grids", grid_table)
    try:
        with transaction(con, "reference"):
            con.execute("DELETE FROM ref.grids")
            con.execute("DELETE FROM ref.divisions")
            con.execute("INSERT INTO ref.divisions SELECT * FROM _ref_divisions")
            con.execute("INSERT INTO ref.grids SELECT * FROM _ref_grids")
    finally:
        con.unregister("_ref_divisions")
        con.unregister("_ref_grids")
    return {"divisions": division_table.num_rows, "grids": grid_table.num_rows}


class DivisionRegistry:
    """The reference divisions and grids, held as sets for the model's registry checks."""

    def __init__(self, townships: set[str], villages: set[str], grids: set[str]) -> None:
        self.townships = townships
        self.villages = villages
        self.grids = grids
        self._counties_with_villages = {v[:6] for v in villages}

    @classmethod
    def from_warehouse(cls, con: duckdb.DuckDBPyConnection) -> DivisionRegistry:
        def codes(sql: str) -> set[str]:
            return {c for (c,) in con.execute(sql).fetchall()}

        return cls(codes("SELECT code FROM ref.divisions WHERE level = 'township'"),
                   codes("SELECT code FROM ref.divisions WHERE level = 'village'"),
                   codes("SELECT code FROM ref.grids"))

    def has_township(self, code: str) -> bool:
        return code in self.townships

    def has_village(self, code: str) -> bool:
        return code in self.villages

    def has_grid(self, code: str) -> bool:
        return code in self.grids

    def covers_villages_of(self, county: str) -> bool:
        return county in self._counties_with_villages


def registry_views(registry: DivisionRegistry | None) -> dict[str, pa.Table]:
    """The registry's codes as the SQL twins of DisputeCase's validators read them."""
    kinds = {} if registry is None else {
        "township": registry.townships, "village": registry.villages, "grid": registry.grids}
    codes = [(c, k) for k, cs in kinds.items() for c in cs]
    return {REGISTRY_VIEW: pa.table({"code": pa.array([c for c, _ in codes], pa.string()),
                                     "kind": pa.array([k for _, k in codes], pa.string())})}
