"""One bracket for every tracked run: outside warehouse/runs.py no pipeline module writes
the run ledger (ops.runs) or opens and closes a run by hand; steps use tracked_run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ("schemas", "connectors", "conform", "warehouse", "quality", "packs",
            "silobridge", "dags")
LEDGER = ROOT / "warehouse" / "runs.py"
BY_HAND = re.compile(r"(INSERT\s+INTO|UPDATE)\s+ops\.runs\b|\b(start_run|finish_run)\s*\(",
                     re.IGNORECASE)


def test_no_module_but_the_ledger_brackets_a_run_by_hand() -> None:
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for package in PIPELINE for path in sorted((ROOT / package).rglob("*.py"))
             if path != LEDGER
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if BY_HAND.search(line)]
    assert not found, "use warehouse.runs.tracked_run:\n" + "\n".join(found)


def test_the_scan_sees_a_bracket_by_hand() -> None:
    assert BY_HAND.search('con.execute("UPDATE ops.runs SET status = ?")')
    assert BY_HAND.search("start_run(con, run_id, 'gate', source)")
    assert not BY_HAND.search("with tracked_run(con, 'gate', source) as run:")
