"""The township drop-folder connector against a generated world and hand-made edge files."""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import shutil
from collections import Counter
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from connectors.base import RawBatch
from connectors.errors import SourceNotFoundError
from connectors.file_cursor import CHANGED_NOTE
from connectors.file_drop import FileDropConfig, FileDropConnector
from packs.disputes.mockworld.spec import WorldSpec
from packs.disputes.mockworld.world import advance, generate

SPEC = WorldSpec(cases=600, days=15)
RARE = "䶮𬌗𬍛"  # in GB18030, not in GBK


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fd") / "world"
    generate(root, SPEC)
    return root


@pytest.fixture(scope="module")
def full(world: Path) -> list[RawBatch]:
    """One complete extraction, shared: each batch costs a DuckDB hash query."""
    return list(FileDropConnector(FileDropConfig(path=world / "township"), source="township")
                .extract(None))


def answer_key(world: Path, source: str = "township",
               origins: set[str] | None = None) -> Counter[tuple[str, int]]:
    with (world / "answer_key" / "records.csv").open(encoding="utf-8") as f:
        return Counter((r["origin"], int(r["row"])) for r in csv.DictReader(f)
                       if r["source"] == source and (origins is None or r["origin"] in origins))


def positions(batches: list[RawBatch]) -> Counter[tuple[str, int]]:
    out: Counter[tuple[str, int]] = Counter()
    for b in batches:
        d = b.records.select(["_origin", "_row"]).to_pydict()
        out.update(zip(d["_origin"], d["_row"], strict=True))
    return out


def totals_rows(batches: list[RawBatch]) -> Counter[tuple[str, int]]:
    """Positions of the ledgers' totals rows: read, and rejected as not a record."""
    out: Counter[tuple[str, int]] = Counter()
    for b in batches:
        for r in b.records.select(["_origin", "_row", "_parse_error"]).to_pylist():
            if (r["_parse_error"] or "").startswith("not_a_record: a totals row"):
                out[(r["_origin"], r["_row"])] += 1
    return out


def rows_of(batches: list[RawBatch], origin_prefix: str) -> list[dict]:
    return [r for b in batches if b.origin.startswith(origin_prefix)
            for r in b.records.to_pylist()]


# -- the generated world ----------------------------------------------------------------
def test_every_answer_key_row_exactly_once(world: Path, full: list[RawBatch]) -> None:
    got = positions(full)
    totals = totals_rows(full)
    # the answer key lists records; the rows the sheets hold besides them are the totals
    assert got - totals == answer_key(world)
    assert max(got.values()) == 1
    assert all(b.source == "township" for b in full)
    sheets = {b.origin for b in full if ".xlsx#" in b.origin and b.num_rows}
    assert sorted(o for o, _ in totals) == sorted(sheets)  # one totals row per sheet
    errors = [e for b in full for e in b.records.column("_parse_error").to_pylist() if e]
    assert len(errors) == len(totals)


def test_gbk_files_decode_as_gb18030(world: Path, full: list[RawBatch]) -> None:
    path = next(p for p in sorted((world / "township" / "330421001").glob("*.csv"))
                if p.stat().st_size > 1000)
    data = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    rel = path.relative_to(world / "township").as_posix()
    batch = next(b for b in full if b.origin == rel)
    assert "encoding: gb18030" in batch.notes
    expected = list(csv.DictReader(io.StringIO(data.decode("gbk"), newline="")))
    assert batch.records.select(list(batch.columns)).to_pylist() == expected


def test_gb18030_feed_round_trips(world: Path, full: list[RawBatch]) -> None:
    rare_files = []
    for path in sorted((world / "township" / "330421003").glob("*.csv")):
        text = path.read_bytes().decode("gb18030")
        rel = path.relative_to(world / "township").as_posix()
        got = [r for b in full if b.origin == rel
               for r in b.records.select(list(b.columns)).to_pylist()]
        assert got == list(csv.DictReader(io.StringIO(text, newline="")))
        if any(c in text for c in RARE):
            rare_files.append(rel)
            assert any(c in v for r in got for v in r.values() if v for c in RARE)
    assert rare_files, "the GB18030 feed should carry a character GBK lacks"


def test_drifted_header_kept_as_received(full: list[RawBatch]) -> None:
    headers = {b.columns for b in full if b.origin.startswith("330421105/") and b.columns}
    assert any("fssj" in h for h in headers)
    assert any("fsrq" in h for h in headers)


