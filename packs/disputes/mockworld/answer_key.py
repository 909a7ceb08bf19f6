"""The answer key: the truth about every source record, written beside the world.

records.csv  one row per source record (files: origin + row; databases: record key):
             the true dispute, when it was written, and the defect injected into it.
disputes.csv one row per true dispute, as things stand at the world's clock.
drift.csv    files whose columns drifted from their source's usual layout.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import TextIO

from .clock import fmt
from .defects import QUARANTINE_DEFECTS, Defect
from .disputes import Dispute

RECORD_COLUMNS = ["source", "origin", "row", "record_key", "dispute_id", "written_at",
                  "defect", "defect_field"]
DISPUTE_COLUMNS = ["dispute_id", "county_code", "town_code", "village_code", "grid_code",
                   "category", "path", "channel", "occurred_at", "reported_at", "level_now",
                   "status_now", "resolved_at", "closed_at"]

_README = """# Answer key

Written by the mock world beside its sources; the pipeline never reads it, tests and
benchmarks score the pipeline against it.

## records.csv
| column | meaning |
| --- | --- |
| source | province, county, township or grid |
| origin | files: path under the source's folder (XLSX: `file#sheet`); databases: table |
| row | files: line (header = 1) or sheet row where the record starts; county: case id |
| record_key | the source's own id of the record (empty where it keeps none: XLSX ledgers) |
| dispute_id | the true dispute the record belongs to |
| written_at | when this version of the record was written (world time, Asia/Shanghai) |
| defect | the injected defect, empty when clean |
| defect_field | the field the defect was put into |

Databases (county, province) list the current version of each record; files list every row.

## Defect kinds
| defect | what the pipeline must do |
| --- | --- |
{defects}

## disputes.csv
One row per true dispute with its life cycle as it stands at the world's clock
(`level_now`, `status_now`: open, resolved or closed).

## drift.csv
One row per file whose header differs from its source's usual layout: `expected` is the
usual column, `found` what the file has instead.
"""

_ACTION = {
    Defect.EXACT_DUPLICATE: "count as a duplicate, load once",
    Defect.NEAR_DUPLICATE: "load, and link to the same case as its twin",
}


class AnswerKey:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._files: list[TextIO] = []
        self._records = self._open("records.csv", RECORD_COLUMNS)
        self._disputes = self._open("disputes.csv", DISPUTE_COLUMNS)
        self._drift = self._open("drift.csv", ["source", "origin", "expected", "found"])

    def _open(self, name: str, header: list[str]) -> csv.writer:
        f = (self.folder / name).open("w", encoding="utf-8", newline="")
        self._files.append(f)
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        return w

    def record(self, source: str, origin: str, row: int | str, record_key: str,
               dispute_id: str, written_at: datetime, defect: Defect | None = None,
               field: str = "") -> None:
        self._records.writerow([source, origin, row, record_key, dispute_id, fmt(written_at),
                                defect.value if defect else "", field if defect else ""])

    def drift(self, source: str, origin: str, expected: str, found: str) -> None:
        self._drift.writerow([source, origin, expected, found])

    def dispute(self, d: Dispute, now: datetime) -> None:
        resolved = d.resolved_at if d.resolved_at and d.resolved_at < now else None
        closed = d.closed_at if d.closed_at and d.closed_at < now else None
        status = "closed" if closed else "resolved" if resolved else "open"
        reported = d.reported_at if d.reported_at < now else None
        self._disputes.writerow([
            d.id, d.county, d.town, d.village, d.grid.code if d.grid else "", d.category,
            d.path, d.channel.value, fmt(d.occurred_at), fmt(reported),
            int(d.level_at(now)), status, fmt(resolved), fmt(closed),
        ])

    def close(self) -> None:
        for f in self._files:
            f.close()
        rows = []
        for kind in Defect:
            what = "quarantine with a reason" if kind in QUARANTINE_DEFECTS else _ACTION[kind]
            rows.append(f"| {kind.value} | {what} |")
        (self.folder / "README.md").write_text(_README.format(defects="\n".join(rows)),
                                               encoding="utf-8")
