"""Moved: the dispute's code lists are the pack's (packs/disputes/codes.py).

A re-export while the rest of issue 15 lands (conform, merge and quality still import
the code lists from here); removed once nothing does. Import-linter lets this one edge
through (pyproject.toml).
"""

from packs.disputes.codes import *  # noqa: F403
