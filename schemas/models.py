"""Moved: the dispute's canonical models are the pack's (packs/disputes/models.py).

A re-export while the rest of issue 15 lands (conform, merge and quality still import
the models from here); removed once nothing does. Import-linter lets this one edge
through (pyproject.toml).
"""

from packs.disputes.models import *  # noqa: F403
