"""CSV drop files: detect the encoding, then parse with exact physical line numbers.

Encodings are tried strictly in the configured order. UTF-8 must come before GB18030:
GB18030 maps almost any byte sequence to some character, so trying it first would
silently garble UTF-8 files. What nothing decodes becomes one error record holding the
text as far as it can be read, so no file is dropped without a trace.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence

import charset_normalizer

from .file_cursor import Part, Record, unique_columns

RAW_TEXT_LIMIT = 64 * 1024
#: charset-normalizer's mess ratio (0 clean … 1 noise) below which its guess is trusted
_MAX_CHAOS = 0.1


def decode(data: bytes, encodings: Sequence[str]) -> tuple[str | None, str]:
    """(text, encoding), or (None, "tried …") when nothing decodes cleanly."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        # NULs mean a binary file or a UTF-16 file without BOM, never real CSV text
        if "\x00" not in text:
            # say "utf-8" when utf-8-sig found no BOM to strip: that is what the file is
            plain = encoding == "utf-8-sig" and not data.startswith(codecs.BOM_UTF8)
            return text, "utf-8" if plain else encoding
    best = charset_normalizer.from_bytes(data).best()
    if best is not None and best.chaos <= _MAX_CHAOS:
        text = str(best)
        if "\x00" not in text:
            return text, best.encoding
    return None, "tried " + ", ".join(encodings) + ", charset detection"


def read_csv(relpath: str, data: bytes, encodings: Sequence[str]) -> Part:
    """One part for the file: its header as columns and its records, parsed lazily."""
    text, encoding = decode(data, encodings)
    if text is None:
        raw = data.decode("utf-8", errors="replace")[:RAW_TEXT_LIMIT]
        return Part(relpath, (), [(1, None, f"undecodable: {encoding}", raw)])
    # newline="" keeps each line's own ending, so line numbers count physical lines
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines)
    header, header_end = _header(reader)
    if header is None:
        return Part(relpath, (), (), (f"encoding: {encoding}",))
    columns, renamed = unique_columns(h.strip().lstrip("\ufeff").strip() for h in header)
    notes = (f"encoding: {encoding}", *renamed)
    return Part(relpath, columns, _records(reader, lines, len(columns), header_end), notes)


def _header(reader: Iterator[list[str]]) -> tuple[list[str] | None, int]:
    for fields in reader:
        if fields:
            return fields, reader.line_num  # type: ignore[attr-defined]
    return None, 0


def _records(reader: Iterator[list[str]], lines: list[str], width: int,
             end: int) -> Iterator[Record]:
    while True:
        start = end + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:  # e.g. a field over the size limit: keep its lines as text
            end = max(start, reader.line_num)  # type: ignore[attr-defined]
            yield start, None, f"unparsable CSV: {e}", _raw(lines, start, end)
            continue
        end = reader.line_num  # type: ignore[attr-defined]
        if not fields:  # a blank line is not a record
            continue
        if len(fields) != width:
            yield (start, None, f"expected {width} fields, found {len(fields)}",
                   _raw(lines, start, end))
        else:
            yield start, fields, None, None


def _raw(lines: list[str], start: int, end: int) -> str:
    return "".join(lines[start - 1:end]).rstrip("\r\n")[:RAW_TEXT_LIMIT]
