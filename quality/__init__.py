"""Data quality: Great Expectations suites on source batches and on the warehouse, merge
gates, freshness and volume checks, and the PII-safe quality report.

Entry points (quality.pipeline): `gate_source(settings, source, files)` runs the batch
suite of a pack's quality files (quality.files: expectations and audits are the pack's
data, handed in by the app layer) over a source's newly ingested batches and marks them
passed or blocked (the merge leaves blocked batches out of core);
`after_merge(settings, run_id, files)` runs the packs' audits (warehouse and
cross-level checks), freshness and volume checks and rebuilds the reports under
`<home>/reports` (`quality/index.html` in Chinese and `quality/index.en.html` in English,
GX Data Docs in `data_docs/`, all readable offline); `source_status(con)`
says per source when it last ran, whether it is failing and whether it is stale. Every
check lands in ops.quality_results.

Great Expectations takes seconds to import: modules here import it inside functions,
never at the top, so DAG files that import this package stay fast to parse. The one
exception, `quality.datadocs`, subclasses GX's page views; only GX's site builder and
functions that already run GX import it. It only
ever sees frames of codes, times, counts, flags and record ids, so nothing it writes
can hold personal data.
"""
