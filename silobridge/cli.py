"""The `silobridge` command: a thin layer over the step functions.

Each command parses its arguments, calls one library function and prints the result
(a table for people, one JSON document with --json for scripts). Long steps show live
progress lines on stderr when stdout and stderr are terminals (silobridge.progress).

A command that fails says why in one line on stderr, without a traceback, and exits
with the code of its kind (EXIT_CODES): an operator's mistake names the setting or
option to change and what it allows (a setting out of range: one line per bad field; a
personal-data key of the wrong length or encoding; a port another process holds; a
database driver not installed); a fault of the machine names the fault (the warehouse
locked by another process past the wait, a full disk, a warehouse error). With --json it
also prints {"error": {"kind": ..., "message": ...}} on stdout. Commands that write hold
the pipeline lock (warehouse.db.pipeline_lock) for their whole run.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import duckdb
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connectors.errors import MissingDriverError, SourceError
from warehouse.db import WarehouseError, WarehouseLockedError, pipeline_lock, set_lock_wait

from . import progress
from .packs import installed
from .secrets import PiiKeyError
from .settings import Settings, SettingsError, load_settings

#: the installed domain packs, as `--domain` takes them
Domain = StrEnum("Domain", {name: name for name in installed()})  # type: ignore[misc]

app = typer.Typer(help="silobridge: one view per dispute across province, county, township "
                       "and grid.", no_args_is_help=True, add_completion=False)
quarantine_app = typer.Typer(help="Rejected records: list them, look at one, replay them.",
                             no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
schemas_app = typer.Typer(help="The shared contract other departments read.",
                          no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
console = Console()


#: how `ingest` says that a file held no records (silobridge.ingest's notices)
NOTICES = {"empty_file": "empty file", "header_only": "header only, no records"}


class Source(StrEnum):
    province = "province"
    county = "county"
    township = "township"
    grid = "grid"


#: exit codes by kind of error: 1 the job failed (a source, a mapping, the accounting,
#: the warehouse), 2 an operator's mistake (bad usage or settings: what to change is in
#: the message), 3 and 4 faults of the machine
EXIT_CODES = {"failed": 1, "source": 1, "warehouse": 1, "settings": 2,
              "pii_key": 2, "port_in_use": 2, "missing_driver": 2, "warehouse_locked": 3,
              "disk_full": 4}
F = TypeVar("F", bound=Callable[..., Any])
#: what the command line built on this one adds to `run`'s report (ops.cli: the linking
#: scored against the mock world's answer key, which the pipeline never reads): each is
#: called with the settings after the pipeline and returns (its key in the JSON summary,
#: its value, the line to print or None)
RUN_ADDENDA: list[Callable[[Settings], tuple[str, Any, str | None]]] = []


class CommandError(Exception):
    """Ends a command: its `lines` on stderr, {"error": {...}} on stdout under --json,
    and the exit code of its kind."""

    def __init__(self, message: str, kind: str = "failed", *, lines: list[str] | None = None,
                 **details: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = EXIT_CODES[kind]
        self.lines = lines or [message]
        self.details = details


def _settings() -> Settings:
    settings = load_settings()
    set_lock_wait(settings.warehouse.lock_wait)
    return settings


def _error_of(error: BaseException) -> CommandError | None:
    """The one-line report of an error a user can act on, or None (a bug: traceback)."""
    if isinstance(error, CommandError):
        return error
    if isinstance(error, SettingsError):
        return CommandError(str(error), "settings", lines=[str(p) for p in error.problems],
                            problems=[vars(p) for p in error.problems])
    if isinstance(error, PiiKeyError):
        return CommandError(str(error), "pii_key")
    if isinstance(error, MissingDriverError):
        return CommandError(str(error), "missing_driver", extra=error.extra)
    if isinstance(error, SourceError):
        return CommandError(str(error), "source", error_class=type(error).__name__)
    fault = _fault(error)
    if fault is not None:
        kind, details = fault
        return CommandError(str(error), kind, **details)
    return None


def _fault(error: BaseException) -> tuple[str, dict[str, Any]] | None:
    """(kind, details) of a fault of the machine, or None."""
    if isinstance(error, WarehouseLockedError):
        return "warehouse_locked", {"path": str(error.path), "holder": error.holder,
                                    "waited_s": error.waited}
    seen: BaseException | None = error
    while seen is not None:  # a full disk may sit under DuckDB's or our own error
        if (isinstance(seen, OSError) and seen.errno == errno.ENOSPC) \
                or os.strerror(errno.ENOSPC) in str(seen):
            return "disk_full", {}
        seen = seen.__cause__ or seen.__context__
    if isinstance(error, WarehouseError | duckdb.Error):
        return "warehouse", {"error_class": type(error).__name__}
    return None


def _report(error: CommandError, as_json: bool) -> None:
    lines = [" ".join(line.split()) for line in error.lines]
    for line in lines:
        sys.stderr.write(f"error: {line}\n")
    if as_json:
        _print_json({"error": {"kind": error.kind, "message": "; ".join(lines),
                               **error.details}})


def _errors_in_one_line(*, writes: bool = False) -> Callable[[F], F]:
    """Report errors as the module's docstring says, show progress on a terminal; a
    command that `writes` holds the pipeline lock while it runs."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            as_json = bool(kwargs.get("as_json")) or kwargs.get("output") == "json"
            try:
                with progress.shown():
                    if not writes:
                        return command(*args, **kwargs)
                    name = command.__name__.removesuffix("_command").replace("_", " ")
                    with pipeline_lock(_settings().warehouse_path, f"silobridge {name}"):
                        return command(*args, **kwargs)
            except Exception as e:
                error = _error_of(e)
                if error is None:
                    raise
                _report(error, as_json)
                raise typer.Exit(code=error.code) from None

        return wrapper  # type: ignore[return-value]

    return decorate


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


