"""How much of one record (and one batch) the file readers accept, declared once.

The limits guard the reader, not the data: a JSON line nested ten thousand deep would
exhaust Python's recursion, a sheet with one cell at A1 and one at XFD1048576 would make
the XLSX library allocate 17 billion cells and abort the process. A record over a limit
becomes an error record with reason `over_limit` (its first RAW_TEXT_LIMIT characters
kept); the other records of the file are read as usual. The limits are checked before
the record is parsed, so an oversized record costs no more than reading its bytes.
The signed API connector builds these limits from its own settings (`max_record_bytes`,
`max_record_depth`) for its rows, which `json_records` reads as it reads JSON lines.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

#: how much of an unparsed record's text an error record keeps (`_raw_text`)
RAW_TEXT_LIMIT = 64 * 1024


class ReadLimits(BaseModel):
    #: bytes of one record: a JSON line, one element of a JSON document, one CSV record
    max_record_bytes: int = Field(1024 * 1024, gt=0)
    #: nesting depth of one JSON record (objects and arrays; a flat object is depth 1)
    max_depth: int = Field(64, gt=0)
    #: physical lines one CSV record may span (quoted fields with line breaks); a quote
    #: still open after that many lines is taken as unbalanced
    max_record_lines: int = Field(100, gt=0)
    #: cells of one worksheet's used range (rows × columns, empty cells included)
    max_sheet_cells: int = Field(2_000_000, gt=0)
    #: uncompressed bytes of a workbook's XML (a zip bomb stops here)
    max_workbook_bytes: int = Field(256 * 1024 * 1024, gt=0)
    #: cells of one batch's table (rows × columns): JSON lines with many distinct keys
    #: are cut into more batches before their table passes it
    max_batch_cells: int = Field(5_000_000, gt=0)
