"""A drop folder of dated CSV exports and XLSX ledgers (the `file_drop` kind), read file
by file.

Files are read in the order of their relative paths. Every file yields at least one batch
(an empty or header-only file yields an empty one, an empty file with the note "empty
file (0 bytes)") so that its cursor entry is stored; a file is marked done with its last
batch. Parsing lives in `csv_reader` and `xlsx_reader`, which turn whatever a file holds
into records and error records (their docstrings say which row gets which reason) under
`limits`; the position in the folder in `file_cursor`. Only a missing drop folder raises
(`SourceNotFoundError`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

from pydantic import BaseModel, Field

from .base import Cursor, RawBatch
from .csv_reader import read_csv
from .errors import SourceNotFoundError
from .file_cursor import EMPTY_FILE_NOTE, FileCursor, Part, PendingFile, fixed_table
from .limits import ReadLimits
from .xlsx_reader import read_xlsx

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")


class FileDropConfig(BaseModel):
    #: the drop folder (None: not set up)
    path: Path | None = None
    patterns: list[str] = ["*/*.csv", "*/*.xlsx"]
    #: tried in order; UTF-8 before GB18030, which silently garbles UTF-8
    encodings: list[str] = ["utf-8-sig", "utf-8", "gb18030"]
    batch_rows: int = 50000
    #: read only files whose name carries a date in this range (for backfills)
    dates: tuple[date, date] | None = None
    limits: ReadLimits = Field(default_factory=ReadLimits)


def drop_folder(source: str, path: Path | None, setting: str) -> Path:
    """The configured folder, or a SourceNotFoundError that names the setting to fix."""
    if path is None:
        raise SourceNotFoundError(source, f"no drop folder configured: set {setting}")
    if not path.is_dir():
        raise SourceNotFoundError(source, f"drop folder {path} does not exist "
                                          f"(check {setting})")
    return path


class FileDropConnector:
    def __init__(self, config: FileDropConfig, *, source: str) -> None:
        self.config = config
        self.source = source

    def extract(self, cursor: Cursor | None) -> Iterator[RawBatch]:
        root = drop_folder(self.source, self.config.path, "FileDropConfig.path")
        files = FileCursor(root, self.config.patterns, cursor, self.config.dates)
        for file in files.pending():
            yield from files.batches(self.source, file, self._parts(file),
                                     self.config.batch_rows, fixed_table,
                                     self.config.limits.max_batch_cells)

    def _parts(self, file: PendingFile) -> list[Part]:
        if not file.data:
            return [Part(file.relpath, (), (), (EMPTY_FILE_NOTE,))]
        if file.relpath.lower().endswith(WORKBOOK_SUFFIXES):
            return read_xlsx(file.relpath, file.data, self.config.limits)
        return [read_csv(file.relpath, file.data, self.config.encodings, self.config.limits)]
