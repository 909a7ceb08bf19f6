"""Score the linking against a mock world's answer key: pairwise precision and recall.

Every pair of core records put in the same case is a predicted link; every pair that
belongs to the same true dispute is a true link. Only records in core count (rows the
quarantine kept out are not there to be linked). The answer key belongs to the mock
world, so the score is operations tooling: the pipeline never reads the key.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from silobridge.settings import Settings
from warehouse.db import session


@dataclass(frozen=True)
class LinkScore:
    records: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self) | {"precision": round(self.precision, 4),
                               "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def truth(answer_key: Path) -> dict[tuple[str, ...], str]:
    """(source, record key) or (source, origin, row) → true dispute id."""
    out: dict[tuple[str, ...], str] = {}
    with answer_key.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            out[(r["source"], r["origin"], r["row"])] = r["dispute_id"]
            if r["record_key"]:
                out[(r["source"], r["record_key"])] = r["dispute_id"]
    return out


def score_linking(con: duckdb.DuckDBPyConnection, answer_key: Path) -> LinkScore:
    known = truth(answer_key)
    rows = con.execute("""
        SELECT c.source, c.source_record_id, c.origin, c.row_no, c.case_id,
               r.record->>'id' AS province_id
        FROM core.records c JOIN raw.records r USING (batch_id, row_no)""").fetchall()
    predicted, actual, both = Counter(), Counter(), Counter()
    scored = 0
    for source, record_id, origin, row_no, case_id, province_id in rows:
        key = province_id if source == "province" else record_id
        dispute = known.get((source, key)) or known.get((source, origin, str(row_no)))
        if dispute is None:
            continue
        scored += 1
        predicted[case_id] += 1
        actual[dispute] += 1
        both[(case_id, dispute)] += 1
    return LinkScore(records=scored,
                     true_pairs=sum(_pairs(n) for n in actual.values()),
                     predicted_pairs=sum(_pairs(n) for n in predicted.values()),
                     correct_pairs=sum(_pairs(n) for n in both.values()))


def score_home(settings: Settings) -> LinkScore | None:
    """Linking precision and recall of the home's warehouse, when the home's world has an
    answer key."""
    answer_key = settings.world_dir / "answer_key" / "records.csv"
    if not answer_key.exists():
        return None
    with session(settings.warehouse_path) as con:
        return score_linking(con, answer_key)
