"""Property tests of the file readers on generated garbage: whatever the bytes, a reader
yields batches in which everything it saw is present exactly once (a record or an error
record with a known reason), or raises a SourceError; nothing else, and it terminates."""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import LINEAGE_COLUMNS, RawBatch
from connectors.errors import SourceError
from connectors.file_drop import FileDropConfig, FileDropConnector
from connectors.jsonl_drop import JsonlDropConfig, JsonlDropConnector
from connectors.limits import ReadLimits
from connectors.rejects import reason_of
from schemas.reasons import Reason

PROPERTIES = settings(max_examples=60, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: small limits, so that generated input reaches them
LIMITS = ReadLimits(max_record_bytes=4000, max_depth=8, max_record_lines=6)
READER_REASONS = {Reason.BAD_ENCODING, Reason.BAD_ROW_SHAPE, Reason.NOT_A_RECORD,
                  Reason.DUPLICATE_KEY, Reason.OVER_LIMIT, Reason.UNPARSEABLE}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Path]:
    """A fresh folder per generated example (hypothesis runs many in one test call)."""
    return lambda: tmp_path_factory.mktemp("drop")


def extract(read: Callable[[], list[RawBatch]]) -> list[RawBatch] | None:
    """The batches, or None when the reader raised a SourceError (allowed)."""
    try:
        return read()
    except SourceError:
        return None


def records(batches: list[RawBatch]) -> list[dict]:
    """Every record, each checked to be a record or an error record with a known reason."""
    out = []
    for b in batches:
        for r in b.records.to_pylist():
            error = r["_parse_error"]
            source_values = [r[c] for c in b.records.column_names if c not in LINEAGE_COLUMNS]
            if error is not None:
                reason, _ = reason_of(error)
                assert reason in READER_REASONS and error.startswith(reason.value + ": ")
                assert all(v is None for v in source_values)
                assert r["_raw_text"] is not None
            assert r["_raw_hash"]
            out.append(r)
    return out


# -- JSON Lines -------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=3),
    max_leaves=8)
json_tokens = st.sampled_from([
    "{", "}", "[", "]", ":", ",", '"k"', '"v"', "1", "-0.5e3", "true", "null", " ", "\n",
    "\r\n", '"', "\\", '\\"', "\\u", "\\ud800", "é", "中", "\x00", "\t", "NaN"])
jsonl_lines = st.one_of(
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8",
                                                                      "surrogatepass")),
    st.dictionaries(st.sampled_from("abcAB"), json_values, max_size=4).map(
        lambda d: json.dumps(d).encode()),
    st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 2)), max_size=4).map(
        lambda kv: ("{" + ",".join(f'"{k}":{v}' for k, v in kv) + "}").encode()),
    st.lists(json_tokens, max_size=30).map(lambda t: "".join(t).encode("utf-8",
                                                                      "surrogatepass")),
    st.integers(1, 3000).map(lambda n: b'{"a":' + b"[" * n + b"]" * n + b"}"),
    st.binary(max_size=200),
)
jsonl_files = st.one_of(
    st.lists(jsonl_lines, max_size=12).flatmap(
        lambda lines: st.sampled_from([b"\n", b"\r\n"]).map(lambda sep: sep.join(lines))),
    st.lists(json_values, max_size=6).flatmap(  # a document, whole or damaged
        lambda v: st.tuples(st.just(json.dumps(v, indent=2, ensure_ascii=False).encode(
            "utf-8", "surrogatepass")), st.integers(0, 40))).map(
        lambda doc_cut: doc_cut[0][:len(doc_cut[0]) - doc_cut[1]]),
    st.binary(max_size=3000),
)


