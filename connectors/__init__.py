"""Connectors: one module per kind of source system, each yielding raw Arrow batches.

A connector only reads. It never validates, never writes to the warehouse and never
touches Airflow: it yields `RawBatch`es whose `cursor` the caller persists once the batch
is safely landed (see `base.py`).
"""
