"""A tiny domain pack for the tests: water-meter readings (see ../README.md)."""
