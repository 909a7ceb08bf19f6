"""Grid: the district grid office's distribution transformers (台区), their 96-point daily
load curves exported as one XLSX per day, and the hand-kept station → transformer table.

A transformer's load is its own customers' curve plus the charging power of the stations
it feeds (from the day's simulated sessions), so 峰上加峰 is in the data, not asserted.
Defects: blank points, negative readings, a ×10 spike; in the hand-kept table, a mistyped
transformer number. The table covers ~70 % of stations: the rest must be matched by place.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import numpy as np
import xlsxwriter

from . import geo
from .answer_key import AnswerKey
from .rng import stream
from .sites import Sites
from .spec import QUARTERS_PER_DAY, WorldSpec

#: the customers' own load by hour, relative to the transformer's rating
HOUR_LOAD = np.array([0.3, 0.27, 0.25, 0.24, 0.24, 0.26, 0.33, 0.42, 0.5, 0.52, 0.53, 0.55,
                      0.52, 0.5, 0.5, 0.52, 0.55, 0.62, 0.7, 0.72, 0.68, 0.58, 0.45, 0.36])
HEADER = ["台区编号", "台区名称", "额定容量(kVA)", "日期",
          *[f"P{i:03d}" for i in range(1, QUARTERS_PER_DAY + 1)]]


def transformers(spec: WorldSpec, sites: Sites) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Transformers (one per two stations, plus some feeding no station) and the true
    transformer of each station."""
    r = stream(spec.seed, "transformers")
    n_st = len(sites.key)
    n = n_st // 2 + 10
    feeds = r.integers(0, n_st // 2, n_st)  # station → transformer
    home = np.full(n, -1)
    home[feeds] = np.arange(n_st)
    dlng, dlat = geo.metres_to_degrees(120.0)
    towns = geo.towns()
    lone = r.integers(0, len(towns), n)
    lng = np.where(home >= 0, sites.lng[np.maximum(home, 0)],
                   np.array([towns[t].lng for t in lone])) + r.normal(0, dlng, n)
    lat = np.where(home >= 0, sites.lat[np.maximum(home, 0)],
                   np.array([towns[t].lat for t in lone])) + r.normal(0, dlat, n)
    ids = np.char.add("TQ3101140", np.char.zfill(np.arange(1, n + 1).astype(str), 4))
    return {"id": ids, "name": np.array([f"{geo.ROADS[i % len(geo.ROADS)]}{i + 1}号配变"
                                         for i in range(n)]),
            "kva": r.choice([400, 630, 800, 1000, 1250], n),
            "lng": lng.round(6), "lat": lat.round(6)}, feeds


def write_day(folder: Path, spec: WorldSpec, tr: dict[str, np.ndarray], feeds: np.ndarray,
              station_kw: np.ndarray, day_no: int, key: AnswerKey) -> np.ndarray:
    """`station_kw`: stations × 96 mean charging kW. Returns the true load (kW)."""
    r = stream(spec.seed, "grid", day_no)
    n = len(tr["id"])
    q = np.arange(QUARTERS_PER_DAY)
    base = (tr["kva"][:, None] * 0.9 * HOUR_LOAD[q // 4] * r.uniform(0.5, 1.1, n)[:, None]
            * (1 + r.normal(0, 0.03, (n, QUARTERS_PER_DAY))))
    charging = np.zeros((n, QUARTERS_PER_DAY))
    np.add.at(charging, feeds, station_kw)
    load = np.round(base + charging, 2)
    shown: np.ndarray = load.astype(object)
    kinds = {}
    taken = np.zeros(load.shape, bool)
    for kind, rate in (("blank_point", 2.0), ("negative_load", 1.0), ("load_spike", 1.0)):
        hit = r.random((n, QUARTERS_PER_DAY)) < spec.defect_rate * rate / QUARTERS_PER_DAY * 4
        hit &= ~taken  # one defect per point, so each stays what the key says
        taken |= hit
        kinds[kind] = np.nonzero(hit)
        shown[hit] = {"blank_point": None, "negative_load": -load[hit],
                      "load_spike": load[hit] * 10}[kind]
    day = spec.day(day_no)
    name = f"嘉定供电台区负荷_{day:%Y%m%d}.xlsx"
    folder.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(folder / name), {"in_memory": True})
    wb.set_properties({"created": datetime(2024, 1, 1), "author": "国网上海嘉定供电公司"})
    ws = wb.add_worksheet("96点负荷")
    ws.write_row(0, 0, HEADER)
    for i in range(n):
        ws.write_row(i + 1, 0, [tr["id"][i], tr["name"][i], int(tr["kva"][i]), day.isoformat()])
        for t in range(QUARTERS_PER_DAY):
            if shown[i, t] is not None:
                ws.write_number(i + 1, 4 + t, float(shown[i, t]))
    wb.close()
    for kind, (ti, qi) in kinds.items():
        key.defects("grid", f"grid/{name}",
                    [f"{tr['id'][i]}@P{t + 1:03d}" for i, t in zip(ti, qi, strict=True)],
                    "P", kind)
    return load


def write_transformers(folder: Path, tr: dict[str, np.ndarray]) -> None:
    """The office's list of transformers with their GIS positions (CGCS2000 ≈ WGS-84)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["台区编号", "台区名称", "额定容量(kVA)", "经度", "纬度"])
    w.writerows(zip(tr["id"], tr["name"], tr["kva"], tr["lng"], tr["lat"], strict=True))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "transformers.csv").write_bytes(out.getvalue().encode("utf-8-sig"))


def write_station_table(folder: Path, spec: WorldSpec, sites: Sites, reg_no: np.ndarray,
                        tr: dict[str, np.ndarray], feeds: np.ndarray, key: AnswerKey) -> None:
    """The grid office's hand-kept table: station name, register number (when the clerk
    had it), transformer. UTF-8 with BOM, as Excel saves "CSV UTF-8"."""
    r = stream(spec.seed, "station-table")
    kept = np.nonzero(r.random(len(sites.key)) < 0.7)[0]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["序号", "充电站名称", "登记编号", "台区编号", "台区名称", "备注"])
    typos = []
    for line, s in enumerate(kept.tolist(), start=1):
        code = str(tr["id"][feeds[s]])
        if r.random() < spec.defect_rate * 3:
            code = code.replace("TQ3101140", "TQ310114O")  # letter O for a zero
            typos.append(str(line + 1))  # file line: the header is line 1
        w.writerow([line, sites.name[s], reg_no[s] if r.random() < 0.8 else "", code,
                    tr["name"][feeds[s]], "" if r.random() < 0.9 else "待核实"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "station_transformer.csv").write_bytes(out.getvalue().encode("utf-8-sig"))
    key.defects("grid", "grid/station_transformer.csv", typos, "台区编号", "unknown_transformer")
