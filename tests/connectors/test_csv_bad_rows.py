"""CSV files with bad rows: only the bad row is rejected, with its reason, at its physical
line; the other rows of the file are read as they are."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from connectors.base import RawBatch
from connectors.file_drop import FileDropConfig, FileDropConnector
from connectors.limits import ReadLimits
from connectors.rejects import reason_of

HEADER = "sjbh,sqrxm,bz\r\n"


def read(tmp_path: Path, data: bytes, name: str = "x.csv", **config: object) -> RawBatch:
    town = tmp_path / "drop" / "330421999"
    town.mkdir(parents=True, exist_ok=True)
    (town / name).write_bytes(data)
    [batch] = FileDropConnector(FileDropConfig(path=tmp_path / "drop", patterns=[f"*/{name}"],
                                               **config), source="township").extract(None)
    return batch


def rows(batch: RawBatch) -> list[tuple[int, list[str | None] | str]]:
    """(line, values or reason) per record."""
    out = []
    for r in batch.records.to_pylist():
        error = r["_parse_error"]
        out.append((r["_row"], reason_of(error)[0].value if error else
                    [r[c] for c in batch.columns]))
    return out


def test_one_invalid_utf8_sequence_rejects_its_row_only(tmp_path: Path) -> None:
    data = (HEADER + "1,张三,好\r\n2,李四,").encode() + b"\xe5\xbf" + "\r\n3,王五,ok\r\n".encode()
    batch = read(tmp_path, data)
    assert rows(batch) == [(2, ["1", "张三", "好"]), (3, "bad_encoding"),
                           (4, ["3", "王五", "ok"])]
    assert "encoding: utf-8, 1 line not decodable" in batch.notes
    assert batch.records.column("_raw_text")[1].as_py() == "2,李四,\ufffd"


def test_a_utf8_file_whose_bad_line_is_gb18030_is_not_read_as_gb18030(tmp_path: Path) -> None:
    # found by the property test: GB18030 decodes this whole file, UTF-8 all but one
    # line; read whole as GB18030, every 张三 would come out as 寮犱笁
    data = (HEADER + "1,张三,张三\r\n").encode() + b"2,\x81@,x\r\n" + "3,张三,x\r\n".encode()
    assert data.decode("gb18030")  # the trap: it reads, as something else
    batch = read(tmp_path, data)
    assert rows(batch) == [(2, ["1", "张三", "张三"]), (3, "bad_encoding"),
                           (4, ["3", "张三", "x"])]


def test_more_bad_lines_than_good_ones_do_not_hand_the_file_to_a_guessed_code_page(
        tmp_path: Path) -> None:
    # found by the property test: two lines of a lone 0x80 and one good UTF-8 row; no
    # configured encoding reads half of them, and charset detection said mac_cyrillic,
    # which read the good row as garbage
    data = HEADER.encode() + b"\x80\r\n\x80\r\n" + "3,张三,好\r\n".encode()
    batch = read(tmp_path, data)
    assert rows(batch) == [(2, "bad_encoding"), (3, "bad_encoding"), (4, ["3", "张三", "好"])]
    assert "encoding: utf-8, 2 lines not decodable" in batch.notes


def test_a_nul_in_a_row_of_a_cr_file_rejects_that_row_only(tmp_path: Path) -> None:
    # found by the property test: a file whose lines end in a bare CR was taken for one
    # line holding a NUL, hence binary or UTF-16, and read as Chinese-looking UTF-16
    batch = read(tmp_path, "sjbh,sqrxm,bz\r1,张三,好\r".encode() + b"2,\x00,x\r")
    assert rows(batch) == [(2, ["1", "张三", "好"]), (3, "bad_encoding")]


def test_one_invalid_gbk_sequence_rejects_its_row_only(tmp_path: Path) -> None:
    # trying GB18030 line by line, not UTF-8, because UTF-8 reads almost no line of it
    data = (HEADER + "1,张三,好\r\n2,李四,坏").encode("gbk") + b"\xff" \
        + "\r\n3,王五,ok\r\n4,赵六,䶮\r\n".encode("gb18030")
    batch = read(tmp_path, data)
    assert rows(batch) == [(2, ["1", "张三", "好"]), (3, "bad_encoding"),
                           (4, ["3", "王五", "ok"]), (5, ["4", "赵六", "䶮"])]
    assert "encoding: gb18030, 1 line not decodable" in batch.notes


@pytest.mark.parametrize("control", ["\x00", "\x07", "\x1b"])
def test_control_character_rejects_its_row_only(tmp_path: Path, control: str) -> None:
    data = (HEADER + f"1,张三,好\r\n2,李{control}四,x\r\n3,王五,ok\r\n").encode("gbk")
    batch = read(tmp_path, data)
    assert rows(batch) == [(2, ["1", "张三", "好"]), (3, "bad_encoding"),
                           (4, ["3", "王五", "ok"])]
    assert "encoding: gb18030" in batch.notes  # the file as a whole still decodes
    assert f"U+{ord(control):04X}" in batch.records.column("_parse_error")[1].as_py()


def test_unbalanced_quote_rejects_its_line_and_parsing_resumes(tmp_path: Path) -> None:
    data = (HEADER
            + '1,"张三,open\r\n'  # never closes: would swallow the file
            + '2,"多行\r\n备注",ok\r\n'  # a legitimate quoted line break
            + '"3"x,王五,ok\r\n'  # closes before garbage
            + "\r\n"
            + '4,赵六,"a ""quoted"" word"\r\n'
            + "5,钱七\r\n"  # one field short
            + "6,孙八,ok,extra\r\n").encode("gbk")
    got = rows(read(tmp_path, data))
    assert got == [(2, "bad_row_shape"), (3, ["2", "多行\r\n备注", "ok"]),
                   (5, "bad_row_shape"), (7, ["4", "赵六", 'a "quoted" word']),
                   (8, "bad_row_shape"), (9, "bad_row_shape")]


def test_quote_that_stays_open_is_given_up_after_max_record_lines(tmp_path: Path) -> None:
    body = "".join(f"{i},x,y\r\n" for i in range(2, 30))
    batch = read(tmp_path, (HEADER + '1,"open,y\r\n' + body).encode(),
                 limits=ReadLimits(max_record_lines=5))
    got = rows(batch)
    assert got[0] == (2, "bad_row_shape")
    assert "within 5 lines" in batch.records.column("_parse_error")[0].as_py()
    assert got[1:] == [(i + 1, [str(i), "x", "y"]) for i in range(2, 30)]


def test_quoted_line_break_that_gives_the_wrong_shape_rejects_one_line(tmp_path: Path) -> None:
    # the quote opened on line 2 closes on line 4 into a record of 4 fields: it was a
    # stray quote, and the lines it ran over are records of their own
    data = (HEADER + '1,"a,b\r\n2,x,y\r\n3",c,d,e\r\n').encode()
    assert rows(read(tmp_path, data)) == [(2, "bad_row_shape"), (3, ["2", "x", "y"]),
                                          (4, "bad_row_shape")]


def test_record_over_the_size_limit(tmp_path: Path) -> None:
    data = (HEADER + "1,张三," + "x" * 3000 + "\r\n2,李四,ok\r\n").encode()
    got = rows(read(tmp_path, data, limits=ReadLimits(max_record_bytes=1000)))
    assert got == [(2, "over_limit"), (3, ["2", "李四", "ok"])]
    field = (HEADER + "1,张三," + "x" * 200_000 + "\r\n2,李四,ok\r\n").encode()
    assert rows(read(tmp_path, field, name="y.csv")) == [(2, "over_limit"),
                                                          (3, ["2", "李四", "ok"])]


def test_unreadable_header_makes_the_file_one_record(tmp_path: Path) -> None:
    batch = read(tmp_path, b'sjbh,"sqrxm\r\n1,a\r\n2,b\r\n')
    [(row, error, text)] = [(r["_row"], r["_parse_error"], r["_raw_text"])
                            for r in batch.records.to_pylist()]
    assert row == 1 and error.startswith("bad_row_shape: the header line cannot be read")
    assert text == 'sjbh,"sqrxm\r\n1,a\r\n2,b\r\n'


def test_binary_file_is_one_record(tmp_path: Path) -> None:
    batch = read(tmp_path, bytes(64) + b"\x01\x02" * 100 + bytes(900))
    [record] = batch.records.to_pylist()
    assert record["_parse_error"].startswith("bad_encoding: binary data")
    assert batch.columns == ()


def test_mock_world_file_with_bad_rows(tmp_path: Path, small_world: Path) -> None:
    """A real GBK export from the mock world, three rows damaged: the others read as before."""
    source = max((small_world / "township" / "330421001").glob("*.csv"),
                 key=lambda p: p.stat().st_size)
    lines = source.read_bytes().split(b"\r\n")
    assert len(lines) > 6 and b'"' not in source.read_bytes()  # the feed never quotes
    lines[2] = lines[2][:20] + b"\xff\xfe" + lines[2][20:]
    lines[3] = lines[3].replace(b",", b',"', 1)
    lines[4] = lines[4][:5] + b"\x00" + lines[4][5:]
    town = tmp_path / "drop" / "330421001"
    town.mkdir(parents=True)
    shutil.copy(source, town / "a.csv")
    (town / "b.csv").write_bytes(b"\r\n".join(lines))
    batches = list(FileDropConnector(FileDropConfig(path=tmp_path / "drop"), source="township")
                   .extract(None))
    good, bad = (b.records.to_pylist() for b in batches)
    assert [r["_row"] for r in bad] == [r["_row"] for r in good]
    assert [reason_of(r["_parse_error"])[0].value for r in bad if r["_parse_error"]] == [
        "bad_encoding", "bad_row_shape", "bad_encoding"]
    for g, b in zip(good, bad, strict=True):
        if b["_row"] not in (3, 4, 5):
            assert g | {"_origin": ""} == b | {"_origin": ""}
    expected = list(csv.DictReader(io.StringIO(source.read_bytes().decode("gbk"), newline="")))
    assert [{c: r[c] for c in batches[0].columns} for r in good] == expected
