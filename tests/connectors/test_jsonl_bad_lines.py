"""JSON Lines files with bad lines: each bad line is one error record with its reason, the
good lines of the same file are read, and a file that is one JSON document is read as one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.base import RawBatch
from connectors.jsonl_drop import JsonlDropConfig, JsonlDropConnector
from connectors.limits import ReadLimits
from connectors.rejects import reason_of


def read(tmp_path: Path, data: bytes, **config: object) -> list[RawBatch]:
    drop = tmp_path / "grid"
    drop.mkdir(exist_ok=True)
    (drop / "20260901.jsonl").write_bytes(data)
    return list(JsonlDropConnector(JsonlDropConfig(path=drop, **config), source="grid")
                .extract(None))


def rows(batches: list[RawBatch]) -> list[dict]:
    return [r for b in batches for r in b.records.to_pylist()]


def reason(row: dict) -> str | None:
    return reason_of(row["_parse_error"])[0].value if row["_parse_error"] else None


def test_deep_and_long_lines_are_over_limit_and_the_rest_load(tmp_path: Path) -> None:
    deep = b"[" * 50_000 + b"]" * 50_000  # json.loads would raise RecursionError
    long = b'{"id":"9","t":"' + b"x" * 200_000 + b'"}'
    got = rows(read(tmp_path, b'{"id":"1"}\n' + deep + b'\n{"id":"2","n":[[1]]}\n' + long
                    + b'\n{"id":"3"}\n', limits=ReadLimits(max_record_bytes=150_000)))
    assert [(r["_row"], r["id"], reason(r)) for r in got] == [
        (1, "1", None), (2, None, "over_limit"), (3, "2", None), (4, None, "over_limit"),
        (5, "3", None)]
    assert "nested 50,000 deep, deeper than the 64" in got[1]["_parse_error"]
    assert "200,017 bytes, more than the 150,000" in got[3]["_parse_error"]
    assert len(got[1]["_raw_text"]) == 64 * 1024  # the text is kept, capped


def test_depth_limit_counts_levels_not_brackets_in_strings(tmp_path: Path) -> None:
    at_limit = b'{"a":' * 63 + b"[1]" + b"}" * 63
    over = b'{"a":' * 64 + b"[1]" + b"}" * 64
    brackets_in_text = b'{"t":"' + b"[{" * 500 + b'"}'
    got = rows(read(tmp_path, b"\n".join([at_limit, over, brackets_in_text])))
    assert [reason(r) for r in got] == [None, "over_limit", None]


@pytest.mark.parametrize(("line", "expected"), [
    (b'{"id":"1","id":"2"}', "duplicate_key"),
    (b'{"id":"1","p":{"k":1,"k":2}}', "duplicate_key"),  # at any level
    (b'{"id":"1","p":[{"k":true,"k":1}]}', "duplicate_key"),  # true is not 1
    (b'{"id":"1","id":"1"}', None),  # the same value twice is harmless
    (b'{"id":"1","p":{"k":1,"k":1.0,"o":{"a":1,"b":2},"o":{"b":2,"a":1}}}', None),
])
def test_duplicate_keys(tmp_path: Path, line: bytes, expected: str | None) -> None:
    got = rows(read(tmp_path, line + b'\n{"id":"ok"}\n'))
    assert [reason(r) for r in got] == [expected, None]
    assert got[1]["id"] == "ok"
    if expected:
        assert got[0]["_raw_text"] == line.decode()
        assert got[0]["id"] is None
    else:
        assert got[0]["id"] == "1"


@pytest.mark.parametrize(("line", "expected", "message"), [
    (b'{"id":"\xff"}', "bad_encoding", "not UTF-8"),
    (b'{"id":"a\x00b"}', "bad_encoding", "U+0000"),
    (b'{"id":"\\udc80"}', "bad_encoding", "surrogate"),
    (b'{"id":1' + b"0" * 5000 + b"}", "over_limit", "4,300 digits"),
    (b'{"id":NaN}', "unparseable", "NaN"),
    (b'{"id":"1",', "unparseable", "invalid JSON"),
    (b'"just text"', "not_a_record", "found string"),
    (b"\xe3\x80\x80", "unparseable", "invalid JSON"),  # U+3000 is no JSON whitespace
])
def test_each_bad_line_gets_its_reason(tmp_path: Path, line: bytes, expected: str,
                                       message: str) -> None:
    got = rows(read(tmp_path, b'{"id":"a"}\n' + line + b'\n{"id":"b","ok":"\\ud83d\\ude00"}\n'))
    assert [(r["_row"], reason(r)) for r in got] == [(1, None), (2, expected), (3, None)]
    assert message in got[1]["_parse_error"]
    assert got[2]["ok"] == "😀"  # a surrogate pair is one character, not an error


def test_pretty_printed_array_is_read_as_a_document(tmp_path: Path) -> None:
    records = [{"reportId": f"WG{i}", "parties": [{"name": "张三"}]} for i in range(16)]
    text = json.dumps([*records, 7], ensure_ascii=False, indent=2)
    batches = read(tmp_path, text.encode())
    got = rows(batches)
    assert [r["reportId"] for r in got[:-1]] == [r["reportId"] for r in records]
    lines = text.split("\n")
    for r in got:  # row = the line where the element starts
        assert lines[r["_row"] - 1].strip().startswith(("{", "7"))
    assert [reason(r) for r in got] == [None] * 16 + ["not_a_record"]
    assert got[-1]["_raw_text"] == "7"
    assert json.loads(got[0]["parties"]) == [{"name": "张三"}]
    assert any("a JSON array, not JSON Lines: its 17 elements" in n for n in batches[0].notes)


def test_document_elements_keep_the_limits(tmp_path: Path) -> None:
    text = ('[\n  {"id":"1"},\n  ' + '{"a":' * 70 + "1" + "}" * 70
            + ',\n  {"id":"2","id":"3"},\n  {"id":"4"}\n]\n')
    got = rows(read(tmp_path, text.encode()))
    assert [(r["_row"], reason(r)) for r in got] == [
        (2, None), (3, "over_limit"), (4, "duplicate_key"), (5, None)]


def test_one_object_over_several_lines_is_one_record(tmp_path: Path) -> None:
    batches = read(tmp_path, json.dumps({"id": "1", "p": {"k": [1, 2]}}, indent=4).encode())
    [row] = rows(batches)
    assert (row["_row"], row["id"], row["p"]) == (1, "1", '{"k":[1,2]}')
    assert any("one JSON object over several lines" in n for n in batches[0].notes)


def test_array_on_one_line_gives_each_record_a_batch(tmp_path: Path) -> None:
    # (batch, row) names a record downstream: records sharing a line go apart
    batches = read(tmp_path, b'[{"id":"1"},{"id":"2"},{"id":"3"}]\n')
    assert [(b.records.column("id").to_pylist(), b.records.column("_row").to_pylist())
            for b in batches] == [(["1"], [1]), (["2"], [1]), (["3"], [1])]
    assert batches[-1].cursor["files"]["20260901.jsonl"] | {"sha256": ""} == {
        "size": 35, "sha256": "", "rows": 3, "done": True}


def test_bad_element_of_a_document_is_rejected_alone(tmp_path: Path) -> None:
    text = json.dumps([{"id": str(i)} for i in range(4)], indent=2)
    broken = text.replace('"1"\n  },', '"1"\n  }', 1)  # a comma missing: 1 and 2 run on
    got = rows(read(tmp_path, broken.encode()))
    assert [(r["_row"], r["id"], reason(r)) for r in got] == [
        (2, "0", None), (5, None, "unparseable"), (11, "3", None)]


def test_empty_elements_and_a_string_across_lines_are_rejected_alone(tmp_path: Path) -> None:
    text = (b'[\n  {"id":"1"},\n  ,\n  {"id":"2","t":"a\nb"},\n  {"id":"3"},\n]\n')
    batches = read(tmp_path, text)
    got = rows(batches)
    # the stray comma (line 3) and the trailing one (closed on line 7) leave empty elements
    assert [(r["_row"], r["id"], reason(r)) for r in got] == [
        (2, "1", None), (3, None, "not_a_record"), (4, None, "unparseable"), (6, "3", None),
        (7, None, "not_a_record")]
    assert got[2]["_raw_text"] == '{"id":"2","t":"a\nb"}'
    assert any("its 5 elements" in n for n in batches[0].notes)


def test_broken_document_is_read_line_by_line_without_false_duplicates(
        tmp_path: Path) -> None:
    text = json.dumps([{"id": str(i)} for i in range(3)], indent=2)
    broken = text.removesuffix("]")  # a truncated download: the array never closes
    got = rows(read(tmp_path, broken.encode()))
    lines = [x for x in broken.split("\n") if x.strip()]
    assert len(got) == len(lines)  # every non-blank line, once
    assert all(reason(r) == "unparseable" for r in got)
    assert sum(r["_raw_text"].strip() == "}," for r in got) == 2
    assert sum(r["_raw_text"].strip() == "{" for r in got) == 3
    # equal garbage at different lines is different rejects, not duplicates
    hashes = [r["_raw_hash"] for r in got]
    assert len(set(hashes)) == len(hashes)


def test_equal_garbage_hashes_alike_when_the_file_is_read_again(tmp_path: Path) -> None:
    data = b'{"id":"1"}\n}\n}\n'
    first = rows(read(tmp_path, data))
    second = rows(read(tmp_path, data))
    assert [r["_raw_hash"] for r in first] == [r["_raw_hash"] for r in second]
    assert first[1]["_raw_hash"] != first[2]["_raw_hash"]


def test_empty_and_blank_files(tmp_path: Path) -> None:
    [empty] = read(tmp_path, b"")
    assert empty.num_rows == 0 and empty.notes == ("empty file (0 bytes)",)
    assert empty.columns == ()
    [blank] = read(tmp_path, b" \r\n\n\t\n")
    assert blank.num_rows == 0 and blank.notes == ("empty file (blank lines only)",)


def test_lines_of_distinct_keys_are_cut_into_batches_of_bounded_size(
        tmp_path: Path) -> None:
    # 400 lines of 50 keys each, all different: one table would be 400 × 20,000 cells
    lines = [json.dumps({f"k{n}_{i}": "v" for i in range(50)}) for n in range(400)]
    batches = read(tmp_path, "\n".join(lines).encode(),
                   limits=ReadLimits(max_batch_cells=100_000))
    assert len(batches) > 1
    assert all(b.num_rows * len(b.columns) <= 100_000 for b in batches)
    assert [r["_row"] for r in rows(batches)] == list(range(1, 401))
    assert sum(1 for b in batches for c in b.columns) == 400 * 50
