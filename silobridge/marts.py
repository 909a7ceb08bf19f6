"""The marts the app keeps: the SQL files of the dispute pack's `marts/` folder, parsed
once per process and handed to the warehouse's mart engine (warehouse.marts)."""

from __future__ import annotations

from functools import cache

from warehouse.marts import load_marts
from warehouse.model_file import ModelFile

from .packs import pack

#: the pack whose marts the pipeline keeps (its one domain, for now)
DOMAIN = "disputes"


@cache
def pack_marts(name: str = DOMAIN) -> tuple[ModelFile, ...]:
    """The marts of the pack `name`, in build order."""
    return load_marts(pack(name).path("marts"))