def test_ledger_values(world: Path, full: list[RawBatch]) -> None:
    batches = [b for b in full if ".xlsx#" in b.origin]
    assert batches
    columns = batches[0].columns
    assert columns[:5] == ("序号", "发生日期", "村（社区）", "纠纷类型", "纠纷简要情况")
    assert "当事人/姓名" in columns
    assert "化解情况/是否化解" in columns
    assert any(n.endswith("矛盾纠纷排查化解台账（2026年9月）") for n in batches[0].notes)
    rows = [r for b in batches for r in b.records.to_pylist() if r["_parse_error"] is None]
    done = Counter(r["化解情况/是否化解"] for r in rows)
    assert set(done) <= {"是", "√", "1", "否", None}
    assert done["1"] + done["是"] + done["√"] > 0
    assert all(re.fullmatch(r"\d+", r["序号"]) for r in rows)
    # cross-check real date cells with an independent reader
    checked = 0
    for b in batches[:6]:
        file, sheet = b.origin.split("#")
        ws = openpyxl.load_workbook(world / "township" / file, read_only=True)[sheet]
        cells = {i: row for i, row in enumerate(ws.iter_rows(values_only=True), start=1)}
        for r in b.records.to_pylist():
            if r["_parse_error"]:
                assert cells[r["_row"]][0] == "合计"
                continue
            cell = cells[r["_row"]][1]
            if isinstance(cell, datetime):
                assert r["发生日期"] == cell.date().isoformat()
                checked += 1
            else:
                assert r["发生日期"] == (cell or None)
    assert checked


def test_second_extraction_with_final_cursor_is_empty(world: Path,
                                                      full: list[RawBatch]) -> None:
    cursor = full[-1].cursor
    assert all(e["done"] for e in cursor["files"].values())
    config = FileDropConfig(path=world / "township")
    assert list(FileDropConnector(config, source="township").extract(cursor)) == []


def test_resume_after_crash(world: Path) -> None:
    config = FileDropConfig(path=world / "township", batch_rows=2,
                            patterns=["330421001/2026090[1-6].csv",
                                      "330421107/台账_2026090[34].xlsx"])
    connector = FileDropConnector(config, source="township")
    everything = list(connector.extract(None))
    # the crash comes after the first batch that leaves its file half read
    crash = next(i for i, b in enumerate(everything)
                 if b.num_rows and not b.cursor["files"][b.origin.split("#")[0]]["done"])
    landed = everything[:crash + 1]
    rest = list(connector.extract(landed[-1].cursor))
    assert rest[0].origin == landed[-1].origin
    got = positions(landed + rest)
    assert got == positions(everything)
    assert max(got.values()) == 1
    origins = {o for o, _ in got}
    assert any(".xlsx#" in o for o in origins)
    assert got - totals_rows(everything) == answer_key(world, origins=origins)


def test_advance_reads_only_new_files(tmp_path: Path, world: Path,
                                      full: list[RawBatch]) -> None:
    copy = tmp_path / "world"
    shutil.copytree(world, copy)
    before = answer_key(copy)
    advance(copy, 1)
    new = answer_key(copy) - before
    batches = list(FileDropConnector(FileDropConfig(path=copy / "township"), source="township")
                   .extract(full[-1].cursor))
    assert batches
    assert positions(batches) - totals_rows(batches) == new
    assert all(CHANGED_NOTE not in b.notes for b in batches)


def test_changed_file_is_read_again(tmp_path: Path, world: Path) -> None:
    town = tmp_path / "drop" / "330421002"
    shutil.copytree(world / "township" / "330421002", town)
    config = FileDropConfig(path=tmp_path / "drop")
    first = list(FileDropConnector(config, source="township").extract(None))
    path = max(town.glob("*.csv"), key=lambda p: p.stat().st_size)
    data = path.read_bytes()
    lines = data.split(b"\r\n")
    path.write_bytes(b"\r\n".join([lines[0], lines[1].replace(b"2026", b"2027", 1),
                                   *lines[2:]]))
    again = list(FileDropConnector(config, source="township").extract(first[-1].cursor))
    assert [b.origin for b in again] == [f"330421002/{path.name}"]
    assert CHANGED_NOTE in again[0].notes
    assert again[0].num_rows == len([x for x in lines[1:] if x])
    assert again[0].records.column("_row").to_pylist()[0] == 2


# -- edge files --------------------------------------------------------------------------
def _write_ledger(path: Path, totals: str | None) -> None:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("2026年9月")
    ws.merge_range(0, 0, 0, 3, "某镇台账（2026年9月）")
    ws.merge_range(1, 0, 2, 0, "发生日期")
    ws.merge_range(1, 1, 1, 2, "当事人")
    ws.write(2, 1, "姓名")
    ws.write(2, 2, "联系电话")
    ws.merge_range(1, 3, 2, 3, "是否化解")
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_datetime(3, 0, datetime(2026, 9, 3), day)
    ws.write(3, 1, "张三、李四")
    ws.write_number(3, 2, 13812345678)
    ws.write_number(3, 3, 1)
    ws.write(4, 0, "9月4日")
    ws.write(4, 1, "王五")
    ws.write(4, 3, "√")
    ws.write(6, 0, "2026.9.5")  # after an empty row
    ws.write(6, 3, "是")
    if totals:
        ws.write(7, 0, "合计")
        ws.write(7, 1, totals)
        ws.write(9, 0, "填表人：沈建国")
    wb.close()


