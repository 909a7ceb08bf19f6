"""A batch suite as data: the file a domain keeps its batch expectations in, and the one
adapter that turns it into Great Expectations.

The engine reads a group of batches' records the same way for every domain: one row per
raw record with its `verdict` (loaded, quarantined, duplicate, not_a_record), and for the
loaded ones the deployment's scope checks (`in_scope`, `not_in_future`). The suite file
says the rest (see the pack's `expectations/batch.toml`): which staged table the loaded
rows come from; the columns the suite reads from it, each a SQL expression over the
staged row `s`; and each expectation under its check name: its GX type and kwargs, the
rows it looks at (`when`), its severity, its title in Chinese and English, and the
detail stored with its result. A value set may name a code list of ref.codes instead of
listing it (`value_set = { code_list = "…" }`), so a code list is declared once.

Loading checks everything that can be checked without the warehouse: the shape of the
file, and that every column an expectation names is one the records have. `to_gx`
checks the GX type and kwargs. Either way a `SuiteFileError` names the file and the key.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.scope import NOTHING_SCOPED, ScopedColumns

from .checks import CheckLabel

#: the columns the engine gives every record, before the suite's own: its raw record and
#: its verdict (loaded, quarantined, duplicate, not_a_record)
RECORD_COLUMNS = ("batch_id", "row_no", "verdict")
#: the deployment's scope checks on a loaded record, after the suite's own columns
SCOPE_COLUMNS = ("in_scope", "not_in_future")
ENGINE_COLUMNS = (*RECORD_COLUMNS, *SCOPE_COLUMNS)
#: the kwargs of GX's column, column-pair and multicolumn expectations that name columns
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_LIST_KWARGS = ("column_list",)

_TABLE = r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$"
_COLUMN = r"^[a-z][a-z0-9_]*$"
_CHECK = r"^[a-z][a-z0-9_.]*$"


class SuiteFileError(ValueError):
    """A suite file that cannot be used: names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChildTime(_Strict):
    """Where the latest time of a staged row's child rows is (for `not_in_future`)."""

    table: str = Field(pattern=_TABLE)
    column: str


class Records(_Strict):
    #: the staged rows (alias `s`), keyed by batch_id and row_no as raw.records
    table: str = Field(pattern=_TABLE)
    latest_child_time: ChildTime | None = None
    #: name → SQL over the staged row `s` (NULL where a record was not loaded)
    columns: dict[str, str] = Field(min_length=1)


class Expectation(_Strict):
    type: str = Field(pattern=r"^expect_[a-z_]+$")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    #: only the records whose columns equal these values (all of them)
    when: dict[str, str | int | bool] = Field(default_factory=dict)
    severity: Literal["critical", "warning"]
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    #: formatted with n, bad, share and allowed
    detail: str = Field(min_length=1)


class BatchSuite(_Strict):
    """One suite file, read."""

    path: Path
    #: the staged rows' columns the scope checks judge (from the pack's contract, given
    #: by whoever loads the file: not a key of the file)
    scoped: ScopedColumns = NOTHING_SCOPED
    #: a failing share judged on fewer records than this warns instead of blocking
    min_records: int = Field(ge=0)
    records: Records
    expectations: dict[str, Expectation] = Field(min_length=1)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*RECORD_COLUMNS, *self.records.columns, *SCOPE_COLUMNS)

    def labels(self) -> dict[str, CheckLabel]:
        # every GX check's observed value is a share of the rows it looked at
        return {check: CheckLabel(e.title_zh, e.title_en, share=True)
                for check, e in self.expectations.items()}

    def code_lists(self) -> set[str]:
        """The code lists the suite's value sets name."""
        return {name for e in self.expectations.values() for v in e.kwargs.values()
                if (name := _code_list(v)) is not None}


def _code_list(value: Any) -> str | None:
    """The list a kwarg's `{ code_list = "…" }` names (None: a value of its own)."""
    if isinstance(value, dict) and set(value) == {"code_list"}:
        return str(value["code_list"])
    return None


def _where(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in x['loc'])}: {x['msg']}"
                     for x in e.errors(include_url=False, include_input=False))


