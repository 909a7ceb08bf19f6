"""Expectations and audits as data: the dispute pack's files load; a broken suite file or
audit header fails with one error naming the file and the key; an audit dropped into a
folder runs after the merge and its bad rows are counted, stored and reported."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pytest

from quality.audits import AuditFileError, load_audits, read_audit, run_audit
from quality.expectations import ENGINE_COLUMNS, SuiteFileError, load_suite, to_gx
from quality.files import BATCH_SUITE, QualityFiles
from quality.pipeline import after_merge
from silobridge.contracts import all_mappings
from silobridge.quality_files import of_packs
from silobridge.settings import Settings

if TYPE_CHECKING:
    from conftest import QualityRun

(FILES,) = of_packs("disputes")
SUITE = FILES.expectations / BATCH_SUITE

#: the checks the batch gate and the warehouse ran before they were data (same names, so
#: ops.quality_results and the report read as before)
BATCH_CHECKS = {"rejected_share", "complete_source_record_id", "complete_category_code",
                "complete_occurred_at", "complete_town_code", "unique_source_version",
                "known_category", "known_township", "village_in_township",
                "reported_after_occurred", "in_scope", "not_in_future"}
AUDITS = {"core.records_case_exists", "core.case_parties_case_exists",
          "core.timeline_case_exists", "core.case_history_case_exists", "case_id_unique",
          "golden_has_records", "backlog_adds_up", "resolution_adds_up",
          "county_cases_on_timeline", "status_conflict_share"}


def test_the_packs_files_load() -> None:
    suite = load_suite(SUITE)
    assert set(suite.expectations) == BATCH_CHECKS
    assert suite.min_records == 20
    assert suite.code_lists() == {"categories"}
    audits = {a.check: a for a in load_audits(FILES.audits)}
    assert set(audits) == AUDITS
    assert {a.header.scope for a in audits.values()} == {"warehouse", "cross_level"}
    conflicts = audits["status_conflict_share"]
    assert conflicts.shared and conflicts.header.max_share == 0.25
    assert conflicts.header.severity == "warning"
    labels = FILES.labels()
    assert set(labels) == BATCH_CHECKS | AUDITS
    assert labels["rejected_share"].zh == "被隔离比例" and labels["rejected_share"].share
    assert not labels["case_id_unique"].share


def _broken_suite(tmp_path: Path, old: str, new: str) -> Path:
    text = SUITE.read_text("utf-8")
    assert old in text, old
    file = tmp_path / BATCH_SUITE
    file.write_text(text.replace(old, new, 1), "utf-8")
    return file


@pytest.mark.parametrize(("old", "new", "message"), [
    ('severity = "warning"\ntitle_zh = "事件类别在代码表内"',
     'severity = "fatal"\ntitle_zh = "事件类别在代码表内"',
     "expectations.known_category.severity: Input should be 'critical' or 'warning'"),
    ('kwargs = { column = "category_code", value_set',
     'kwargs = { column = "category", value_set',
     "expectations.known_category.kwargs.column: no column 'category' in the records"),
    ('kwargs = { column = "town_code" }\nwhen = { verdict = "loaded" }',
     'kwargs = { column = "town_code" }\nwhen = { verdicts = "loaded" }',
     "expectations.complete_town_code.when.verdicts: no column 'verdicts'"),
    ('kwargs = { column_list = ["source_record_id", "source_updated_at"]',
     'kwargs = { column_list = ["source_record_id", "updated_at"]',
     "expectations.unique_source_version.kwargs.column_list: no column 'updated_at'"),
    ("min_records = 20", "min_record = 20", "min_record: Extra inputs are not permitted"),
    ('village_town = "left', 'verdict = "left', "records.columns.verdict: a column name"),
    ('table = "staging.cases"', 'table = "staging cases"', "records.table: String should"),
    ('detail = "{bad} of {n} loaded rows reported before they occurred"',
     'detail = "{bad} of {total} loaded rows reported before they occurred"',
     "expectations.reported_after_occurred.detail: KeyError('total')"),
    ('title_zh = "时间不晚于接收"\n', "", "expectations.not_in_future.title_zh: Field required"),
    ("[expectations.in_scope]", "[expectations.in_scope", "Expected ']'"),
])
def test_a_broken_suite_file_names_the_file_and_the_key(tmp_path: Path, old: str, new: str,
                                                        message: str) -> None:
    file = _broken_suite(tmp_path, old, new)
    with pytest.raises(SuiteFileError) as caught:
        load_suite(file)
    assert str(caught.value).startswith(f"{file}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('type = "expect_column_pair_values_to_be_equal"',
     'type = "expect_column_pair_values_to_be_equalish"',
     "expectations.village_in_township.type: Great Expectations has no expectation "
     "'expect_column_pair_values_to_be_equalish'"),
    ('"not_a_record"], mostly = 0.9 }', '"not_a_record"], mostly = 1.5 }',
     "expectations.rejected_share.kwargs: mostly"),
])
def test_gx_judges_the_type_and_kwargs_and_the_error_names_the_key(
        tmp_path: Path, old: str, new: str, message: str) -> None:
    suite = load_suite(_broken_suite(tmp_path, old, new))
    with pytest.raises(SuiteFileError) as caught:
        to_gx(suite, {"categories": ["01", "02"]})
    assert str(caught.value).startswith(f"{tmp_path / BATCH_SUITE}: {message}")


def test_the_adapter_builds_what_the_file_says() -> None:
    suite = load_suite(SUITE)
    built = {e.meta["check"]: e for e in to_gx(suite, {"categories": ["02", "01"]})}
    assert set(built) == BATCH_CHECKS
    share = built["rejected_share"]
    assert share.mostly == 0.9 and share.severity.value == "critical"
    assert share.row_condition is None
    known = built["known_category"]
    assert known.value_set == ["02", "01"] and known.severity.value == "warning"
    assert str(known.row_condition) == str(built["in_scope"].row_condition)
    assert "verdict" in str(known.row_condition) and "loaded" in str(known.row_condition)
    assert set(ENGINE_COLUMNS) <= set(suite.columns)


AUDIT = """/* audit
scope = "warehouse"
severity = "warning"
max_count = 0
denominator = "SELECT * FROM core.cases"
title_zh = "没有未办结案件"
title_en = "no case open"
detail = "{bad} of {n} cases open"
*/
-- every case not resolved: a check that fails on any living warehouse
SELECT * FROM marts.open_cases;
"""


@pytest.mark.parametrize(("old", "new", "message"), [
    ("/* audit\n", "/* check\n", "no header: the file starts with /* audit"),
    ('severity = "warning"', 'severity = "fatal"',
     "header: severity: Input should be 'critical' or 'warning'"),
    ("max_count = 0\n", "max_count = 0\nmax_share = 0.1\n",
     "header: max_count, max_share: Value error, give exactly one of max_count and max_share"),
    ("max_count = 0\n", "", "header: max_count, max_share: Value error, give exactly one"),
    ("max_count = 0", "max_count = -1", "header: max_count: Input should be greater than"),
    ("max_count = 0", "threshold = 0", "header: threshold: Extra inputs are not permitted"),
    ('title_en = "no case open"\n', "", "header: title_en: Field required"),
    ('detail = "{bad} of {n} cases open"', 'detail = "{bad} of {cases} cases open"',
     "header: detail: KeyError('cases')"),
    ('scope = "warehouse"', 'scope = warehouse', "header: Invalid value"),
    ("SELECT * FROM marts.open_cases;", "", "no query after the header"),
])
def test_a_broken_audit_names_the_file_and_the_key(tmp_path: Path, old: str, new: str,
                                                   message: str) -> None:
    assert old in AUDIT
    file = tmp_path / "no_open_case.sql"
    file.write_text(AUDIT.replace(old, new, 1), "utf-8")
    with pytest.raises(AuditFileError) as caught:
        read_audit(file)
    assert str(caught.value).startswith(f"{file}: ")
    assert message in str(caught.value)


def test_an_audit_whose_query_fails_names_its_file(tmp_path: Path) -> None:
    file = tmp_path / "no_open_case.sql"
    file.write_text(AUDIT.replace("marts.open_cases", "marts.no_such_table"), "utf-8")
    con = duckdb.connect()
    try:
        with pytest.raises(AuditFileError) as caught:
            run_audit(con, read_audit(file))
    finally:
        con.close()
    assert str(caught.value).startswith(f"{file}: CatalogException")


def test_an_added_audit_runs_after_the_merge_and_counts_its_bad_rows(
        quality_run: QualityRun, tmp_path: Path) -> None:
    audits = tmp_path / "audits"
    shutil.copytree(FILES.audits, audits)
    (audits / "no_open_case.sql").write_text(AUDIT, "utf-8")
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(quality_run.settings.warehouse_path, home / "warehouse.duckdb")
    settings = Settings(home=home)
    files = QualityFiles(expectations=FILES.expectations, audits=audits)
    summary = after_merge(settings, "audit-added", [files], all_mappings(settings))
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        (open_cases, cases), = con.execute(
            "SELECT (SELECT count(*) FROM marts.open_cases), "
            "(SELECT count(*) FROM core.cases)").fetchall()
        stored = con.execute(
            "SELECT check_name, scope, suite, severity, success, observed, threshold, "
            "element_count, unexpected_count, detail FROM ops.quality_results "
            "WHERE run_id = 'audit-added' AND scope IN ('warehouse', 'cross_level')"
        ).fetchall()
    finally:
        con.close()
    assert open_cases > 0
    rows = {r[0]: r[1:] for r in stored}
    assert set(rows) == AUDITS | {"no_open_case"}
    assert rows["no_open_case"] == ("warehouse", "warehouse", "warning", False,
                                    float(open_cases), 0.0, cases, open_cases,
                                    f"{open_cases} of {cases} cases open")
    assert {"scope": "warehouse", "source": None, "check": "no_open_case",
            "severity": "warning", "detail": f"{open_cases} of {cases} cases open"} \
        in summary["failed"]
    zh = (settings.reports_dir / "quality" / "index.html").read_text("utf-8")
    en = (settings.reports_dir / "quality" / "index.en.html").read_text("utf-8")
    assert '<td>没有未办结案件<br><code class="muted">warehouse.no_open_case</code>' in zh
    assert '<td>no case open<br><code class="muted">warehouse.no_open_case</code>' in en