def test_edge_files(tmp_path: Path) -> None:
    drop = tmp_path / "drop" / "330421999"
    drop.mkdir(parents=True)
    (drop / "a_empty.csv").write_bytes(b"")
    (drop / "b_header.csv").write_bytes("sjbh,sjmc\r\n".encode("gbk"))
    (drop / "c_bom.csv").write_bytes(codecs.BOM_UTF8 + "sjbh,sjmc\n1,张三\n".encode())
    (drop / "c_plain.csv").write_bytes("sjbh,sjmc\n1,张三\n".encode())
    (drop / "d_utf16.csv").write_bytes("sjbh,sjmc\r\n2,李四\r\n".encode("utf-16"))
    junk = bytes(range(256)) * 8 + os.urandom(2048)
    (drop / "e_junk.csv").write_bytes(junk)
    (drop / "f_extra.csv").write_bytes(
        'a,b,c\r\n1,"two\r\nlines",3\r\n\r\n4,5,6,7\r\n8,9,10\r\n'.encode("gbk"))
    _write_ledger(drop / "g_台账.xlsx", totals=None)
    _write_ledger(drop / "h_台账.xlsx", totals="共5件")
    batches = list(FileDropConnector(FileDropConfig(path=tmp_path / "drop"), source="township")
                   .extract(None))
    by = {b.origin.removeprefix("330421999/"): b for b in batches}

    assert by["a_empty.csv"].num_rows == 0
    assert any("empty file" in n for n in by["a_empty.csv"].notes)
    assert by["b_header.csv"].num_rows == 0
    assert by["b_header.csv"].columns == ("sjbh", "sjmc")

    bom = by["c_bom.csv"]
    assert bom.columns == ("sjbh", "sjmc")
    assert "encoding: utf-8-sig" in bom.notes
    assert bom.records.select(["sjbh", "sjmc", "_row"]).to_pylist() == [
        {"sjbh": "1", "sjmc": "张三", "_row": 2}]

    assert "encoding: utf-8" in by["c_plain.csv"].notes
    assert by["c_plain.csv"].records.column("_raw_hash") == bom.records.column("_raw_hash")

    utf16 = by["d_utf16.csv"]
    assert "encoding: utf-16" in utf16.notes
    assert utf16.records.column("sjmc").to_pylist() == ["李四"]

    [bad] = by["e_junk.csv"].records.to_pylist()
    assert bad["_parse_error"].startswith("bad_encoding: binary data")
    assert 0 < len(bad["_raw_text"]) <= 64 * 1024
    assert bad["_raw_hash"]

    extra = by["f_extra.csv"].records.to_pylist()
    assert [r["_row"] for r in extra] == [2, 5, 6]
    assert extra[0]["b"] == "two\r\nlines"
    assert extra[1]["_parse_error"] == "bad_row_shape: expected 3 fields, found 4"
    assert extra[1]["_raw_text"] == "4,5,6,7"
    assert extra[1]["a"] is None
    assert extra[2]["c"] == "10"

    ledger = by["g_台账.xlsx#2026年9月"]
    assert ledger.columns == ("发生日期", "当事人/姓名", "当事人/联系电话", "是否化解")
    rows = ledger.records.select([*ledger.columns, "_row"]).to_pylist()
    assert rows == [
        {"发生日期": "2026-09-03", "当事人/姓名": "张三、李四", "当事人/联系电话": "13812345678",
         "是否化解": "1", "_row": 4},
        {"发生日期": "9月4日", "当事人/姓名": "王五", "当事人/联系电话": None, "是否化解": "√",
         "_row": 5},
        {"发生日期": "2026.9.5", "当事人/姓名": None, "当事人/联系电话": None, "是否化解": "是",
         "_row": 7},
    ]
    assert any("某镇台账（2026年9月）" in n for n in ledger.notes)
    assert not any("totals" in n for n in ledger.notes)
    mismatch = by["h_台账.xlsx#2026年9月"]
    # every row the sheet holds is read: the totals row is counted as a reject, the
    # signature line under it is a record (validation will find it wanting)
    got = mismatch.records.select(["_row", "_parse_error", "_raw_text", "发生日期"]).to_pylist()
    assert [r["_row"] for r in got] == [4, 5, 7, 8, 10]
    assert got[3] == {"_row": 8, "_parse_error": "not_a_record: a totals row (合计)",
                      "_raw_text": "合计\t共5件", "发生日期": None}
    assert got[4]["发生日期"] == "填表人：沈建国" and got[4]["_parse_error"] is None
    assert any("共5件" in n and "3 data rows" in n for n in mismatch.notes)

    final = batches[-1].cursor["files"]
    assert len(final) == 9
    assert all(e["done"] for e in final.values())
    assert final["330421999/a_empty.csv"]["size"] == 0


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        list(FileDropConnector(FileDropConfig(path=tmp_path / "nope"), source="township")
             .extract(None))
    with pytest.raises(SourceNotFoundError, match=r"FileDropConfig\.path"):
        list(FileDropConnector(FileDropConfig(), source="township").extract(None))
