"""The grid app's JSON Lines connector against a generated world and hand-made edge files."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from connectors.base import RawBatch
from connectors.errors import SourceNotFoundError
from connectors.file_cursor import CHANGED_NOTE
from connectors.jsonl_drop import JsonlDropConfig, JsonlDropConnector
from packs.disputes.mockworld.spec import WorldSpec
from packs.disputes.mockworld.world import advance, generate

SPEC = WorldSpec(cases=600, days=15)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("jd") / "world"
    generate(root, SPEC)
    return root


@pytest.fixture(scope="module")
def full(world: Path) -> list[RawBatch]:
    return list(JsonlDropConnector(JsonlDropConfig(path=world / "grid"), source="grid")
                .extract(None))


def answer_key(world: Path, origins: set[str] | None = None) -> Counter[tuple[str, int]]:
    with (world / "answer_key" / "records.csv").open(encoding="utf-8") as f:
        return Counter((r["origin"], int(r["row"])) for r in csv.DictReader(f)
                       if r["source"] == "grid" and (origins is None or r["origin"] in origins))


def positions(batches: list[RawBatch]) -> Counter[tuple[str, int]]:
    out: Counter[tuple[str, int]] = Counter()
    for b in batches:
        d = b.records.select(["_origin", "_row"]).to_pydict()
        out.update(zip(d["_origin"], d["_row"], strict=True))
    return out


def test_every_answer_key_row_exactly_once(world: Path, full: list[RawBatch]) -> None:
    got = positions(full)
    assert got == answer_key(world)
    assert max(got.values()) == 1
    assert all(b.source == "grid" and b.num_rows for b in full)
    assert not any(e for b in full for e in b.records.column("_parse_error").to_pylist())


def test_values_as_raw_text(world: Path, full: list[RawBatch]) -> None:
    batch = full[0]
    assert batch.columns[:3] == ("reportId", "gridCode", "gridName")
    lines = (world / "grid" / batch.origin).read_text(encoding="utf-8").splitlines()
    for row in batch.records.to_pylist():
        obj = json.loads(lines[row["_row"] - 1])
        assert row["reportId"] == obj["reportId"]
        assert row["reportTime"] == str(obj["reportTime"])
        assert row["lng"] == str(obj["lng"])
        assert row["relatedReportId"] == obj["relatedReportId"]
        assert json.loads(row["parties"]) == obj["parties"]
        assert "\n" not in row["parties"]
        assert "', '" not in row["parties"]  # compact JSON, not a Python repr


def test_drifted_key_becomes_a_column(full: list[RawBatch]) -> None:
    assert any("happenTime" in b.columns for b in full)
    assert any("occurTime" in b.columns for b in full)


def test_resume_and_second_extraction(world: Path, full: list[RawBatch]) -> None:
    # small batches over a few files: each batch costs a DuckDB hash query
    config = JsonlDropConfig(path=world / "grid", batch_rows=3, patterns=["2026090[1-3].jsonl"])
    connector = JsonlDropConnector(config, source="grid")
    first = next(iter(connector.extract(None)))
    assert first.num_rows == 3
    entry = first.cursor["files"][first.origin]
    assert entry["rows"] == 3
    assert not entry["done"]
    rest = list(connector.extract(first.cursor))  # as after a crash once `first` landed
    assert rest[0].records.column("_row").to_pylist()[0] == 4
    got = positions([first, *rest])
    assert {o for o, _ in got} == {"20260901.jsonl", "20260902.jsonl", "20260903.jsonl"}
    assert got == answer_key(world, origins={o for o, _ in got})
    assert max(got.values()) == 1
    assert list(connector.extract(rest[-1].cursor)) == []
    everything = JsonlDropConnector(JsonlDropConfig(path=world / "grid"), source="grid")
    assert list(everything.extract(full[-1].cursor)) == []


def test_advance_reads_only_new_lines(tmp_path: Path, world: Path,
                                      full: list[RawBatch]) -> None:
    copy = tmp_path / "world"
    shutil.copytree(world, copy)
    before = answer_key(copy)
    advance(copy, 1)
    batches = list(JsonlDropConnector(JsonlDropConfig(path=copy / "grid"), source="grid")
                   .extract(full[-1].cursor))
    assert positions(batches) == answer_key(copy) - before
    assert [b.origin for b in batches] == [f"{SPEC.day_start(SPEC.days):%Y%m%d}.jsonl"]


def test_changed_file_is_read_again(tmp_path: Path, world: Path) -> None:
    drop = tmp_path / "grid"
    drop.mkdir()
    shutil.copy(world / "grid" / "20260901.jsonl", drop)
    config = JsonlDropConfig(path=drop)
    first = list(JsonlDropConnector(config, source="grid").extract(None))
    path = drop / "20260901.jsonl"
    n = len(path.read_text(encoding="utf-8").splitlines())
    with path.open("a", encoding="utf-8") as f:  # the app appended a late report
        f.write('{"reportId":"WGlate","parties":[]}\n')
    again = list(JsonlDropConnector(config, source="grid").extract(first[-1].cursor))
    assert CHANGED_NOTE in again[0].notes
    assert positions(again) == Counter(("20260901.jsonl", i) for i in range(1, n + 2))
    assert again[-1].cursor["files"]["20260901.jsonl"]["done"]


def test_edge_lines(tmp_path: Path) -> None:
    drop = tmp_path / "grid"
    drop.mkdir()
    (drop / "a.jsonl").write_bytes(b"")
    (drop / "b.jsonl").write_bytes(
        b'\xef\xbb\xbf{"id":"1","n":3,"x":null,"ok":true,"p":{"k":[1,2]}}\n'
        b"\n"
        b'{"id":"2","extra":"\xe4\xb8\xad"}\r\n'
        b'{"id":"3", broken\n'
        b"[1, 2]\n"
        b'{"id":"\xff"}\n'
        b"   \n"
        b'{"id":"4"}')  # the last line has no newline
    batches = list(JsonlDropConnector(JsonlDropConfig(path=drop), source="grid").extract(None))
    by = {b.origin: b for b in batches}
    assert by["a.jsonl"].num_rows == 0
    assert any("empty file" in n for n in by["a.jsonl"].notes)
    b = by["b.jsonl"]
    assert b.columns == ("id", "n", "x", "ok", "p", "extra")
    rows = b.records.to_pylist()
    assert [r["_row"] for r in rows] == [1, 3, 4, 5, 6, 8]
    assert rows[0] | {"_raw_hash": None} == {
        "id": "1", "n": "3", "x": None, "ok": "true", "p": '{"k":[1,2]}', "extra": None,
        "_source": "grid", "_origin": "b.jsonl", "_row": 1, "_raw_hash": None,
        "_parse_error": None, "_raw_text": None}
    assert rows[1]["extra"] == "中"
    assert rows[2]["_parse_error"].startswith("unparseable: invalid JSON")
    assert rows[2]["_raw_text"] == '{"id":"3", broken'
    assert rows[2]["id"] is None
    assert rows[3]["_parse_error"] == "not_a_record: not a JSON object (found array)"
    assert rows[4]["_parse_error"].startswith("bad_encoding: not UTF-8")
    assert rows[4]["_raw_text"] == '{"id":"\ufffd"}'
    assert rows[5]["id"] == "4"
    assert len(set(b.records.column("_raw_hash").to_pylist())) == 6
    assert all(e["done"] for e in batches[-1].cursor["files"].values())


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        list(JsonlDropConnector(JsonlDropConfig(path=tmp_path / "nope"), source="grid")
             .extract(None))
    with pytest.raises(SourceNotFoundError, match=r"JsonlDropConfig\.path"):
        list(JsonlDropConnector(JsonlDropConfig(), source="grid").extract(None))