def _named_columns(expectation: Expectation) -> list[tuple[str, str]]:
    """(key, column) for every column the expectation names."""
    named = [(f"kwargs.{k}", expectation.kwargs[k]) for k in _COLUMN_KWARGS
             if k in expectation.kwargs]
    named += [(f"kwargs.{k}", c) for k in _LIST_KWARGS for c in expectation.kwargs.get(k, [])]
    named += [(f"when.{c}", c) for c in expectation.when]
    return named


def load_suite(file: Path, scoped: ScopedColumns = NOTHING_SCOPED) -> BatchSuite:
    """The suite in `file`, whose scope checks judge the `scoped` columns; a
    SuiteFileError names the file and what is wrong."""
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise SuiteFileError(f"{file}: {e}") from None
    for given in ("path", "scoped"):
        if given in data:
            raise SuiteFileError(f"{file}: {given}: not a key of a suite file")
    try:
        suite = BatchSuite.model_validate({**data, "path": file, "scoped": scoped})
    except ValidationError as e:
        raise SuiteFileError(f"{file}: {_where(e)}") from None
    for name in suite.records.columns:
        if name in ENGINE_COLUMNS or not re.fullmatch(_COLUMN, name):
            raise SuiteFileError(f"{file}: records.columns.{name}: a column name of lowercase "
                                 f"letters, digits and _ that is not one the engine gives "
                                 f"({', '.join(ENGINE_COLUMNS)})")
    known = set(suite.columns)
    for check, expectation in suite.expectations.items():
        if not re.fullmatch(_CHECK, check):
            raise SuiteFileError(f"{file}: expectations.{check}: a check name of lowercase "
                                 "letters, digits, _ and .")
        try:
            expectation.detail.format(n=0, bad=0, share="", allowed="")
        except (KeyError, IndexError, ValueError) as e:
            raise SuiteFileError(f"{file}: expectations.{check}.detail: {e!r} (it may use n, "
                                 "bad, share and allowed)") from None
        for key, column in _named_columns(expectation):
            if not isinstance(column, str) or column not in known:
                raise SuiteFileError(
                    f"{file}: expectations.{check}.{key}: no column {column!r} in the "
                    f"records (they have {', '.join(suite.columns)})")
    return suite


def _resolved(value: Any, code_lists: dict[str, list[str]]) -> Any:
    name = _code_list(value)
    return value if name is None else code_lists[name]


def to_gx(suite: BatchSuite, code_lists: dict[str, list[str]]) -> list[Any]:
    """The suite's GX expectations, each one's meta naming its check and detail;
    `code_lists` holds the codes of every list the suite names."""
    from .gx import load_gx  # noqa: PLC0415

    load_gx()  # silences GX's logger before any of its modules load
    from great_expectations.exceptions import ExpectationNotFoundError  # noqa: PLC0415
    from great_expectations.expectations.registry import (  # noqa: PLC0415
        get_expectation_impl,
    )
    from great_expectations.expectations.row_conditions import Column  # noqa: PLC0415

    out = []
    for check, e in suite.expectations.items():
        where = f"{suite.path}: expectations.{check}"
        try:
            impl = get_expectation_impl(e.type)
        except ExpectationNotFoundError:
            raise SuiteFileError(f"{where}.type: Great Expectations has no expectation "
                                 f"{e.type!r}") from None
        kwargs = {k: _resolved(v, code_lists) for k, v in e.kwargs.items()}
        conditions = [Column(c) == v for c, v in e.when.items()]
        if conditions:
            condition = conditions[0]
            for more in conditions[1:]:
                condition = condition & more
            kwargs["row_condition"] = condition
        try:
            out.append(impl(**kwargs, severity=e.severity,
                            meta={"check": check, "detail": e.detail}))
        except (TypeError, ValueError) as error:  # GX's models are pydantic v1's
            problems = "; ".join(f"{'.'.join(str(p) for p in x['loc'])}: {x['msg']}"
                                 for x in error.errors()) if hasattr(error, "errors") \
                else str(error)
            raise SuiteFileError(f"{where}.kwargs: {problems}") from None
    return out
