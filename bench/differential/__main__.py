"""`python -m bench.differential`: generate a world, run the whole pipeline on it in a
fresh home, write the content checksums of every core, marts and snapshot table as JSON;
with --compare, name the tables that differ from an earlier file and exit 1 if any do.

What runs is `silobridge run` (ingest and gate every source, merge, quality and reports,
the snapshot), the province served by the mock gateway without injected failures. The
sync to the province (`silobridge sync`, the demo's second half) is left out: it writes
to the province's store and only the marts' sync_status reads it back.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.spec import WorldSpec
from packs.disputes.mockworld.world import generate
from silobridge.run import run_pipeline
from silobridge.settings import Settings

from .checksums import ACROSS_COMMITS, checksums

ROOT = Path(__file__).resolve().parents[2]
#: the warehouse's schemas whose content is the pipeline's behaviour
WAREHOUSE_SCHEMAS = ("core", "marts")
#: the personal-data key of every differential run: the same key on both sides makes the
#: keyed links of ID and phone numbers comparable (a fixed public value: mock data only)
PII_KEY = hashlib.sha256(b"bench.differential").hexdigest()


def measure(spec: WorldSpec, home: Path) -> dict[str, Any]:
    """Generate the world of `spec` into `home` (a folder that must not hold one), run
    the pipeline there, and return its checksums with what produced them."""
    started = time.perf_counter()
    generate(home / "world", spec)
    generated = time.perf_counter()
    seconds = run(home)
    result = tables(home)
    return {
        "commit": _commit(),
        "world": asdict(spec),
        "ignored_columns": list(ACROSS_COMMITS),
        "seconds": {"generate": round(generated - started, 1),
                    "pipeline": round(seconds, 1),
                    "checksums": round(time.perf_counter() - generated - seconds, 1)},
        "tables": result,
    }


def run(home: Path) -> float:
    """Run the whole pipeline on the world in `home`; its seconds."""
    started = time.perf_counter()
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        summary = run_pipeline(Settings(home=home, pii_key=PII_KEY,
                                        province={"base_url": gateway.url}))
    if summary.failures:
        raise SystemExit(f"the pipeline failed: {summary.failures}")
    return time.perf_counter() - started


def tables(home: Path) -> dict[str, list[Any]]:
    """[rows, checksum] of every core and marts table of the home's warehouse and every
    table of its published snapshot, keyed "warehouse:schema.table" or "snapshot:..."."""
    found = {f"warehouse:{name}": value for name, value in checksums(
        home / "warehouse.duckdb", WAREHOUSE_SCHEMAS, ignore=ACROSS_COMMITS).items()}
    found |= {f"snapshot:{name}": value for name, value in checksums(
        home / "published" / "current" / "silobridge.duckdb", ignore=ACROSS_COMMITS).items()}
    return {name: list(value) for name, value in found.items()}


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One line per table whose rows or checksum differ, or that only one side has."""
    before, after = old["tables"], new["tables"]
    lines = []
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            lines.append(f"{name}: gone (had {before[name][0]} rows)")
        elif name not in before:
            lines.append(f"{name}: new ({after[name][0]} rows)")
        elif before[name] != after[name]:
            lines.append(f"{name}: {before[name][0]} rows {before[name][1]} -> "
                         f"{after[name][0]} rows {after[name][1]}")
    return lines


def _commit() -> str:
    """The commit the code was at, marked when the work tree had changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True,  # noqa: S603, S607
                              text=True, check=True).stdout.strip()
    try:
        head = git("rev-parse", "HEAD")
        return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no")
                       else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.differential",
                                     description=__doc__.split("\n\n")[0])
    default = WorldSpec()
    parser.add_argument("--cases", type=int, default=default.cases,
                        help=f"disputes in the world (default {default.cases})")
    parser.add_argument("--seed", type=int, default=default.seed)
    parser.add_argument("--days", type=int, default=default.days)
    parser.add_argument("--defect-rate", type=float, default=default.defect_rate)
    parser.add_argument("--out", type=Path, help="write the checksums here as JSON")
    parser.add_argument("--compare", type=Path, metavar="OLD.json",
                        help="name the tables that differ from this file; exit 1 if any")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--home", type=Path,
                       help="run in this new folder and keep it, instead of a temporary one")
    where.add_argument("--existing", type=Path, metavar="HOME",
                       help="run nothing: checksum a home the pipeline already ran in")
    args = parser.parse_args(argv)
    spec = WorldSpec(seed=args.seed, cases=args.cases, days=args.days,
                     defect_rate=args.defect_rate)
    if args.existing:
        result = {"commit": None, "home": str(args.existing),
                  "ignored_columns": list(ACROSS_COMMITS),
                  "tables": tables(args.existing)}
    elif args.home:
        result = measure(spec, args.home)
    else:
        scratch = Path(tempfile.mkdtemp(prefix="differential-"))
        try:
            result = measure(spec, scratch / "home")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    text = json.dumps(result, ensure_ascii=False, indent=1, default=str) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(f"{len(result['tables'])} tables; commit {result['commit']}; "
          f"seconds {result.get('seconds')}")
    if not args.compare:
        return 0
    old = json.loads(args.compare.read_text(encoding="utf-8"))
    lines = differences(old, result)
    print(f"against {args.compare} ({old.get('commit')}): "
          + (f"{len(lines)} tables differ" if lines else "every table the same"))
    for line in lines:
        print(f"  {line}")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
