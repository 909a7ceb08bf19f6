"""CSV drop files: decode, then parse record by record with exact physical line numbers.

Decoding. The whole file is tried in the configured encodings, strictly and in order.
UTF-8 must come before GB18030: GB18030 maps almost any byte sequence to some character,
so trying it first would silently garble UTF-8 files. A file that no encoding decodes
whole (one bad byte sequence in one row) is decoded line by line in the first encoding,
in that order, that reads at least half of its non-ASCII bytes (a GBK file decodes
almost none of them as UTF-8; a UTF-8 file with one damaged row, all but a few);
failing that, in the one that reads most; only when none decodes a single
line, in the encoding charset detection finds. Only the lines that do not decode are
rejected (`bad_encoding`). A file with a NUL in its first line is binary, or UTF-16
without a byte-order mark, which charset detection tries.

Parsing. Each record is parsed on its own, so a bad row costs only itself:
- a row with bytes its encoding cannot read, or a NUL or other control character → that
  record is rejected `bad_encoding`;
- a row with more or fewer fields than the header → `bad_row_shape`;
- a quote that does not close (within `limits.max_record_lines` lines, 100) or closes
  before garbage (`"a"b`) → that physical line is rejected `bad_row_shape` and parsing
  resumes at the next line; a quoted field that spans lines and closes properly is one
  record (row = its first line);
- a record over `limits.max_record_bytes` (1 MiB), or a field over the csv module's
  131,072 characters → `over_limit`.
Blank lines are not records; line numbers count physical lines (CR, LF or CRLF).

No header, no rows: when the header line itself cannot be read (bytes that are not text,
a control character, a quote left open), nothing in the file can be split into fields,
and the file becomes one error record (row = the header's line) holding its text.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import charset_normalizer

from schemas.reasons import Reason

from .file_cursor import Part, Record, unique_columns
from .json_records import CONTROL
from .limits import RAW_TEXT_LIMIT, ReadLimits
from .rejects import reason_of, reject

#: charset-normalizer's mess ratio (0 clean … 1 noise) below which its guess is trusted
_MAX_CHAOS = 0.1
# physical lines as the csv module and io.StringIO(newline="") see them
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_ASCII = bytes(range(128))
_C1 = re.compile(r"[\x80-\x9f]")  # C1 controls: a line holding one was misread


@dataclass(frozen=True)
class Lines:
    """A file's physical lines, each with its line ending, and which did not decode."""

    lines: list[str]
    encoding: str
    undecodable: frozenset[int] = frozenset()


def decode(data: bytes, encodings: Sequence[str]) -> Lines | str:
    """The file's lines, or why it is not text (a message for one error record)."""
    if data.startswith(_UTF16_BOMS):
        try:
            return _split(data.decode("utf-16"), "utf-16")
        except UnicodeDecodeError:
            return "UTF-16 byte-order mark, but not UTF-16"
    first = _LINE.match(data)  # a line ends at CR, LF or CRLF, as the parser sees it
    if first and b"\x00" in first.group():
        # a NUL in the header line: binary, or UTF-16 without BOM (a NUL in a data row
        # only rejects that row)
        guess = _detected(data)
        return guess if guess is not None else "binary data (or UTF-16 without byte-order mark)"
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            if encoding.startswith("utf-8") and _mostly_utf8(data):
                # a UTF-8 file with a few bad lines: GB18030, next in line, would decode
                # it whole and garble every line, so only the bad lines are rejected
                return _by_line(data, encodings)
            continue
        # say "utf-8" when utf-8-sig found no BOM to strip: that is what the file is
        plain = encoding == "utf-8-sig" and not data.startswith(codecs.BOM_UTF8)
        return _split(text, "utf-8" if plain else encoding)
    return _by_line(data, encodings)


def _split(text: str, encoding: str) -> Lines:
    # newline="" keeps each line's own ending, so line numbers count physical lines
    return Lines(io.StringIO(text, newline="").readlines(), encoding)


def _detected(data: bytes, *, ascii_compatible: bool = False) -> Lines | None:
    """The text charset detection finds, if clean; `ascii_compatible` rules out UTF-16 and
    UTF-32, which would turn a file whose header reads as ASCII into other characters."""
    best = charset_normalizer.from_bytes(data).best()
    if best is None or best.chaos > _MAX_CHAOS:
        return None
    if ascii_compatible and not _ascii_compatible(best.encoding):
        return None
    text = str(best)
    return None if "\x00" in text else _split(text, best.encoding)


