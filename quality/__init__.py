"""Data quality: Great Expectations suites on source batches and on the warehouse, merge
gates, freshness and volume checks, and the PII-safe quality report.

Great Expectations takes seconds to import: modules here import it inside functions,
never at the top, so DAG files that import this package stay fast to parse.
"""
