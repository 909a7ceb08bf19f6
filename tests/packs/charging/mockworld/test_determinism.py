"""Same spec, same bytes; another seed, another world; size follows the spec."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from packs.charging.mockworld.spec import SLOTS_PER_DAY, WorldSpec
from packs.charging.mockworld.world import generate


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_same_spec_writes_identical_bytes(tmp_path: Path) -> None:
    spec = WorldSpec(seed=3, stations=25, days=2)
    generate(tmp_path / "a", spec)
    generate(tmp_path / "b", spec)
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    for ext in (".parquet", ".xlsx", ".sqlite", ".jsonl", ".csv", ".json"):
        assert any(k.endswith(ext) for k in a), ext


def test_another_seed_gives_another_world(tmp_path: Path) -> None:
    generate(tmp_path / "a", WorldSpec(seed=3, stations=10, days=1))
    generate(tmp_path / "b", WorldSpec(seed=4, stations=10, days=1))
    assert (tmp_path / "a/answer_key/stations.csv").read_bytes() != \
        (tmp_path / "b/answer_key/stations.csv").read_bytes()


def _status_rows(world: Path) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows
               for p in world.glob("operators/*/status/*.parquet"))


def test_size_follows_stations_and_days(tmp_path: Path) -> None:
    small = generate(tmp_path / "s", WorldSpec(seed=1, stations=20, days=1))
    more = generate(tmp_path / "m", WorldSpec(seed=1, stations=60, days=1))
    longer = generate(tmp_path / "l", WorldSpec(seed=1, stations=20, days=3))
    assert more["connectors"] > 2 * small["connectors"]
    assert longer["statuses"] == 3 * small["statuses"]
    assert len(list((tmp_path / "l/traffic").glob("2026*.csv"))) == 3
    assert _status_rows(tmp_path / "s") == small["statuses"]
    # every listed connector has one status per 5 minutes
    assert small["statuses"] % SLOTS_PER_DAY == 0


def test_full_size_district_day(tmp_path: Path) -> None:
    """The benchmark's size: ≥ 5,000 connectors and ≥ 1.44M status rows in one day."""
    counts = generate(tmp_path / "w", WorldSpec(seed=16, stations=400, days=1))
    assert counts["connectors"] >= 5000
    assert counts["statuses"] >= 1_440_000 == 5000 * SLOTS_PER_DAY
    assert _status_rows(tmp_path / "w") == counts["statuses"]
    assert counts["orders"] > counts["connectors"]
