"""XLSX ledgers: every row a sheet holds is read or rejected with its reason, merged data
cells reach every cell of their range, and a workbook that cannot be a table is one
visible error record, never a crash or silence."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import xlsxwriter

from connectors.base import RawBatch
from connectors.file_drop import FileDropConfig, FileDropConnector
from connectors.limits import ReadLimits
from connectors.rejects import reason_of


def workbook(build: Callable[[xlsxwriter.Workbook], object]) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    build(wb)
    wb.close()
    return buf.getvalue()


def read(tmp_path: Path, data: bytes, **config: object) -> list[RawBatch]:
    town = tmp_path / "drop" / "330421999"
    town.mkdir(parents=True, exist_ok=True)
    (town / "台账_20260903.xlsx").write_bytes(data)
    return list(FileDropConnector(FileDropConfig(path=tmp_path / "drop", **config),
                                  source="township")
                .extract(None))


def only_error(batches: list[RawBatch]) -> tuple[str, str, int, str]:
    """(reason, message, row, origin) of a workbook that is one error record."""
    [batch] = batches
    [record] = batch.records.to_pylist()
    reason, message = reason_of(record["_parse_error"])
    return reason.value, message, record["_row"], record["_origin"]


def ledger(wb: xlsxwriter.Workbook) -> None:
    ws = wb.add_worksheet("2026年9月")
    ws.merge_range(0, 0, 0, 3, "某镇台账（2026年9月）")
    ws.write_row(1, 0, ["序号", "村（社区）", "纠纷简要情况", "调解员"])
    ws.write_row(2, 0, [1, None, "邻里纠纷", "张"])
    ws.merge_range(2, 1, 4, 1, "洪旗村")  # one village for three disputes
    ws.write_row(3, 0, [2])
    ws.write_row(3, 2, ["宅基地", None])
    ws.write_row(4, 0, [3])
    ws.write_row(4, 2, ["欠薪"])
    ws.merge_range(4, 3, 5, 3, "李")  # a mediator over a row and the one below
    ws.write_row(5, 0, ["合计", "共3件"])
    ws.write_row(6, 0, [4, "姚庄村", "补录的一件", "王"])  # entered after the totals row
    ws.write(8, 0, "填表人：沈建国")


def test_totals_row_is_counted_and_rows_after_it_are_read(tmp_path: Path) -> None:
    [batch] = read(tmp_path, workbook(ledger))
    got = batch.records.select(["_row", "_parse_error", "序号", "村（社区）",
                                "纠纷简要情况", "调解员"]).to_pylist()
    assert [(r["_row"], r["序号"], r["村（社区）"], r["调解员"]) for r in got] == [
        (3, "1", "洪旗村", "张"), (4, "2", "洪旗村", None), (5, "3", "洪旗村", "李"),
        (6, None, None, None), (7, "4", "姚庄村", "王"), (9, "填表人：沈建国", None, None)]
    assert got[3]["_parse_error"] == "not_a_record: a totals row (合计)"
    assert [r["_parse_error"] for r in got if r["_row"] != 6] == [None] * 5
    assert not any("totals" in n for n in batch.notes)  # 共3件 matches the rows above it


def test_merge_in_the_data_region_fills_every_cell_of_its_range(tmp_path: Path) -> None:
    def build(wb: xlsxwriter.Workbook) -> None:
        ws = wb.add_worksheet("s")
        ws.write_row(0, 0, ["a", "b", "c"])
        ws.merge_range(1, 0, 2, 1, "block")  # two rows by two columns
        ws.write(1, 2, "x")
        ws.write(3, 0, "alone")
    [batch] = read(tmp_path, workbook(build))
    assert batch.records.select(["_row", "a", "b", "c"]).to_pylist() == [
        {"_row": 2, "a": "block", "b": "block", "c": "x"},
        {"_row": 3, "a": "block", "b": "block", "c": None},
        {"_row": 4, "a": "alone", "b": None, "c": None}]


def test_workbook_without_sheets_is_one_error_record(tmp_path: Path) -> None:
    data = workbook(lambda wb: wb.add_worksheet("s").write(0, 0, "a"))
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            part = src.read(info)
            if info.filename == "xl/workbook.xml":
                part = re.sub(rb"<sheets>.*</sheets>", b"<sheets/>", part)
            z.writestr(info, part)
    reason, message, row, origin = only_error(read(tmp_path, out.getvalue()))
    assert (reason, message, row, origin) == (
        "not_a_record", "a workbook with no sheets", 1, "330421999/台账_20260903.xlsx")


def test_workbook_of_empty_sheets_is_one_error_record(tmp_path: Path) -> None:
    def build(wb: xlsxwriter.Workbook) -> None:
        wb.add_worksheet("一月")
        wb.add_worksheet("二月").merge_range(0, 0, 0, 5, "二月台账（无）")
    batches = read(tmp_path, workbook(build))
    reason, message, _, _ = only_error(batches)
    assert reason == "not_a_record"
    assert message == "none of its 2 sheets holds a table (empty, or titles only)"
    assert any("二月台账（无）" in n for n in batches[0].notes)


def test_header_only_sheet_beside_a_full_one_is_no_error(tmp_path: Path) -> None:
    def build(wb: xlsxwriter.Workbook) -> None:
        wb.add_worksheet("一月").write_row(0, 0, ["a", "b"])
        wb.add_worksheet("二月").write_row(0, 0, ["a", "b"])
        wb.get_worksheet_by_name("二月").write_row(1, 0, ["1", "2"])
    batches = read(tmp_path, workbook(build))
    assert [(b.origin.split("#")[1], b.num_rows) for b in batches] == [("二月", 1)]


def test_corrupt_workbooks_are_one_unparseable_record(tmp_path: Path) -> None:
    good = workbook(ledger)
    for data, words in [(b"sjbh,sqrxm\r\n1,a\r\n", "no zip signature"),
                        (good[: len(good) // 2], "not a readable XLSX workbook"),
                        (b"PK\x03\x04" + bytes(500), "not a readable XLSX workbook")]:
        reason, message, row, _ = only_error(read(tmp_path, data))
        assert (reason, row) == ("unparseable", 1)
        assert words in message


def test_sheet_too_sparse_to_allocate_is_over_limit(tmp_path: Path) -> None:
    # calamine would allocate 600 million cells here and abort the process
    def build(wb: xlsxwriter.Workbook) -> None:
        ws = wb.add_worksheet("s")
        ws.write(0, 0, "a")
        ws.write(200_000, 3000, "b")
    reason, message, _, _ = only_error(read(tmp_path, workbook(build)))
    assert reason == "over_limit"
    assert "spans 600,203,001 cells" in message


def test_zip_bomb_is_over_limit(tmp_path: Path) -> None:
    def build(wb: xlsxwriter.Workbook) -> None:
        ws = wb.add_worksheet("s")
        for r in range(2000):
            ws.write_row(r, 0, ["同一段文字"] * 20)
    data = workbook(build)
    assert len(data) < 100_000
    reason, message, _, _ = only_error(read(tmp_path, data,
                                            limits=ReadLimits(max_workbook_bytes=500_000)))
    assert reason == "over_limit" and "inflates to more than" in message
