"""Generate a charging world: `generate(folder, spec)` writes every source and the answer
key. The same spec gives the same bytes; the world is built beside `folder` and moved into
place at the end, so an interrupted run never leaves half a world behind.

Days are generated one at a time and written as they are made: memory stays at one day's
matrices (connectors × 288), whatever `days` is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from . import geo, grid, parking, register, traffic
from .activity import simulate
from .answer_key import AnswerKey
from .ids import plates, vins
from .operator_store import Catalogue, write_catalogue, write_orders, write_statuses
from .operators import operators
from .rng import stream
from .sites import Sites, build
from .spec import QUARTERS_PER_DAY, SLOTS_PER_DAY, Layout, WorldSpec

README = """# A charging mock world (Jiading district, Shanghai)

- operators/<OperatorID>/  each operator's store, served over the 互联互通 protocol by
                           packs.charging.mockworld.server.OperatorServer
- register/register.sqlite the city's station register (t_station_register)
- traffic/                 segments.csv and one GBK CSV of 5-minute counts per day
- parking/                 one JSON Lines file of 15-minute car-park snapshots per day (BD-09)
- grid/                    transformers.csv, the hand-kept station_transformer.csv and one
                           XLSX of 96-point transformer loads per day
- answer_key/              the truth (never read by the pipeline); see its README.md
"""


def generate(out: Path, spec: WorldSpec) -> dict[str, int]:
    """Write a new world into `out` (replacing a world there); returns row counts."""
    layout = Layout(out)
    if out.exists() and any(out.iterdir()) and not layout.manifest.exists():
        raise FileExistsError(f"{out} is not empty and holds no charging world")
    build_dir = out.parent / f".{out.name}.building"
    if build_dir.exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True)
    counts = _write(Layout(build_dir), spec)
    if out.exists():
        shutil.rmtree(out)
    build_dir.rename(out)
    return counts


def _write(layout: Layout, spec: WorldSpec) -> dict[str, int]:
    root = layout.root
    key = AnswerKey(layout.answer_key)
    sites = build(spec)
    ops = operators(spec.operators)
    cats = [write_catalogue(root, spec, sites, i, op, key) for i, op in enumerate(ops)]
    reg_no, refiled = register.write(layout.register, spec, sites, ops, key)
    seg = traffic.segments(spec)
    traffic.write_segments(layout.traffic, seg)
    parks = parking.car_parks(spec, sites)
    tr, feeds = grid.transformers(spec, sites)
    grid.write_transformers(layout.grid, tr)
    grid.write_station_table(layout.grid, spec, sites, reg_no, tr, feeds, key)
    pool = max(500, len(sites.c_equipment))
    vr = stream(spec.seed, "vehicles")
    vin_list: list[str | None] = list(vins(vr, pool))
    for i in np.nonzero(vr.random(pool) < 0.1)[0]:   # chargers that do not read the VIN
        vin_list[i] = None
    vehicles = (vin_list, plates(vr, pool))
    counts = {"stations": len(sites.key), "connectors": len(sites.c_equipment),
              "statuses": 0, "orders": 0}
    # connectors are numbered station by station: one reduceat sums a station's guns
    starts = np.searchsorted(sites.c_station, np.arange(len(sites.key)))
    for d in range(spec.days):
        day = simulate(spec, sites, d, pool)
        for i, cat in enumerate(cats):
            counts["statuses"] += write_statuses(root, spec, cat, d, day, key)
            counts["orders"] += write_orders(root, spec, sites, cats, i, d, day, vehicles, key)
        station_kw = np.add.reduceat(day.power, starts, axis=0)
        station_kw = station_kw.reshape(len(sites.key), QUARTERS_PER_DAY,
                                        SLOTS_PER_DAY // QUARTERS_PER_DAY).mean(axis=2)
        traffic.write_day(layout.traffic, spec, seg, d, key)
        parking.write_day(layout.parking, spec, parks, d, key)
        grid.write_day(layout.grid, spec, tr, feeds, station_kw, d, key)
    _truth(key, sites, cats, reg_no, refiled, tr, feeds)
    key.close([{"OperatorID": c.operator.operator_id, "OperatorName": c.operator.name,
                **c.operator.secrets, "quirks": sorted(c.operator.quirks)} for c in cats])
    (root / "README.md").write_text(README, encoding="utf-8")
    layout.manifest.write_text(spec.to_json(), encoding="utf-8")
    return counts


def _truth(key: AnswerKey, sites: Sites, cats: list[Catalogue], reg_no: np.ndarray,
           refiled: list[tuple[str, int]], tr: dict[str, np.ndarray], feeds: np.ndarray) -> None:
    towns = [t.code for t in geo.towns()]
    key.write_table("stations.csv", {
        "station_key": sites.key, "name": sites.name,
        "town_code": np.array(towns)[sites.town], "lng": sites.lng, "lat": sites.lat,
        "connectors": np.bincount(sites.c_station, minlength=len(sites.key)),
        "transformer": tr["id"][feeds]})
    src, lid, sk = [], [], []
    for cat in cats:
        listed = np.nonzero(cat.station_id != "")[0]
        src += [cat.operator.operator_id] * len(listed)
        lid += cat.station_id[listed].tolist()
        sk += sites.key[listed].tolist()
    reg = np.nonzero(reg_no != "")[0]
    src += ["register"] * (len(reg) + len(refiled))
    lid += reg_no[reg].tolist() + [r for r, _ in refiled]
    sk += sites.key[reg].tolist() + [str(sites.key[s]) for _, s in refiled]
    key.write_table("listings.csv", {"source": src, "listing_id": lid, "station_key": sk})
    ops, cid, ck, kw = [], [], [], []
    for cat in cats:
        c = np.nonzero(cat.connector_id != "")[0]
        ops += [cat.operator.operator_id] * len(c)
        cid += cat.connector_id[c].tolist()
        ck += sites.connector_key(c).tolist()
        kw += sites.c_power[c].tolist()
    key.write_table("connectors.csv", {"operator_id": ops, "connector_id": cid,
                                       "connector_key": ck, "rated_kw": kw})
