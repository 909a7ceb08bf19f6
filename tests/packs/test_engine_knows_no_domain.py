"""The engine knows no domain: no engine module names anything of a pack's.

A pack's identifiers are read from the pack itself: its source names, the model and code
list classes of its Python modules and their fields and members' names, the tables its
SQL files create, and the names in its connector defaults. The engine's modules are
scanned as code (identifiers, and the words of every string that is not a docstring:
SQL lives in strings); comments and docstrings may explain with examples.

A few words are the engine's own vocabulary as much as a pack's (every ledger has a
`source` and a `status`): ENGINE_WORDS lists them, each a deliberate decision.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from enum import Enum
from pathlib import Path

import pytest
from pydantic import BaseModel

from silobridge.packs import installed
from silobridge.packs import module as module_of

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ("connectors", "conform", "warehouse", "quality", "schemas")
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: words a pack may use that are the engine's own too: the ledgers' and lineage columns
#: (ops.runs, ops.batches, raw.records), and plain words of the language of every domain
ENGINE_WORDS = frozenset({
    "id", "name", "source", "status", "kind", "level", "code", "title", "note", "notes",
    "run_id", "batch_id", "row_no", "origin", "record", "records", "value", "label",
    "label_zh", "label_en", "zh", "en", "at", "updated_at", "created_at", "path", "url",
    "table", "key_column", "updated_column", "children", "foreign_key", "action", "org",
    "unknown", "other", "open", "closed", "error", "version", "amount", "address", "lon",
    "lat", "datum", "summary", "method", "role", "type", "file", "day", "month",
    # personal data the engine protects whatever the domain (schemas.pii), lineage every
    # raw row keeps (connectors.lineage), a child row's position, a time bucket
    "phone", "id_number", "credit_code", "raw_hash", "seq", "bucket", "division",
    "divisions", "source_status",
    # what the entity merge keys a record's versions by: a column every staged table of an
    # entity holds (warehouse/entity.py's contract), like run_id and row_no
    "source_record_id",
    # a chart's colour scale (altair's keyword), a decimal's scale: the dispute model's
    # field `scale` (individual or group dispute) is not what the engine means by it
    "scale",
})


def _pack_identifiers(pack) -> set[str]:
    names: set[str] = set(pack.source_names)
    for source in pack.sources:  # the defaults' values; their keys are the engine's settings
        names |= {w for v in source.defaults.values() for w in _words_of_defaults(v)}
        names.add(source.cursor)
    for sql in pack.folder.rglob("*.sql"):  # marts and audits are named after what they hold;
        head = sql.read_text(encoding="utf-8").lstrip()  # the entity rules' files by role
        if "MODEL (" in head or head.startswith("/* audit"):
            names.add(sql.stem)
    module_of(pack, "conforming")  # a pack outside packs/ is imported from its folder
    for module in _pack_modules(pack.package):
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ != module.__name__:
                continue
            if issubclass(obj, BaseModel):
                names.add(obj.__name__)
                names |= set(obj.model_fields)
            elif issubclass(obj, Enum):
                names.add(obj.__name__)
    return {n for n in names if len(n) > 2 and n.lower() not in ENGINE_WORDS}


def _words_of_defaults(value: object) -> set[str]:
    if isinstance(value, dict):
        return {w for k, v in value.items() for w in ({k} | _words_of_defaults(v))}
    if isinstance(value, str) and WORD.fullmatch(value):
        return {value}
    return set()


def _pack_modules(package: str) -> Iterator[object]:
    root = importlib.import_module(package)
    yield root
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if ".mockworld" in info.name:  # the remote systems we play, not the pack's contract
            continue
        yield importlib.import_module(info.name)


def _engine_files() -> list[Path]:
    return sorted(p for pkg in ENGINE for p in (ROOT / pkg).rglob("*.py"))


def _code_words(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                                | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                yield from ((node.lineno, w) for w in WORD.findall(node.value))
        elif isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, ast.arg | ast.keyword) and node.arg:
            yield node.lineno, node.arg
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.lineno, node.name
        elif isinstance(node, ast.alias):
            yield node.lineno, node.asname or node.name.rsplit(".", 1)[-1]


def _findings() -> dict[str, list[str]]:
    wanted: dict[str, str] = {}
    for pack in installed().values():
        wanted |= {name.lower(): pack.name for name in _pack_identifiers(pack)}
    found: dict[str, list[str]] = {}
    for path in _engine_files():
        for line, word in _code_words(path):
            if word.lower() in wanted:
                rel = str(path.relative_to(ROOT))
                found.setdefault(rel, []).append(f"{rel}:{line}: {word}")
    return found


def test_the_scan_finds_a_pack_name_in_an_engine_module(tmp_path: Path) -> None:
    # the scan itself works: a pack's source name in code is caught, in a docstring not
    path = tmp_path / "m.py"
    path.write_text('"""the county\'s rows"""\nSQL = "SELECT * FROM t WHERE s = \'county\'"\n',
                    encoding="utf-8")
    assert [w for _, w in _code_words(path) if w == "county"] == ["county"]


def test_no_engine_module_names_a_pack_identifier() -> None:
    found = _findings()
    assert not found, "engine modules that name a pack's identifiers:\n" + "\n".join(
        line for lines in found.values() for line in lines[:5])


@pytest.mark.parametrize("path", _engine_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_engine_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines"


def test_the_engine_names_nothing_of_the_tiny_test_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan with the tiny pack of tests/packs/tiny installed beside the dispute pack:
    no engine module names any of its identifiers (the ratchet's modules hold dispute
    words only)."""
    monkeypatch.setenv("SILOBRIDGE_PACK_PATH", str(Path(__file__).parent / "tiny"))
    installed.cache_clear()
    try:
        words = {w.lower() for w in _pack_identifiers(installed()["meters"])}
        assert {"meter_id", "read_at", "volume_m3", "meterreading", "utility",
                "daily_use"} <= words
        named = [line for lines in _findings().values() for line in lines
                 if line.rsplit(": ", 1)[1].lower() in words]
        assert named == []
    finally:
        monkeypatch.delenv("SILOBRIDGE_PACK_PATH")
        installed.cache_clear()
