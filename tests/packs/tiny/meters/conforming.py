"""What the conform engine needs of the meters beyond their model: the mapping header
sets the source; nothing else (no child groups, no registry, no code lists)."""

from __future__ import annotations

from conform.contract import Contract

from .models import MeterReading

CONTRACT = Contract(root=MeterReading, header=("source",))
