"""Malformed files end to end (`ingest_source`): each bad row is quarantined with its
reader's reason, the good rows of the same file load, equal garbage is not mistaken for
duplicates while a re-sent record still is, and every batch's accounting holds."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from silobridge.ingest import ingest_source
from silobridge.settings import Settings


@pytest.fixture
def settings(small_world: Path, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(small_world, home / "world")
    return Settings(home=home)


def clean_rows(settings: Settings, source: str, origin: str) -> list[int]:
    """Rows of `origin` the answer key calls clean (no defect: they must load)."""
    with (settings.world_dir / "answer_key" / "records.csv").open(encoding="utf-8") as f:
        return [int(r["row"]) for r in csv.DictReader(f)
                if r["source"] == source and r["origin"] == origin and not r["defect"]]


def verdicts(settings: Settings, source: str) -> dict[tuple[str, int], str]:
    """(origin, row) → "loaded", "duplicate" or the quarantine's reasons, comma-joined."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute("""
            SELECT r.origin, r.row_no,
                   CASE WHEN s.batch_id IS NOT NULL THEN 'loaded'
                        WHEN q.batch_id IS NOT NULL THEN array_to_string(
                            list_sort(list_transform(q.reasons, lambda x: x.reason)), ',')
                        ELSE 'duplicate' END
            FROM raw.records r
            LEFT JOIN staging.cases s USING (batch_id, row_no)
            LEFT JOIN quarantine.records q USING (batch_id, row_no)
            WHERE r.source = ?""", [source]).fetchall()
        bad = con.execute("SELECT count(*) FROM ops.accounting WHERE source = ? AND "
                          "read <> loaded + quarantined + duplicates", [source]).fetchone()
        assert bad == (0,)
    finally:
        con.close()
    out = {(origin, row): verdict for origin, row, verdict in rows}
    assert len(out) == len(rows)  # (origin, row) names one record
    return out


def test_bad_json_lines_and_a_json_array(settings: Settings, tmp_path: Path) -> None:
    name = "20260903.jsonl"
    lines = (settings.world_dir / "grid" / name).read_text(encoding="utf-8").splitlines()
    a, b, c, d, e, f = (json.loads(lines[n - 1]) for n in clean_rows(settings, "grid",
                                                                     name)[:6])
    dup = json.dumps(c, ensure_ascii=False)[:-1] + ', "reportId": "WG-other"}'
    bad = [json.dumps(a, ensure_ascii=False), '{"reportId": ' + "[" * 5000 + "]" * 5000 + "}",
           json.dumps(b, ensure_ascii=False), dup, "  },", "  },",
           json.dumps(d, ensure_ascii=False), '{"reportId": "\udcff"}', "[1, 2]",
           json.dumps(a, ensure_ascii=False)]  # the app re-sent a
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / name).write_bytes("\n".join(bad).encode("utf-8", "surrogateescape"))
    (drop / "20260904.jsonl").write_text(json.dumps([e, f], ensure_ascii=False, indent=2),
                                         encoding="utf-8")
    summary = ingest_source(settings, "grid", path=str(drop))
    assert (summary.read, summary.loaded, summary.quarantined, summary.duplicates) == \
        (12, 5, 6, 1)
    got = verdicts(settings, "grid")
    assert {row: v for (origin, row), v in got.items() if origin == name} == {
        1: "loaded", 2: "over_limit", 3: "loaded", 4: "duplicate_key", 5: "unparseable",
        6: "unparseable", 7: "loaded", 8: "bad_encoding", 9: "not_a_record", 10: "duplicate"}
    assert {row: v for (origin, row), v in got.items() if origin != name} == {
        2: "loaded", 2 + len(json.dumps(e, indent=2).splitlines()): "loaded"}
    assert summary.reasons["unparseable"] == 2


def test_bad_township_files(settings: Settings, tmp_path: Path) -> None:
    town = settings.world_dir / "township" / "330421001"
    source = max(town.glob("*.csv"), key=lambda p: p.stat().st_size)
    origin = f"330421001/{source.name}"
    lines = source.read_bytes().split(b"\r\n")
    damaged = {3: "bad_encoding", 4: "bad_row_shape", 5: "bad_encoding", 6: "bad_row_shape"}
    lines[2] = lines[2][:30] + b"\xff" + lines[2][30:]  # an invalid GBK byte
    lines[3] = lines[3].replace(b",", b',"', 1)  # a quote that never closes
    lines[4] = lines[4][:9] + b"\x00" + lines[4][9:]
    lines[5] += b",one field too many"
    drop = tmp_path / "drop" / "330421001"
    drop.mkdir(parents=True)
    (drop / source.name).write_bytes(b"\r\n".join(lines))
    (drop / "20260999.csv").write_bytes(b"")
    ledger = next((settings.world_dir / "township" / "330421107").glob("*.xlsx"))
    (tmp_path / "drop" / "330421107").mkdir()
    shutil.copy(ledger, tmp_path / "drop" / "330421107" / ledger.name)
    summary = ingest_source(settings, "township", path=str(tmp_path / "drop"))
    assert summary.read == summary.loaded + summary.quarantined + summary.duplicates
    got = verdicts(settings, "township")

    csv_verdicts = {row: v for (o, row), v in got.items() if o == origin}
    for row, reason in damaged.items():
        assert csv_verdicts[row] == reason
    clean = set(clean_rows(settings, "township", origin)) - set(damaged)
    assert clean and all(csv_verdicts[row] == "loaded" for row in clean)
    assert len(csv_verdicts) == len(lines) - 2  # the header, and the file's last CRLF

    sheet = [(o, row, v) for (o, row), v in got.items() if o.startswith("330421107/")]
    totals = [v for _, _, v in sheet if v == "not_a_record"]
    assert len(totals) == len({o for o, _, _ in sheet})  # one totals row per sheet
    for o in {o for o, _, _ in sheet}:
        clean = clean_rows(settings, "township", o)
        assert clean and all(v == "loaded" for o2, row, v in sheet if o2 == o and row in clean)

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        [(batch_id, rows, notes)] = con.execute(
            "SELECT batch_id, rows, notes FROM ops.batches WHERE origin = ?",
            ["330421001/20260999.csv"]).fetchall()
        drift = con.execute("SELECT kind, count(*) FROM ops.drift WHERE batch_id = ? "
                            "GROUP BY kind", [batch_id]).fetchall()
    finally:
        con.close()
    # an empty file: one clear note, and no screen of "missing" columns
    assert (rows, notes, drift) == (0, ["empty file (0 bytes)"], [])
    assert Counter(summary.reasons)["not_a_record"] == len(totals)
