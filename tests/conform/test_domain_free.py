"""The conform engine knows no pack: the dispute pack's names appear nowhere in
conform/*.py (code, strings, docstrings or comments), it imports none of the dispute
modules, and no module is over 400 lines."""

from __future__ import annotations

import ast
import enum
import io
import re
import tokenize
from pathlib import Path

from conform.targets import unwrap
from packs.disputes.conforming import CONTRACT
from silobridge.packs import pack

ENGINE = Path(__file__).parents[2] / "conform"
#: words of the pack's vocabulary that are also the engine's own: a mapping's `source`, a
#: field's `name` and `kind`, a child group's default sequence field `seq`, the decimal
#: kind ("is not an amount"), a position's coordinates and datum (the `wgs84` step, as
#: tests/packs/test_engine_knows_no_domain.py counts them the engine's too)
ENGINE_WORDS = {"source", "name", "kind", "seq", "amount", "lon", "lat", "datum"}


def _vocabulary() -> set[str]:
    """The dispute pack's identifiers: its models and their fields, the code lists they
    use, its child groups, header fields, sources and reference tables."""
    models = [CONTRACT.root, *(g.model for g in CONTRACT.groups.values())]
    words = {m.__name__ for m in models} | set(CONTRACT.groups) | set(CONTRACT.header)
    for model in models:
        for name, info in model.model_fields.items():
            words.add(name)
            base, _ = unwrap(info.annotation)
            if isinstance(base, type) and issubclass(base, enum.Enum):
                words.add(base.__name__)
    words |= {t.split(".")[-1] for t in CONTRACT.reference.tables}
    decl = pack("disputes")
    words |= {decl.name, *decl.source_names}
    return words - ENGINE_WORDS


def test_the_vocabulary_is_the_packs() -> None:
    words = _vocabulary()
    assert {"DisputeCase", "Party", "parties", "events", "category_code", "town_code",
            "CaseStatus", "province", "grids"} <= words


def test_no_pack_name_in_the_engine() -> None:
    words = _vocabulary()
    found = []
    for path in sorted(ENGINE.glob("*.py")):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text("utf-8")).readline)
        for token in tokens:
            if token.type not in (tokenize.NAME, tokenize.STRING, tokenize.COMMENT):
                continue
            for word in set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", token.string)):
                if word in words:
                    found.append(f"{path.name}:{token.start[0]}: {word}")
    assert not found, "\n".join(found)


def test_the_scan_finds_a_pack_name() -> None:
    """The scan above would see a name that slipped in (in code or in a comment)."""
    words = _vocabulary()
    text = "x = row['town_code']  # the DisputeCase's\n"
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    hits = {w for t in tokens for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", t.string)
            if w in words}
    assert hits == {"town_code", "DisputeCase"}


def test_the_engine_imports_no_dispute_module() -> None:
    for path in sorted(ENGINE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported = {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                imported = {a.name for a in node.names}
            else:
                continue
            assert not any(m.split(".")[0] == "packs" for m in imported), path.name


def test_no_engine_module_over_400_lines() -> None:
    sizes = {p.name: len(p.read_text("utf-8").splitlines()) for p in ENGINE.glob("*.py")}
    assert max(sizes.values()) <= 400, sizes
