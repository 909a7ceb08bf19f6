"""`silobridge ingest --path` with awkward files: a clear message or quarantine rows,
never a traceback, and the accounting holds."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import duckdb
import pytest
import xlsxwriter
from typer.testing import CliRunner

from ops.cli import app

runner = CliRunner()
TOWN = "330421002"


@pytest.fixture
def home(small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    shutil.copytree(small_world / "reference", home / "world" / "reference")
    monkeypatch.setenv("SILOBRIDGE_HOME", str(home))
    return home


def _a_township_csv(small_world: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a real township export (GBK)."""
    for f in sorted((small_world / "township" / TOWN).glob("*.csv")):
        rows = list(csv.reader(io.StringIO(f.read_bytes().decode("gbk"))))
        if len(rows) > 4:
            return rows[0], rows[1:]
    raise AssertionError("no township export with rows")


def _csv(header: list[str], rows: list[list[str]], encoding: str = "gbk") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([header, *rows])
    return buf.getvalue().encode(encoding)


def _ingest(path: Path, source: str = "township") -> dict:
    result = runner.invoke(app, ["ingest", source, "--path", str(path), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _accounting_holds(home: Path) -> None:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM ops.accounting "
                           "WHERE read <> loaded + quarantined + duplicates").fetchone() == (0,)
    finally:
        con.close()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_real_export_loads(home: Path, small_world: Path) -> None:
    header, rows = _a_township_csv(small_world)
    out = _ingest(_write(home / "in" / TOWN / "real.csv", _csv(header, rows)))
    assert out["read"] == len(rows) and out["loaded"] > 0
    assert out["read"] == out["loaded"] + out["quarantined"] + out["duplicates"]
    _accounting_holds(home)


@pytest.mark.parametrize("source,name,data,kind,said", [
    ("township", f"{TOWN}/empty.csv", b"", "empty_file", "empty file"),
    ("township", f"{TOWN}/blank.csv", b"\r\n  \r\n", "empty_file", "empty file"),
    ("township", f"{TOWN}/header_only.csv", "sjbh,sjmc,fsrq\r\n".encode("gbk"), "header_only",
     "header only, no records"),
    ("grid", "empty.jsonl", b"", "empty_file", "empty file"),
], ids=["empty", "blank", "header-only", "empty-jsonl"])
def test_empty_and_header_only_files_are_said_so(home: Path, source: str, name: str,
                                                 data: bytes, kind: str, said: str) -> None:
    path = _write(home / "in" / name, data)
    out = _ingest(path, source)
    assert (out["read"], out["loaded"], out["quarantined"]) == (0, 0, 0)
    origin = name if source == "township" else path.name
    assert [(n["origin"], n["kind"]) for n in out["notices"]] == [(origin, kind)]
    assert out["drift"] == []  # a header without records is not a list of missing columns
    _accounting_holds(home)
    # the same file under another name, for people: one line saying so, no drift lines
    again = _write(path.with_name("again-" + path.name), data)
    result = runner.invoke(app, ["ingest", source, "--path", str(again)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    notes = [line.strip() for line in result.stdout.splitlines() if line.startswith("  ")]
    assert notes == [f"{origin.replace(path.name, again.name)}: {said}: nothing to load"]


def test_a_workbook_with_a_header_only_is_said_so(home: Path) -> None:
    path = home / "in" / TOWN / "ledger.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("台账").write_row(0, 0, ["sjbh", "sjmc", "fsrq"])
    book.close()
    out = _ingest(path)
    assert out["read"] == 0 and out["drift"] == []
    assert [n["kind"] for n in out["notices"]] == ["header_only"]


def test_a_file_in_no_known_encoding_is_quarantined_whole(home: Path) -> None:
    f = _write(home / "in" / TOWN / "garbage.csv", bytes(range(256)) * 40)
    out = _ingest(f)
    assert out["read"] == 1 and out["quarantined"] == 1
    assert out["reasons"] == {"bad_encoding": 1}  # binary: not text in any encoding
    _accounting_holds(home)


def test_a_utf8_file_where_gbk_was_expected_still_reads(home: Path, small_world: Path) -> None:
    header, rows = _a_township_csv(small_world)
    out = _ingest(_write(home / "in" / TOWN / "utf8.csv", _csv(header, rows[:3], "utf-8")))
    assert out["read"] == 3 and out["loaded"] + out["quarantined"] == 3
    _accounting_holds(home)


def test_extra_and_missing_columns_are_drift_not_crashes(home: Path, small_world: Path) -> None:
    header, rows = _a_township_csv(small_world)
    extra = _csv([*header, "beizhu2"], [[*r, "x"] for r in rows[:4]])
    out = _ingest(_write(home / "in" / TOWN / "extra.csv", extra))
    assert any(d["kind"] == "unknown" and d["column"] == "beizhu2" for d in out["drift"])
    assert out["loaded"] + out["quarantined"] == 4
    i = header.index("fsrq")
    missing = _csv([h for k, h in enumerate(header) if k != i],
                   [[v for k, v in enumerate(r) if k != i] for r in rows[:4]])
    out = _ingest(_write(home / "in" / TOWN / "missing.csv", missing))
    assert any(d["kind"] == "missing" and d["column"] == "fsrq" for d in out["drift"])
    assert out["quarantined"] == 4 and out["reasons"].get("missing_required") == 4
    _accounting_holds(home)


def test_a_broken_json_line_is_quarantined(home: Path, small_world: Path) -> None:
    first = sorted((small_world / "grid").glob("*.jsonl"))[0].read_text(encoding="utf-8")
    good = first.splitlines()[:2]
    f = _write(home / "in" / "grid.jsonl", "\n".join([*good, '{"reportId": "x", broken'])
               .encode())
    out = _ingest(f, "grid")
    assert out["read"] == 3 and out["reasons"].get("unparseable") == 1
    _accounting_holds(home)


def test_a_missing_file_is_a_clear_error(home: Path) -> None:
    result = runner.invoke(app, ["ingest", "township", "--path", str(home / "nope.csv")])
    assert result.exit_code == 1 and "nope" in result.output
    assert "Traceback" not in result.output
