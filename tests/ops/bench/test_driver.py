"""The benchmark harness runs end to end on a tiny world (numbers are not judged here:
targets live in the benchmark), and the README shows the committed results."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from ops.bench.driver import MARKERS, run_bench

ROOT = Path(__file__).resolve().parents[3]


def test_the_harness_measures_every_step_and_baseline(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{MARKERS[0]}\nold\n{MARKERS[1]}\n\ntail\n", encoding="utf-8")
    results = run_bench([1500], tmp_path / "work", tmp_path / "out", readme, 200,
                        Console(quiet=True), mart_cases=5000)
    size = results["sizes"]["1500"]
    assert set(size["steps"]) == {"extract", "validate", "merge", "marts", "publish"}
    assert set(size["baselines"]) == {"floor", "naive", "dlt"}
    for r in [*size["steps"].values(), *size["baselines"].values()]:
        assert r["rows"] > 0 and r["seconds"] > 0 and r["peak_rss_mb"] > 50
    # everything extracted was accounted for by the validate step
    validate = size["steps"]["validate"]
    assert validate["rows"] == size["source_records"] == \
        validate["loaded"] + validate["quarantined"] + validate["duplicates"]
    assert size["baselines"]["naive"]["rows"] == size["baselines"]["dlt"]["rows"] == 200
    assert size["incremental"]["source_records"] > 0
    # the marts on the core copied until it holds the cases asked for
    scaled = size["marts_scaled"]
    assert scaled["rows"] >= 5000 and scaled["copies"] > 1
    assert set(scaled["queries"]) == set(size["steps"]["marts"]["queries"])
    assert {t["target"] for t in results["targets"]} >= {"peak RSS on that path"}
    written = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert written["targets"] == results["targets"]
    table = (tmp_path / "out" / "results.md").read_text(encoding="utf-8")
    assert readme.read_text(encoding="utf-8") == \
        f"# x\n\n{MARKERS[0]}\n{table}{MARKERS[1]}\n\ntail\n"


def test_the_readme_shows_the_committed_results() -> None:
    results = ROOT / "bench" / "results.md"
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split(MARKERS[0], 1)[1].split(MARKERS[1], 1)[0]
    if results.exists():
        assert block == "\n" + results.read_text(encoding="utf-8")
    else:
        assert "no results yet" in block