@app.callback()
def _main() -> None:
    level = os.environ.get("SILOBRIDGE_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL at INFO, and ours carry the gateway's request signature
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _fail(message: str, kind: str = "failed", **details: Any) -> CommandError:
    return CommandError(message, kind, **details)


@app.command("extract")
@_errors_in_one_line(writes=True)
def extract(
    source: Annotated[Source, typer.Argument(help="Which source to pull.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Pull what is new in one source since its cursor and land it raw in the warehouse."""
    from .extract import extract_source  # noqa: PLC0415

    result = extract_source(_settings(), source.value)
    if as_json:
        _print_json(result.to_dict())
        return
    table = Table("source", "batches", "rows", "parse errors", "seconds", "rows/s")
    table.add_row(result.source, str(result.batches), str(result.rows), str(result.parse_errors),
                  f"{result.seconds:.2f}", f"{result.rows_per_s:,.0f}")
    console.print(table)
    for note in result.notes[:20]:
        console.print(f"  note: {note}", highlight=False)


@app.command("ingest")
@_errors_in_one_line(writes=True)
def ingest(
    source: Annotated[Source, typer.Argument(help="Which source to ingest.")],
    path: Annotated[str | None, typer.Option(
        help="Read this file, folder, database URL or API URL with the source's connector "
             "and mapping.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Extract, conform, validate and land one source; bad rows go to the quarantine."""
    from conform.mapping import MappingError  # noqa: PLC0415
    from warehouse.accounting import AccountingError  # noqa: PLC0415

    from .ingest import ingest_source  # noqa: PLC0415

    try:
        summary = ingest_source(_settings(), source.value, path=path)
    except (MappingError, AccountingError) as e:
        raise _fail(str(e)) from None
    if as_json:
        _print_json(summary.to_dict())
        return
    table = Table("source", "read", "loaded", "quarantined", "duplicates", "seconds")
    table.add_row(summary.source, f"{summary.read:,}", f"{summary.loaded:,}",
                  f"{summary.quarantined:,}", f"{summary.duplicates:,}", f"{summary.seconds:.2f}")
    console.print(table)
    for notice in summary.notices:
        console.print(f"  {notice['origin']}: {NOTICES[notice['kind']]}: nothing to load",
                      highlight=False, markup=False)
    for reason, n in summary.reasons.most_common():
        console.print(f"  quarantined for {reason}: {n}", highlight=False)
    for d in summary.drift[:20]:
        console.print(f"  drift in {d['origin']}: {d['kind']} {d['column'] or ''} "
                      f"{('(expected ' + d['expected'] + ')') if d['expected'] else ''}",
                      highlight=False)


@quarantine_app.command("list")
@_errors_in_one_line()
def quarantine_list(
    source: Annotated[Source | None, typer.Option(help="Only this source.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only records with this reason code.")] = None,
    status: Annotated[str, typer.Option(help="open, released or all.")] = "open",
    limit: Annotated[int, typer.Option(min=1, help="Show the newest N records.")] = 100,
    show_all: Annotated[bool, typer.Option("--all", help="Show every matching record.")
                        ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """List quarantined records with their reasons, newest first."""
    from .quarantine import count_by_reason, list_records  # noqa: PLC0415

    settings = _settings()
    listing = list_records(settings, source.value if source else None, reason, status,
                           None if show_all else limit)
    counts = count_by_reason(settings, source.value if source else None)
    if as_json:
        _print_json(listing.to_dict() | {"open_by_reason": counts})
        return
    table = Table("id", "source", "origin", "row", "status", "reasons", "fields")
    for r in listing.rows:
        table.add_row(str(r["quarantine_id"]), r["source"], r["origin"], str(r["row_no"]),
                      r["status"], ", ".join(r["reasons"]), ", ".join(r["fields"]))
    console.print(table)
    more = listing.total - len(listing.rows)
    console.print(f"showing {len(listing.rows):,} of {listing.total:,}, newest first"
                  + (f" ({more:,} older: --limit N or --all)" if more else ""),
                  highlight=False)
    console.print("open by reason: " + (", ".join(f"{k} {v}" for k, v in counts.items())
                                        or "none"), highlight=False)


@quarantine_app.command("show")
@_errors_in_one_line()
def quarantine_show(
    quarantine_id: Annotated[int, typer.Argument(help="The record's quarantine id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (as without it: the "
                                          "record is a JSON document).")] = False,
) -> None:
    """Show one quarantined record as received (ID and phone numbers masked) and why."""
    from .quarantine import show  # noqa: PLC0415

    record = show(_settings(), quarantine_id)
    if record is None:
        raise _fail(f"no quarantined record {quarantine_id}")
    indent = None if as_json else 2
    sys.stdout.write(json.dumps(record, ensure_ascii=False, indent=indent, default=str) + "\n")


@quarantine_app.command("replay")
@_errors_in_one_line(writes=True)
def quarantine_replay(
    source: Annotated[Source | None, typer.Option(help="Only this source.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Re-conform and re-validate open quarantine records (after a mapping fix)."""
    from .quarantine import replay  # noqa: PLC0415

    with progress.step("replay the quarantine"):
        summary = replay(_settings(), source.value if source else None)
    if as_json:
        _print_json(summary.to_dict())
        return
    console.print(f"replayed {summary.read}: {summary.loaded} loaded, "
                  f"{summary.quarantined} still quarantined")


@schemas_app.command("export")
@_errors_in_one_line()
def schemas_export(
    folder: Annotated[Path, typer.Argument(help="Where to write the JSON Schemas and the data "
                                           "dictionary.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the files written as JSON."
                                          )] = False,
    domain: Annotated[Domain | None, typer.Option(
        "--domain", help="The domain pack whose contract to write (default: the one "
        "installed).")] = None,
) -> None:
    """Write JSON Schema files and the Markdown data dictionary generated from a domain
    pack's models."""
    from schemas.export import export  # noqa: PLC0415

    from .packs import contract, only  # noqa: PLC0415

    written = [str(path) for path in export(folder, contract(only(domain.value if domain
                                                                  else None)))]
    if as_json:
        _print_json({"written": written})
        return
    for path in written:
        console.print(path, highlight=False)


@app.command("run")
@_errors_in_one_line(writes=True)
def run(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
    domain: Annotated[Domain | None, typer.Option(
        "--domain", help="Run one domain pack (default: every installed pack).")] = None,
) -> None:
    """The whole pipeline outside Airflow: ingest every source, merge, link, marts."""
    from .run import run_pipeline  # noqa: PLC0415

    settings = _settings()
    summary = run_pipeline(settings, domain=domain.value if domain else None)
    addenda = [addendum(settings) for addendum in RUN_ADDENDA]
    if as_json:
        _print_json(summary.to_dict() | {key: value for key, value, _ in addenda})
    else:
        from .report_console import print_run  # noqa: PLC0415

        print_run(summary, console)
        for _, _, line in addenda:
            if line:
                console.print(line, highlight=False)
    if summary.failures:
        raise typer.Exit(code=1)


@app.command("merge")
@_errors_in_one_line(writes=True)
def merge_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Merge what ingestion staged into core: link, golden records, history, timeline."""
    from .run import merge_step  # noqa: PLC0415

    summary = merge_step(_settings())
    if as_json:
        _print_json(summary.to_dict())
        return
    console.print(f"records: {summary.records_new} new, {summary.records_changed} changed; "
                  f"cases: {summary.cases_new} new, {summary.cases_changed} changed, "
                  f"{summary.cases_removed} merged away; timeline +{summary.timeline_added}; "
                  f"history +{summary.history_opened}")


@app.command("sync")
@_errors_in_one_line(writes=True)
def sync(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
    check_only: Annotated[bool, typer.Option(
        "--check-only", help="Only reconcile: compare the province's copies, send nothing."
    )] = False,
) -> None:
    """Send new and changed county cases to the province, then reconcile with its copies."""
    from .sync import reconcile_step, sync_step  # noqa: PLC0415

    settings = _settings()
    try:
        if check_only:
            with progress.step("reconcile with the province"):
                result = {"reconciliation": reconcile_step(settings).to_dict()}
        else:
            with progress.step("sync county cases to the province"):
                result = sync_step(settings).to_dict()
    except SourceError as e:
        raise _fail(f"{e}. Batches the province acknowledged are in the ledger; the next "
                    "sync sends the rest.", "source", error_class=type(e).__name__) from None
    if as_json:
        _print_json(result)
        return
    if not check_only:
        results = ", ".join(f"{k} {v}" for k, v in sorted(result["results"].items())) or "none"
        console.print(f"county cases (linked): {result['county_cases']}; sent "
                      f"{result['sent']} in {result['batches']} batches (province receipts: "
                      f"{results}); {result['unchanged']} unchanged, not sent; "
                      f"{result['further_records']} further county records of those cases "
                      "not sent on their own", highlight=False)
    r = result["reconciliation"]
    console.print(f"at the province: {r['in_sync']} in sync, {r['missing']} missing, "
                  f"{r['stale']} stale, {r['conflicting']} conflicting, {r['unkeyed']} held "
                  "without the county's number (not sent); duplicates we created "
                  f"{r['duplicates_ours']}, held twice by the province itself "
                  f"{r['duplicates_province']}; {r['unknown_at_county']} unknown to the county",
                  highlight=False)
    for state, keys in r["examples"].items():
        console.print(f"  {state}: {', '.join(keys)}", highlight=False)


class QueryFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command("query")
@_errors_in_one_line()
def query_command(
    sql: Annotated[str, typer.Argument(help="SQL that reads (SELECT, WITH, FROM, DESCRIBE, "
                                       "SHOW, SUMMARIZE, EXPLAIN).")],
    output: Annotated[QueryFormat, typer.Option("--format", help="How to print the rows."
                                                )] = QueryFormat.table,
    limit: Annotated[int | None, typer.Option(help="Print at most this many rows.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON (the same "
                                          "as --format json).")] = False,
) -> None:
    """Query the published analyst snapshot (read-only, masked)."""
    from .snapshot import QueryRefused, query  # noqa: PLC0415

    try:
        result = query(_settings(), sql, limit=limit)
    except QueryRefused as e:
        raise _fail(str(e)) from None
    except duckdb.Error as e:
        raise _fail(f"{type(e).__name__}: {e}", "warehouse") from None
    if as_json or output is QueryFormat.json:
        sys.stdout.write(result.to_json() + "\n")
    elif output is QueryFormat.csv:
        sys.stdout.write(result.to_csv())
    else:
        # source text is shown as text: a value like "[red]" is not console markup
        table = Table(*result.columns)
        for row in result.rows:
            table.add_row(*(Text("" if v is None else str(v)) for v in row))
        console.print(table)


@app.command("tables")
@_errors_in_one_line()
def tables_command(
    table: Annotated[str | None, typer.Argument(help="A table (core.cases, or its name in "
                                                "main: cases): list its columns.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
) -> None:
    """The analyst snapshot's tables with their labels and rows, or one table's columns."""
    from .snapshot import QueryRefused, tables  # noqa: PLC0415

    try:
        result = tables(_settings(), table)
    except QueryRefused as e:
        raise _fail(str(e)) from None
    if as_json:
        sys.stdout.write(result.to_json() + "\n")
        return
    headers = (["name (SHOW TABLES)", "table", "中文", "English", "rows"] if table is None
               else ["column", "中文", "English", "grade", "mask", "codes", "decodes"])
    out = Table(*headers, title=None if table is None else table)
    for row in result.rows:
        cells = list(row)
        if table is None:
            cells[0] = str(cells[0]).removeprefix("main.")
        out.add_row(*(Text("" if v is None else f"{v:,}" if isinstance(v, int) else str(v))
                      for v in cells))
    console.print(out)


@app.command("verify")
@_errors_in_one_line()
def verify_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON report.")] = False,
) -> None:
    """Check the landed rows and the accounting ledger against their hash chains."""
    from warehouse.db import WarehouseError, session  # noqa: PLC0415
    from warehouse.manifest_check import verify  # noqa: PLC0415

    path = _settings().warehouse_path
    try:
        if not path.exists():
            raise WarehouseError(f"no warehouse at {path}: run the pipeline first")
        with session(path) as con, progress.step("verify the hash chains"):
            report = verify(con)
    except WarehouseError as e:
        raise _fail(str(e)) from None
    if as_json:
        _print_json(report.to_dict())
    elif report.first is None:
        upgraded = report.sealed_at_upgrade["batches"]
        console.print(f"intact: {report.batches:,} batches"
                      + (f" ({upgraded:,} sealed at upgrade)" if upgraded else "")
                      + f", {report.rows:,} rows, {report.ledger_entries:,} ledger entries in "
                      f"{report.seconds:.2f} s; chain head batch {report.head['batch_id']} "
                      f"{report.head['hash']}, ledger head seal "
                      f"{report.ledger_head['seal_id']} {report.ledger_head['hash']}",
                      soft_wrap=True, highlight=False)
    else:
        more = report.findings_total - 1
        console.print(f"TAMPERED: {report.first.describe()}"
                      + (f" (and {more} more: --json lists them)" if more else ""),
                      soft_wrap=True, highlight=False, markup=False)
    if report.first is not None:
        raise typer.Exit(code=1)


@app.command("publish")
@_errors_in_one_line(writes=True)
def publish_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Publish the masked analyst snapshot (DuckDB + Parquet) from the warehouse now."""
    from .snapshot import publish_step  # noqa: PLC0415

    with progress.step("publish the analyst snapshot"):
        summary = publish_step(_settings())
    if as_json:
        _print_json(summary.to_dict())
        return
    console.print(f"snapshot: {summary.path}\nParquet: {summary.parquet}", highlight=False)
    for name, rows in summary.tables.items():
        console.print(f"  {name}: {rows:,} rows", highlight=False)


@app.command("reveal")
@_errors_in_one_line(writes=True)
def reveal(
    case_id: Annotated[str, typer.Argument(help="The case whose parties to show.")],
    why: Annotated[str, typer.Option(help="Why you need the numbers: written to the audit "
                                     "trail with your name.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the parties as JSON.")
                       ] = False,
) -> None:
    """Show a case's parties with ID and phone numbers decrypted (audited)."""
    from .reveal import RevealRefused, reveal_case  # noqa: PLC0415

    try:
        parties = reveal_case(_settings(), case_id, why)
    except RevealRefused as e:
        raise _fail(str(e)) from None
    if as_json:
        _print_json({"case_id": case_id, "parties": parties})
        return
    table = Table("role", "kind", "name", "ID number", "phone", "credit code")
    for p in parties:
        table.add_row(*(str(p[k] or "") for k in ("role", "kind", "name", "id_number", "phone",
                                                   "credit_code")))
    console.print(table)


@app.command("settings")
@_errors_in_one_line()
def show_settings(
    as_json: Annotated[bool, typer.Option("--json", help="Print the settings as one line of "
                                          "JSON (without it: indented JSON).")] = False,
) -> None:
    """Print the effective settings (secrets masked)."""
    sys.stdout.write(_settings().model_dump_json(indent=None if as_json else 2) + "\n")