def _ascii_compatible(encoding: str) -> bool:
    try:
        return "a,\n".encode(encoding) == b"a,\n"
    except (LookupError, UnicodeError):
        return False


def _by_line(data: bytes, encodings: Sequence[str]) -> Lines:
    """Decode line by line in the encoding that reads most of the file's non-ASCII bytes;
    the lines it cannot read are rejected.

    Weighed by bytes, not lines: a row of Chinese text is stronger evidence of its
    encoding than a stray byte pair, which may read as one character in any of them."""
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    raw = _LINE.findall(data[len(bom):])
    weight = {i: _non_ascii(line) for i, line in enumerate(raw) if not line.isascii()}
    total = sum(weight.values())
    usable = [e for e in dict.fromkeys(e.replace("utf-8-sig", "utf-8") for e in encodings)
              if _known(e)]
    fails = {e: frozenset(i for i in weight if not _decodes(raw[i], e)) for e in usable}
    lost = {e: sum(weight[i] for i in fails[e]) for e in usable}
    chosen = next((e for e in usable if lost[e] * 2 <= total), None)
    if chosen is None:
        chosen = min(usable, key=lost.__getitem__, default="utf-8")
        # Charset detection only when no configured encoding reads a single line: where
        # one does, a detected single-byte code page would garble those good lines
        if lost.get(chosen, total) == total:
            guess = _detected(data, ascii_compatible=True)
            if guess is not None:
                return guess
    bad = fails.get(chosen, frozenset(weight))
    lines = [line.decode(chosen, errors="replace") for line in raw]
    note = f"{chosen}, {len(bad)} line{'s' * (len(bad) != 1)} not decodable"
    return Lines(lines, note, bad)


def _mostly_utf8(data: bytes) -> bool:
    """Whether UTF-8 reads at least half of the non-ASCII bytes (weighed as in `_by_line`)."""
    wide = [line for line in _LINE.findall(data) if not line.isascii()]
    read = sum(_non_ascii(line) for line in wide if _decodes(line, "utf-8"))
    return bool(wide) and read * 2 >= sum(map(_non_ascii, wide))


def _non_ascii(line: bytes) -> int:
    return len(line.translate(None, _ASCII))


def _known(encoding: str) -> bool:
    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


def _decodes(line: bytes, encoding: str) -> bool:
    """Whether the line reads as text in `encoding`: strictly, and without C1 controls
    (U+0080..U+009F), which no text holds and which a wrong encoding readily yields
    (b"\xc2\x80" is valid UTF-8 for U+0080)."""
    try:
        return _C1.search(line.decode(encoding)) is None
    except UnicodeDecodeError:
        return False


def read_csv(relpath: str, data: bytes, encodings: Sequence[str], limits: ReadLimits) -> Part:
    """One part for the file: its header as columns and its records, parsed lazily."""
    decoded = decode(data, encodings)
    if isinstance(decoded, str):
        raw = data[:RAW_TEXT_LIMIT].decode("utf-8", errors="replace")
        tried = ", ".join(encodings)
        return Part(relpath, (), [(1, None, reject(Reason.BAD_ENCODING,
                                                   f"{decoded} (tried {tried})"), raw)])
    parser = _Parser(decoded, limits)
    header = parser.header()
    notes = (f"encoding: {decoded.encoding}",)
    if header is None:
        return Part(relpath, (), (), notes)
    if isinstance(header, tuple):  # the header itself could not be read
        row, error = header
        reason, message = reason_of(error)
        error = reject(reason, f"the header line cannot be read ({message}), so no row of "
                               "the file can be split into fields")
        return Part(relpath, (), [(row, None, error, parser.text_from(row - 1))], notes)
    columns, renamed = unique_columns(h.strip().lstrip("\ufeff").strip() for h in header)
    return Part(relpath, columns, parser.records(len(columns)), (*notes, *renamed))


class _Feed:
    """The lines after `pos`, handed to csv.reader one at a time.

    The reader pulls lines until it completes a record, so `pos` is where that record
    ends. A record may take at most `cap` lines: past that the feed ends, and the reader
    reports the quote still open.
    """

    def __init__(self, lines: list[str], pos: int, cap: int) -> None:
        self.lines, self.pos, self.cap = lines, pos, cap
        self.start = pos

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines) or self.pos - self.start >= self.cap:
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1]


