"""The differential run (bench.differential): two runs of the pipeline on the same world
checksum the same, and a changed row fails the comparison naming its table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from bench.differential.__main__ import main, run, tables


@pytest.fixture(scope="module")
def two_runs(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two homes, each the tiny world and one whole run of the pipeline on it."""
    homes = []
    for name in ("first", "second"):
        home = tmp_path_factory.mktemp("differential") / name
        shutil.copytree(tiny_world, home / "world")
        run(home)
        homes.append(home)
    return homes[0], homes[1]


def test_two_runs_on_one_world_checksum_the_same(two_runs: tuple[Path, Path]) -> None:
    first, second = (tables(home) for home in two_runs)
    assert first == second
    # every core, marts and snapshot table is there, with rows
    assert {"warehouse:core.cases", "warehouse:marts.open_cases", "snapshot:core.cases",
            "snapshot:meta.snapshot"} <= first.keys()
    assert first["warehouse:core.cases"][0] > 100
    assert first["warehouse:core.cases"] != first["warehouse:core.records"]


def test_a_changed_row_fails_the_comparison_naming_its_table(
        two_runs: tuple[Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    first, second = two_runs
    baseline = tmp_path / "baseline.json"
    assert main(["--existing", str(first), "--out", str(baseline)]) == 0
    assert main(["--existing", str(second), "--compare", str(baseline)]) == 0
    assert "every table the same" in capsys.readouterr().out
    changed = tmp_path / "changed"
    shutil.copytree(second, changed, symlinks=True)
    con = duckdb.connect(str(changed / "warehouse.duckdb"))
    try:
        con.execute("UPDATE core.cases SET status = status || '!' "
                    "WHERE case_id = (SELECT min(case_id) FROM core.cases)")
    finally:
        con.close()
    assert main(["--existing", str(changed), "--compare", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "warehouse:core.cases:" in out
    # the snapshot was not republished: only the warehouse's table (and the marts over
    # it) differ
    assert "snapshot:" not in out
    written = json.loads(baseline.read_text(encoding="utf-8"))
    assert written["tables"] == tables(first)
