"""Great Expectations, called directly and quietly.

One file context lives under `<reports_dir>/gx`: it keeps the suites and every stored
validation result, so Data Docs (`<reports_dir>/data_docs`) can be rebuilt in any process
from what any process validated. Data reaches GX only as pandas frames read out of DuckDB
through Arrow, and those frames hold codes, times, counts, flags and record ids, never
names, addresses, ID or phone numbers: whatever GX writes into results and Data Docs
(failing values included) stays free of personal data. Nothing GX does reaches the
network: analytics are off in the environment and in the context's config, and the Data
Docs pages take every asset from the site itself (`quality.datadocs`).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checks import CheckResult

if TYPE_CHECKING:
    import pandas as pd

GX_DIR = "gx"
DOCS_DIR = "data_docs"
SITE = "silobridge"
DATASOURCE = "silobridge"
#: stored validation results kept per suite; older ones are pruned so docs stay small
KEEP_RESULTS = 20


def load_gx() -> Any:
    """Import Great Expectations with its INFO chatter silenced (set before the import:
    modules log while they load) and its usage statistics off (GX reads this variable
    for a context whose config leaves analytics unset)."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # noqa: PLC0415 - seconds to import, only when used

    return gx


def open_context(reports_dir: Path) -> Any:
    """The file context under `<reports_dir>/gx`: progress bars and analytics off, the
    offline Data Docs site set."""
    gx = load_gx()
    from great_expectations.data_context.types.base import (  # noqa: PLC0415
        ProgressBarsConfig,
    )

    from .datadocs import site_config  # noqa: PLC0415 - imports GX's views

    reports_dir.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="file", project_root_dir=str(reports_dir))
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    ctx.variables.analytics_enabled = False
    # only our site: the scaffolded local_site would write a second copy of the docs
    ctx.variables.data_docs_sites = {SITE: site_config(reports_dir / DOCS_DIR)}
    ctx.variables.save()
    return ctx


def _batch_definition(ctx: Any, asset_name: str) -> Any:
    try:
        source = ctx.data_sources.get(DATASOURCE)
    except (KeyError, ValueError, LookupError):
        source = ctx.data_sources.add_pandas(DATASOURCE)
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        return asset.get_batch_definition("whole")
    except (KeyError, ValueError, LookupError):
        return asset.add_batch_definition_whole_dataframe("whole")


def validate(ctx: Any, suite_name: str, frame: pd.DataFrame, expectations: list[Any],
             run_name: str) -> list[Any]:
    """Run `expectations` on `frame` as suite `suite_name`; the result is stored in the
    context (for Data Docs) and returned as GX ExpectationValidationResults."""
    gx = load_gx()
    from great_expectations.core.run_identifier import RunIdentifier  # noqa: PLC0415

    definition = _batch_definition(ctx, suite_name)
    suite = ctx.suites.add_or_update(gx.ExpectationSuite(name=suite_name,
                                                         expectations=expectations))
    vd = ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite_name, data=definition, suite=suite))
    checkpoint = ctx.checkpoints.add_or_update(gx.Checkpoint(
        name=suite_name, validation_definitions=[vd],
        # SUMMARY lists at most 20 failing values: codes and ids, by construction
        result_format={"result_format": "SUMMARY"}))
    result = checkpoint.run(batch_parameters={"dataframe": frame},
                            run_id=RunIdentifier(run_name=run_name))
    _prune(Path(ctx.root_directory) / "uncommitted" / "validations" / suite_name)
    return [r for v in result.run_results.values() for r in v.results]


def _prune(folder: Path, keep: int = KEEP_RESULTS) -> None:
    files = sorted(folder.rglob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        old.unlink()
    for d in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()


def build_docs(reports_dir: Path) -> Path:
    """Rebuild Data Docs from every stored result, with the assets its pages link;
    returns the site's index.html."""
    from .datadocs import vendor_assets  # noqa: PLC0415

    ctx = open_context(reports_dir)
    site = reports_dir / DOCS_DIR
    # pages of pruned results would linger unlinked: rebuild the validation pages whole
    shutil.rmtree(site / "validations", ignore_errors=True)
    ctx.build_data_docs(site_names=[SITE])
    vendor_assets(site)
    return site / "index.html"


def to_check(result: Any, *, scope: str, suite: str, source: str | None,
             severity: str | None = None) -> CheckResult:
    """One GX expectation result as a CheckResult; the expectation's meta names the check
    and carries a `detail` template (formatted with n, bad, share, allowed)."""
    config = result.expectation_config
    meta = config.meta or {}
    raw = result.result or {}
    n = int(raw.get("element_count") or 0)
    missing = int(raw.get("missing_count") or 0)
    bad = int(raw.get("unexpected_count") or 0)
    # mostly counts against the non-missing values: report the share on the same basis
    observed = bad / (n - missing) if n - missing > 0 else 0.0
    mostly = config.kwargs.get("mostly")
    allowed = round(1.0 - float(mostly), 6) if mostly is not None else 0.0
    level = severity or str(getattr(config.severity, "value", config.severity))
    detail = str(meta.get("detail", "{bad} of {n} unexpected")).format(
        n=n - missing, bad=bad, share=f"{observed * 100:.1f}%", allowed=f"{allowed * 100:.1f}%")
    if result.exception_info and result.exception_info.get("raised_exception"):
        detail = "the check could not run"  # GX's message may quote values: not kept
    return CheckResult(scope=scope, suite=suite, check=str(meta.get("check", config.type)),
                       severity=level, success=bool(result.success), observed=observed,
                       threshold=allowed, element_count=n - missing, unexpected_count=bad,
                       detail=detail, source=source)