def _document_size(data: bytes) -> int | None:
    """How many records a valid JSON document holds, by an independent parser."""
    try:
        value = json.loads(data.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return len(value) if isinstance(value, list) else 1


@PROPERTIES
@given(data=jsonl_files)
def test_jsonl_reader_accounts_for_every_line(folders: Callable[[], Path], data: bytes) -> None:
    drop = folders()
    (drop / "x.jsonl").write_bytes(data)
    batches = extract(lambda: list(JsonlDropConnector(
        JsonlDropConfig(path=drop, limits=LIMITS, batch_rows=5), source="grid").extract(None)))
    if batches is None:
        return
    assert batches and batches[-1].cursor["files"]["x.jsonl"]["done"]
    got = records(batches)
    rows = Counter(r["_row"] for r in got)
    notes = " ".join(n for b in batches for n in b.notes)
    if "not JSON Lines" in notes:  # read as one document: one row per element
        size = _document_size(data)
        if size is not None:
            assert len(got) == size
        assert sorted(r["_row"] for r in got) == [r["_row"] for r in got]
    else:  # every non-blank line exactly once
        lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
        expected = Counter(n for n, line in enumerate(lines, start=1)
                           if line.strip(b" \t\r\n"))
        assert rows == expected
    for b in batches:  # (batch, row) names a record
        assert len(set(b.records.column("_row").to_pylist())) == b.num_rows
    if not data:
        assert notes == "empty file (0 bytes)"


# -- CSV --------------------------------------------------------------------------------
WORDS = ["张三", "李四", "邻里纠纷", "宅基地", "洪旗村", "已调解", "abc", "12"]
CSV_WIDTH = 3
good_rows = st.lists(st.sampled_from(WORDS), min_size=CSV_WIDTH, max_size=CSV_WIDTH)
junk_lines = st.one_of(
    st.text(alphabet=st.sampled_from(',"ab \x00\x07\t\\'), max_size=20),
    st.binary(max_size=20).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(",".join),  # wrong width
)
csv_lines = st.one_of(good_rows.map(lambda r: ("good", r)), junk_lines.map(lambda j: ("junk", j)),
                      st.just(("blank", "")))


def _encode(kind: str, value: object, encoding: str) -> bytes:
    if kind == "good":
        return ",".join(value).encode(encoding)  # type: ignore[arg-type]
    return value if isinstance(value, bytes) else str(value).encode(encoding)


@PROPERTIES
@given(lines=st.lists(csv_lines, max_size=15), encoding=st.sampled_from(["utf-8", "gbk"]),
       newline=st.sampled_from([b"\r\n", b"\n", b"\r"]), binary=st.binary(max_size=400),
       raw=st.booleans())
def test_csv_reader_accounts_for_every_row(folders: Callable[[], Path], lines: list,
                                           encoding: str, newline: bytes, binary: bytes,
                                           raw: bool) -> None:
    physical = [b"a,b,c", *(_encode(k, v, encoding) for k, v in lines)]
    data = binary if raw else newline.join(physical) + newline
    town = folders() / "330421999"
    town.mkdir()
    (town / "x.csv").write_bytes(data)
    batches = extract(lambda: list(FileDropConnector(FileDropConfig(
        path=town.parent, limits=LIMITS, batch_rows=4), source="township").extract(None)))
    if batches is None:
        return
    got = records(batches)
    rows = [r["_row"] for r in got]
    assert rows == sorted(set(rows))  # each record once, in file order
    if not batches[0].columns:  # no header: the file is one error record, or nothing
        assert len(got) <= 1
        return
    assert raw or batches[0].columns == ("a", "b", "c")
    if raw:
        return
    # the lines as the reader counts them: CR, LF and CRLF all end one
    assert all(2 <= r <= len(physical) for r in rows)
    quoted = any(b'"' in line for line in physical)
    expected = {n for n, line in enumerate(physical, start=1) if n > 1 and line}
    if not quoted:  # no record can span lines: every non-blank line exactly once
        assert set(rows) == expected
    by_row = {r["_row"]: r for r in got}
    # The reader picks the encoding that reads most of the non-ASCII bytes: when the good
    # rows outweigh the junk, they are read intact; junk that outweighs them may decide
    # the encoding (a file of one good row and a heavier stray line is ambiguous).
    weight = {kind: sum(len(_encode(k, v, encoding).translate(None, bytes(range(128))))
                        for k, v in lines if (k == "good") == (kind == "good"))
              for kind in ("good", "junk")}
    if weight["good"] > weight["junk"] and not quoted:
        for n, (kind, value) in enumerate(lines, start=2):
            if kind == "good":  # the good rows of a bad file are read intact
                assert [by_row[n][c] for c in "abc"] == value


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# -- XLSX -------------------------------------------------------------------------------
# (no control characters: xlsxwriter writes them raw into formulas, breaking the XML
# openpyxl checks against; merged cells' texts too, where '=\x1f' was found)
cell_texts = st.characters(blacklist_categories=("Cc", "Cs"))
cell_values = st.one_of(
    st.none(), st.sampled_from(["合计", "小计", "共3件", "", " ", "序号", "=1+1"]),
    st.text(cell_texts, max_size=8),
    st.integers(-10**6, 10**6), st.floats(allow_nan=False,
                                                                allow_infinity=False),
    st.booleans(), st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)))
