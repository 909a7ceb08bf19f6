"""DAG files only wire: they import Airflow, the app (silobridge) and the contracts
(schemas), never the engine or a pack. import-linter checks the packages; the DAG files
are no package (Airflow loads them by path), so this test reads their imports, those
inside task functions too."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
ALLOWED = {"airflow", "silobridge", "schemas", "__future__"}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("path", sorted(DAGS.glob("*.py")), ids=lambda p: p.name)
def test_a_dag_file_imports_only_airflow_the_app_and_the_contracts(path: Path) -> None:
    imports = _imports(path)
    assert any(m.startswith("silobridge") for _, m in imports)  # the scan reads something
    wrong = [f"{path.name}:{line}: {module}" for line, module in imports
             if module.split(".")[0] not in ALLOWED | set(sys.stdlib_module_names)]
    assert wrong == []


def test_the_scan_sees_an_engine_import(tmp_path: Path) -> None:
    path = tmp_path / "d.py"
    path.write_text("def f():\n    from warehouse.db import session\n", encoding="utf-8")
    assert _imports(path) == [(2, "warehouse.db")]
