"""Printing a pipeline run's summary for people (the CLI's tables)."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from .run import RunSummary


def print_run(summary: RunSummary, console: Console) -> None:
    table = Table("source", "read", "loaded", "quarantined", "duplicates", "seconds",
                  title="ingestion (this run)")
    for name, i in summary.ingests.items():
        table.add_row(name, f"{i.read:,}", f"{i.loaded:,}", f"{i.quarantined:,}",
                      f"{i.duplicates:,}", f"{i.seconds:.2f}")
    for name, error in summary.failures.items():
        table.add_row(f"[red]{name}[/]", "failed", "", "", "", "")
        console.print(f"[bold red]{name} failed:[/] {error}", highlight=False)
    console.print(table)
    reasons = sum((i.reasons for i in summary.ingests.values()), Counter())
    if reasons:
        console.print("quarantined for: " + ", ".join(
            f"{k} {v}" for k, v in reasons.most_common()), highlight=False)
    for source, gate in summary.gates.items():
        if gate.get("status") == "blocked":
            console.print(f"[bold red]{source} held back by its quality gate:[/] "
                          f"{gate.get('reason')}", highlight=False)
    if summary.merge:
        m = summary.merge
        link = m.link
        console.print(
            f"merge: {link['records']:,} records in {link['cases']:,} cases "
            f"({m.cases_new:,} new, {m.cases_changed:,} changed, {m.cases_removed:,} merged "
            f"away); {m.mode} merge, {m.cases_recomputed:,} cases recomputed; links"
            f"{' among them' if m.mode == 'incremental' else ''}: "
            f"{link['xref_edges']:,} by cross-reference, {link['rule_edges']:,} by evidence; "
            f"timeline +{m.timeline_added:,}, history +{m.history_opened:,}", highlight=False)
    for merged in summary.facts.values():
        for name, f in merged.tables.items():
            rejected = sum(f.rejected.values())
            console.print(
                f"facts {merged.pack}.{name}: {f.read:,} staged rows read, {f.inserted:,} "
                f"inserted, {f.replaced:,} replaced, {f.unchanged:,} unchanged, "
                f"{f.superseded:,} superseded, {f.too_late:,} too late, {rejected:,} "
                f"rejected; {f.deleted:,} deleted by complete batches", highlight=False)
    if summary.quality:
        q = summary.quality
        console.print(f"quality: {q.get('failed_critical', 0)} critical and "
                      f"{q.get('failed_warning', 0)} warning checks failed; report "
                      f"{q.get('reports', {}).get('quality', '')}", highlight=False)
        for pack, page in q.get("reports", {}).get("pictures", {}).items():
            console.print(f"pictures of {pack}: {page}", highlight=False)