sheets = st.lists(st.tuples(
    st.dictionaries(st.tuples(st.integers(0, 14), st.integers(0, 7)), cell_values, max_size=40),
    st.lists(st.tuples(st.integers(0, 14), st.integers(0, 7), st.integers(0, 3),
                       st.integers(0, 3), st.text(cell_texts, max_size=4)), max_size=4),
), max_size=3)


def _workbook(spec: list) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    day = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for i, (cells, merges) in enumerate(spec):
        ws = wb.add_worksheet(f"S{i}")
        for (r, c), value in cells.items():
            if isinstance(value, datetime):
                ws.write_datetime(r, c, value, day)
            elif value is not None:
                ws.write(r, c, value)
        for r, c, h, w, text in merges:
            if h or w:
                with contextlib.suppress(xlsxwriter.exceptions.OverlappingRange):
                    ws.merge_range(r, c, r + h, c + w, text)
    wb.close()
    return buf.getvalue()


def _filled_rows(data: bytes) -> dict[str, set[int]]:
    """Sheet → rows holding a value, by an independent reader (openpyxl)."""
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    out = {}
    for ws in book.worksheets:
        out[ws.title] = {cell.row for row in ws.iter_rows() for cell in row
                         if cell.value not in (None, "")}
    return out


def _merged_rows(data: bytes) -> dict[str, set[int]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return {ws.title: {r for m in ws.merged_cells.ranges
                       for r in range(m.min_row, m.max_row + 1)} for ws in book.worksheets}


def _read_xlsx(folder: Path, data: bytes) -> list[RawBatch] | None:
    town = folder / "330421999"
    town.mkdir()
    (town / "x.xlsx").write_bytes(data)
    return extract(lambda: list(FileDropConnector(FileDropConfig(
        path=folder, limits=LIMITS, batch_rows=4), source="township").extract(None)))


@PROPERTIES
@given(spec=sheets)
def test_xlsx_reader_reads_every_row_below_the_header(folders: Callable[[], Path],
                                                      spec: list) -> None:
    data = _workbook(spec)
    batches = _read_xlsx(folders(), data)
    assert batches is not None
    got = records(batches)
    filled = _filled_rows(data)
    merged = _merged_rows(data)
    by_sheet: dict[str, list[int]] = {}
    for r in got:
        origin = r["_origin"]
        if "#" not in origin:  # the workbook as one record: no sheet holds a table
            assert len(got) == 1 and reason_of(r["_parse_error"])[0] == Reason.NOT_A_RECORD
            return
        by_sheet.setdefault(origin.split("#")[1], []).append(r["_row"])
    for sheet, rows in by_sheet.items():
        assert len(rows) == len(set(rows))
        assert set(rows) <= filled[sheet] | merged[sheet]
        # nothing below the first record is lost (the header and titles are above it)
        assert {n for n in filled[sheet] if n >= min(rows)} <= set(rows)


@PROPERTIES
@given(spec=sheets, cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                  min_size=1, max_size=4), truncate=st.booleans(),
       raw=st.binary(max_size=300))
def test_xlsx_reader_survives_damaged_and_random_bytes(folders: Callable[[], Path],
                                                       spec: list, cuts: list,
                                                       truncate: bool, raw: bytes) -> None:
    data = bytearray(_workbook(spec))
    for at, byte in cuts:
        data[at % len(data)] = byte
    if truncate:
        data = data[: cuts[0][0] % len(data)]
    for sample in (bytes(data), raw, b"PK\x03\x04" + raw):
        batches = _read_xlsx(folders(), sample)
        assert batches is not None
        got = records(batches)
        for origin in {r["_origin"] for r in got}:
            rows = [r["_row"] for r in got if r["_origin"] == origin]
            assert len(rows) == len(set(rows))


def test_vocabulary_is_not_utf8_in_gbk() -> None:
    """The CSV property's words, in GBK, must not read as UTF-8 (some GBK text does)."""
    assert all(w.isascii() or not _is_utf8(w.encode("gbk")) for w in WORDS)