class _Parser:
    def __init__(self, decoded: Lines, limits: ReadLimits) -> None:
        self.lines = decoded.lines
        self.undecodable = decoded.undecodable
        self.limits = limits
        self._restart(0)

    def _restart(self, pos: int) -> None:
        self.feed = _Feed(self.lines, pos, self.limits.max_record_lines)
        self.reader = csv.reader(self.feed, strict=True)

    def _next(self) -> tuple[int, list[str], str | None] | None:
        """(first line, fields, csv error or None) of the next non-blank record."""
        while True:
            start = self.feed.start = self.feed.pos
            try:
                fields = next(self.reader)
            except StopIteration:
                return None
            except csv.Error as e:
                return start, [], str(e)
            if fields:  # a blank line is no record
                return start, fields, None

    def header(self) -> list[str] | tuple[int, str] | None:
        """The header's names; (row, error) when it cannot be read; None if no lines."""
        found = self._next()
        if found is None:
            return None
        start, fields, error = found
        problem = self._unreadable(start, self.feed.pos) or (
            self._shape(start, error, fields, None) if error else None)
        return fields if problem is None else (start + 1, problem)

    def records(self, width: int) -> Iterator[Record]:
        while (found := self._next()) is not None:
            start, fields, error = found
            end = self.feed.pos
            if error is None and len(fields) == width:
                problem = self._unreadable(start, end)
                if problem is None:
                    yield start + 1, fields, None, None
                else:
                    yield start + 1, None, problem, self._raw(start, end)
                continue
            problem = self._shape(start, error, fields, width)
            if error is not None or end - start > 1:
                # a quote that does not close, or closes before garbage: the record is
                # its first line, and parsing resumes on the next
                end = start + 1
                self._restart(end)
            yield start + 1, None, self._unreadable(start, end) or problem, \
                self._raw(start, end)

    def _unreadable(self, start: int, end: int) -> str | None:
        """Why the text of lines [start, end) cannot be a record, whatever its fields."""
        if any(i in self.undecodable for i in range(start, end)):
            return reject(Reason.BAD_ENCODING, "bytes that do not decode in the file's "
                                               "encoding")
        text = self.lines[start] if end - start == 1 else "".join(self.lines[start:end])
        control = CONTROL.search(text)
        if control:
            return reject(Reason.BAD_ENCODING, f"control character "
                                               f"U+{ord(control.group()):04X}")
        limit = self.limits.max_record_bytes
        if len(text) * 4 > limit and len(text.encode("utf-8")) > limit:
            return reject(Reason.OVER_LIMIT, f"a record of {len(text.encode('utf-8')):,} "
                                             f"bytes, over the limit of {limit:,}")
        return None

    def _shape(self, start: int, error: str | None, fields: list[str],
               width: int | None) -> str:
        """Why a record starting at `start` has no usable fields."""
        if error is None:
            lines = self.feed.pos - start
            if lines > 1:
                return reject(Reason.BAD_ROW_SHAPE, f"a quote opened here runs over {lines} "
                                                    f"lines into {len(fields)} fields, "
                                                    f"expected {width}: taken as unbalanced")
            return reject(Reason.BAD_ROW_SHAPE, f"expected {width} fields, "
                                                f"found {len(fields)}")
        if "field limit" in error:
            return reject(Reason.OVER_LIMIT, f"a field over the csv module's limit: {error}")
        if "unexpected end of data" in error:
            where = (f"within {self.limits.max_record_lines} lines"
                     if self.feed.pos - start >= self.limits.max_record_lines
                     else "before the end of the file")
            return reject(Reason.BAD_ROW_SHAPE, f"a quote opened here does not close {where}")
        return reject(Reason.BAD_ROW_SHAPE, f"unbalanced quote: {error}")

    def _raw(self, start: int, end: int) -> str:
        return "".join(self.lines[start:end]).rstrip("\r\n")[:RAW_TEXT_LIMIT]

    def text_from(self, start: int) -> str:
        """The text from a line on (capped): a file that is one error record keeps it."""
        out, size = [], 0
        for line in self.lines[start:]:
            out.append(line)
            size += len(line)
            if size >= RAW_TEXT_LIMIT:
                break
        return "".join(out)[:RAW_TEXT_LIMIT]
