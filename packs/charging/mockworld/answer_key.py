"""The answer key: the truth about every listing and every injected defect.

stations.csv    one row per physical station (WGS-84 position, town, transformer)
listings.csv    every station listing (operator StationID or register id) → physical station
connectors.csv  every operator ConnectorID → physical connector, with its rated power
defects.csv     every injected defect: source, origin file, record, field, kind
operators.json  each operator's id, name, secrets and quirks

Columns are collected as arrays and written once, sorted, so that the files are the same
bytes for the same seed whatever order the parts of the world were generated in.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

DEFECT_COLUMNS = ("source", "origin", "record", "field", "kind")

README = """# Answer key (never read by the pipeline)

| file | one row per |
| --- | --- |
| stations.csv | physical station: key, true name, town code, WGS-84 lng/lat, transformer |
| listings.csv | listing of a station by a source (operator id or `register`) |
| connectors.csv | operator ConnectorID, with the physical connector and its rated kW |
| defects.csv | injected defect: source, origin (path under the world), record, field, kind |
| operators.json | operator id, name, protocol secrets and quirks |

`record` names the record inside its origin: StartChargeSeq (orders), `ConnectorID@HH:MM`
or `ConnectorID@HH:MM-HH:MM` (statuses: a stretch), `segment@HH:MM[-HH:MM]` (traffic),
`park@HH:MM[-HH:MM]` (parking), `transformer@Pnn` (grid), the register id, or the
hand-kept table's line number.
"""


class AnswerKey:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._defects: list[dict[str, np.ndarray]] = []

    def defects(self, source: str, origin: str, record: np.ndarray | list[str], field: str,
                kind: str) -> None:
        record = np.asarray(record, dtype=str)
        n = len(record)
        if n:
            self._defects.append({"source": np.full(n, source), "origin": np.full(n, origin),
                                  "record": record, "field": np.full(n, field),
                                  "kind": np.full(n, kind)})

    def write_table(self, name: str, columns: dict[str, np.ndarray | list]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        table = pa.table({k: pa.array(np.asarray(v).tolist()) for k, v in columns.items()})
        pacsv.write_csv(table, self.folder / name)

    def close(self, operators: list[dict[str, object]]) -> None:
        cols = {c: np.concatenate([d[c] for d in self._defects]) if self._defects
                else np.array([], dtype=str) for c in DEFECT_COLUMNS}
        order = np.lexsort([cols[c] for c in reversed(DEFECT_COLUMNS)])
        self.write_table("defects.csv", {c: cols[c][order] for c in DEFECT_COLUMNS})
        (self.folder / "operators.json").write_text(
            json.dumps(operators, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
            encoding="utf-8")
        (self.folder / "README.md").write_text(README, encoding="utf-8")
