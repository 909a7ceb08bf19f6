"""The `silobridge` command (ops.cli): every command documented, mock world commands end
to end."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from ops.cli import app

runner = CliRunner()


def _commands(group: object, prefix: str = "") -> list[tuple[str, object]]:
    # typer vendors its own click, so walk the tree by shape rather than by class
    out = []
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        out.append((prefix + name, cmd))
        if hasattr(cmd, "commands"):
            out.extend(_commands(cmd, prefix + name + " "))
    return out


def test_every_command_has_help() -> None:
    commands = _commands(get_command(app))
    # the pipeline's commands (silobridge.cli) and the operations tooling's (ops.cli)
    assert {"extract", "ingest", "run", "merge", "sync", "query", "tables", "verify",
            "publish", "reveal", "settings", "quarantine list", "schemas export",
            "mock generate", "mock advance", "mock serve", "mock charging", "demo", "airflow",
            "bench"} <= \
        {name for name, _ in commands}
    for name, cmd in commands:
        assert (cmd.help or "").strip(), f"`silobridge {name}` has no help"
        for param in cmd.params:
            if param.param_type_name in ("option", "argument") and param.name != "help":
                assert (getattr(param, "help", "") or "").strip(), \
                    f"{name} {param.opts} has no help"


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generate_then_advance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILOBRIDGE_HOME", str(tmp_path / "home"))
    result = runner.invoke(app, ["mock", "generate", "--cases", "300", "--days", "5"])
    assert result.exit_code == 0, result.output
    world = tmp_path / "home" / "world"
    assert (world / "world.json").exists() and (world / "county/county.sqlite").exists()
    result = runner.invoke(app, ["mock", "advance", "--days", "2"])
    assert result.exit_code == 0, result.output
    assert "2026-09-08" in result.output


def test_the_charging_world_goes_where_the_charging_pack_looks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mock charging` writes into the home world's charging/ folder, where pack.toml's
    `{world}/charging/...` defaults point; a bad size is one clear line."""
    from silobridge.settings import Settings

    monkeypatch.setenv("SILOBRIDGE_HOME", str(tmp_path / "home"))
    result = runner.invoke(app, ["mock", "charging", "--stations", "5", "--days", "1"])
    assert result.exit_code == 0, result.output
    settings = Settings()
    for source in ("traffic", "parking", "grid_loads"):
        folder = Path(getattr(settings, source).path)
        assert folder.is_relative_to(tmp_path / "home" / "world" / "charging")
        assert any(folder.iterdir()), source
    result = runner.invoke(app, ["mock", "charging", "--out", str(tmp_path / "w"),
                                 "--stations", "2"])
    assert result.exit_code == 1 and "at least three stations" in result.output


def test_bad_arguments_end_in_a_clear_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["mock", "generate", "--out", str(tmp_path / "w"),
                                 "--source-defect-rate", "grid:0.3"])
    assert result.exit_code == 1 and "SOURCE=RATE" in result.output
    result = runner.invoke(app, ["mock", "generate", "--out", str(tmp_path / "w"),
                                 "--source-defect-rate", "nowhere=0.3"])
    assert result.exit_code == 1 and "unknown source" in result.output
    result = runner.invoke(app, ["mock", "advance", "--world", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "mock generate" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.slow
def test_acceptance_same_seed_same_bytes_at_20000_cases(tmp_path: Path) -> None:
    """Issue 2: `mock generate --out A --seed 7 --cases 20000` twice is byte-identical."""
    for name in ("a", "b"):
        result = runner.invoke(app, ["mock", "generate", "--out", str(tmp_path / name),
                                     "--seed", "7", "--cases", "20000"])
        assert result.exit_code == 0, result.output
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert len(a) > 500 and a == b
