"""The DuckDB warehouse: one file, layered schemas (raw, ops, and later staging, core,
quarantine, marts), versioned migrations applied on open, short-lived connections.

DuckDB lets one process write a file at a time, so every write goes through `session()`
and is kept short; analysts read a published copy, never this file.
"""
