"""`silobridge bench` / `make bench`: the pipeline at scale, beside its baselines, in one run.

For each size (source records: 100k and 1M by default, 10M with --ten-million) it
generates a mock world of that many source records (cached under the work folder),
serves its province gateway, and runs each step in a process of its own
(ops.bench.steps), so every step's wall time, rows/s and peak RSS are its own:

    extract → validate (conform + validate + land) → merge (linking timed apart) →
    marts (the standard mart queries) → publish (the analyst snapshot)

For the largest size, the standard mart queries also run on 10M cases: that size's merged
per-case tables copied under new case ids (a world that size takes hours to generate).

On the same data, in the same run: the floor (a bare DuckDB load of the source data with
no checks), the naive path (per-row pydantic validation and row-by-row inserts, on a
sample, scaled) and dlt (the same pydantic model as its contract, into DuckDB, on the
same sample); then an incremental run after the world moves on by about 1% of its days.

Writes bench/results.json and bench/results.md, and puts the table into README.md
between its bench markers. The targets are evaluated here, never in tests.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

#: source records per dispute on the default world (9,292 rows read for 4,000 disputes)
RECORDS_PER_DISPUTE = 2.32
PIPELINE = ("extract", "validate", "merge")
STEPS = (*PIPELINE, "marts", "publish")
MARKERS = ("<!-- bench:start -->", "<!-- bench:end -->")


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(line.split()[1]) for line in
                      Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem_kb = 0
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__,
            "platform": platform.platform()}


def _days(records: int) -> int:
    # a year of history from 100k records up; the default world's density below
    return 365 if records >= 100_000 else 60


def _world(work: Path, records: int, console: Any) -> Path:
    from packs.disputes.mockworld.spec import WorldSpec  # noqa: PLC0415
    from packs.disputes.mockworld.world import generate  # noqa: PLC0415

    world = work / f"world-{records}"
    if (world / "world.json").exists():
        return world
    shutil.rmtree(world, ignore_errors=True)
    cases = math.ceil(records / RECORDS_PER_DISPUTE)
    started = time.perf_counter()
    console.print(f"generating a world of about {records:,} source records "
                  f"({cases:,} disputes over {_days(records)} days)…")
    generate(world, WorldSpec(seed=2026, cases=cases, days=_days(records)))
    console.print(f"  generated in {time.perf_counter() - started:.0f} s")
    return world


def _step(step: str, home: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    proc = subprocess.run(  # noqa: S603 - our own module, arguments from this module
        [sys.executable, "-m", "ops.bench.steps", step, str(home), *extra],
        env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench step {step} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["rows_per_s"] = round(result["rows"] / result["seconds"]) if result["seconds"] else 0
    return result


def run_size(work: Path, records: int, sample: int, console: Any,
             mart_cases: int | None = None) -> dict[str, Any]:
    from packs.disputes.mockworld.gateway import ProvinceGateway  # noqa: PLC0415
    from packs.disputes.mockworld.world import advance  # noqa: PLC0415

    world = _world(work, records, console)
    home = work / f"home-{records}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copytree(world, home / "world")
    out: dict[str, Any] = {"records_target": records, "steps": {}, "baselines": {}}
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        env = {**os.environ, "SILOBRIDGE_HOME": str(home),
               "SILOBRIDGE_PROVINCE__BASE_URL": gateway.url,
               "SILOBRIDGE_PROVINCE__PAGE_SIZE": "500", "SILOBRIDGE_LOG_LEVEL": "WARNING"}
        for step in STEPS:
            console.print(f"  {records:,}: {step}…")
            out["steps"][step] = _step(step, home, env)
        path = out["steps"]
        out["source_records"] = path["extract"]["rows"]
        out["to_core"] = {
            "seconds": round(sum(path[s]["seconds"] for s in PIPELINE), 2),
            "peak_rss_mb": max(path[s]["peak_rss_mb"] for s in PIPELINE),
            "link_seconds": path["merge"]["link_seconds"]}
        out["to_core"]["rows_per_s"] = round(out["source_records"] / out["to_core"]["seconds"])
        if mart_cases:
            console.print(f"  {records:,}: marts on {mart_cases:,} cases…")
            out["marts_scaled"] = _step("marts_scaled", home, env, str(mart_cases))
        for step in ("floor", "naive", "dlt"):
            console.print(f"  {records:,}: baseline {step}…")
            extra = (str(min(sample, records)),) if step != "floor" else ()
            out["baselines"][step] = _step(step, home, env, *extra)
        # about 1% more days, then the same path again
        days = max(1, round(_days(records) * 0.01))
        advance(home / "world", days)
        console.print(f"  {records:,}: incremental (+{days} days)…")
        incremental = {s: _step(s, home, env) for s in PIPELINE}
        out["incremental"] = {
            "days": days, "source_records": incremental["extract"]["rows"],
            "seconds": round(sum(r["seconds"] for r in incremental.values()), 2),
            "steps": incremental}
    return out


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the benchmark issue against what was measured."""
    sizes = sorted(results["sizes"].values(), key=lambda r: r["source_records"])
    big = sizes[-1]
    small = sizes[0]
    path = big["to_core"]
    base = big["baselines"]
    ours_validate = big["steps"]["validate"]["rows_per_s"]
    marts = big.get("marts_scaled") or big["steps"]["marts"]
    n = big["source_records"]
    # targets stated for 1M records, scaled to the size measured (none is sub-linear)
    scale = n / 1_000_000
    targets = [
        (f"extract → merged core, {n:,} records", f"≤ {10 * scale:.2f} s (10 s at 1M)",
         path["seconds"], path["seconds"] <= 10 * scale),
        ("peak RSS on that path", "≤ 1.5 GiB", f"{path['peak_rss_mb'] / 1024:.2f} GiB",
         path["peak_rss_mb"] <= 1536),
        ("path vs the floor (bare DuckDB load)", "≤ 3×",
         f"{path['seconds'] / base['floor']['seconds']:.1f}×",
         path["seconds"] <= 3 * base["floor"]["seconds"]),
        ("validation vs the naive path (rows/s)", "≥ 5×",
         f"{ours_validate / base['naive']['rows_per_s']:.1f}×",
         ours_validate >= 5 * base["naive"]["rows_per_s"]),
        ("validation vs dlt (rows/s)", "≥ 2×",
         f"{ours_validate / base['dlt']['rows_per_s']:.1f}×",
         ours_validate >= 2 * base["dlt"]["rows_per_s"]),
        ("incremental run, ~1% new data, vs a full load", "≤ 5%",
         f"{100 * big['incremental']['seconds'] / path['seconds']:.0f}%",
         big["incremental"]["seconds"] <= 0.05 * path["seconds"]),
        (f"linking, {n:,} records", f"≤ {60 * scale:.1f} s (60 s at 1M)",
         big["to_core"]["link_seconds"], big["to_core"]["link_seconds"] <= 60 * scale),
        (f"slowest standard mart query, {marts['rows']:,} cases",
         "≤ 1 s (at 10M cases)", marts["slowest_query_s"],
         marts["slowest_query_s"] <= 1 and marts["rows"] >= 10_000_000),
    ]
    if big is not small:
        ratio_in = big["source_records"] / small["source_records"]
        ratio_t = path["seconds"] / small["to_core"]["seconds"]
        targets.append((f"{ratio_in:.0f}× the input", f"≤ {1.05 * ratio_in:.1f}× the time",
                        f"{ratio_t:.1f}×", ratio_t <= 1.05 * ratio_in))
        ratio_m = path["peak_rss_mb"] / small["to_core"]["peak_rss_mb"]
        targets.append((f"peak RSS at {ratio_in:.0f}× the input", "flat (≤ 1.1×)",
                        f"{ratio_m:.1f}× ({small['to_core']['peak_rss_mb']:,.0f} → "
                        f"{path['peak_rss_mb']:,.0f} MB)", ratio_m <= 1.1))
    return [{"target": t, "wanted": w, "measured": m, "met": bool(ok)}
            for t, w, m, ok in targets]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"Measured {results['finished_at'][:16].replace('T', ' ')} UTC on {m['cpu']}, "
             f"{m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
             f"DuckDB {m['duckdb']}; each step in its own process.", ""]
    for size in results["sizes"].values():
        lines += [f"**{size['source_records']:,} source records**", "",
                  "| step | rows | seconds | rows/s | peak RSS (MB) |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for name, r in size["steps"].items():
            lines.append(f"| {name} | {r['rows']:,} | {r['seconds']:.2f} | "
                         f"{r['rows_per_s']:,} | {r['peak_rss_mb']:,.0f} |")
        t = size["to_core"]
        lines.append(f"| **extract → merged core** | {size['source_records']:,} | "
                     f"**{t['seconds']:.2f}** | {t['rows_per_s']:,} | "
                     f"{t['peak_rss_mb']:,.0f} |")
        lines.append(f"| of which linking | | {t['link_seconds']:.2f} | | |")
        if "marts_scaled" in size:
            r = size["marts_scaled"]
            lines.append(f"| marts on the core copied {r['copies']}× (slowest query "
                         f"{r['slowest_query_s']:.2f} s) | {r['rows']:,} | {r['seconds']:.2f} "
                         f"| {r['rows_per_s']:,} | {r['peak_rss_mb']:,.0f} |")
        for name, r in size["baselines"].items():
            label = {"floor": "baseline: bare DuckDB load (floor)",
                     "naive": "baseline: per-row pydantic + row inserts (sample)",
                     "dlt": "baseline: dlt with the pydantic contract (sample)"}[name]
            lines.append(f"| {label} | {r['rows']:,} | {r['seconds']:.2f} | "
                         f"{r['rows_per_s']:,} | {r['peak_rss_mb']:,.0f} |")
        inc = size["incremental"]
        lines.append(f"| incremental (+{inc['days']} days, extract → core) | "
                     f"{inc['source_records']:,} | {inc['seconds']:.2f} | | |")
        lines.append("")
    lines += ["| target | wanted | measured | met |", "| --- | --- | --- | --- |"]
    for t in results["targets"]:
        lines.append(f"| {t['target']} | {t['wanted']} | {t['measured']} | "
                     f"{'yes' if t['met'] else '**no**'} |")
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], out_dir: Path, readme: Path | None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False)
                                          + "\n", encoding="utf-8")
    table = markdown(results)
    (out_dir / "results.md").write_text(table, encoding="utf-8")
    if readme is not None and readme.exists():
        text = readme.read_text(encoding="utf-8")
        start, end = MARKERS
        if start in text and end in text:
            head, rest = text.split(start, 1)
            _, tail = rest.split(end, 1)
            readme.write_text(f"{head}{start}\n{table}{end}{tail}", encoding="utf-8")


def run_bench(sizes: list[int], work: Path, out_dir: Path, readme: Path | None,
              sample: int, console: Any, mart_cases: int = 10_000_000) -> dict[str, Any]:
    """Measure each size; the standard mart queries also on `mart_cases` cases (the
    largest size's core copied as often as it takes)."""
    results: dict[str, Any] = {"machine": machine(),
                               "started_at": datetime.now(UTC).isoformat(), "sizes": {}}
    for records in sizes:
        results["sizes"][str(records)] = run_size(
            work, records, sample, console, mart_cases if records == max(sizes) else None)
        # written after every size: a long run that stops later keeps what it measured
        results["finished_at"] = datetime.now(UTC).isoformat()
        results["targets"] = evaluate(results)
        write(results, out_dir, readme)
    return results


def rerender(out_dir: Path, readme: Path | None) -> dict[str, Any]:
    """Evaluate and write the tables again from results.json, without measuring."""
    results = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
    results["targets"] = evaluate(results)
    write(results, out_dir, readme)
    return results
