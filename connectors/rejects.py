"""Why a reader could not turn something into a record, in the `_parse_error` column.

A reader that meets a row it cannot read yields it as an error record (its text in
`_raw_text`, see connectors.base) instead of failing the batch: only that row is
rejected. The error text starts with the quarantine reason code, so the quarantine shows
a specific reason (schemas.reasons) and the message says what exactly was wrong.
"""

from __future__ import annotations

from schemas.reasons import Reason

_SEPARATOR = ": "


def reject(reason: Reason, message: str) -> str:
    """The `_parse_error` text of a row rejected for `reason`."""
    return f"{reason.value}{_SEPARATOR}{message}"


def reason_of(parse_error: str) -> tuple[Reason, str]:
    """(reason, message) of a `_parse_error` text; texts without a known code (rows landed
    before the codes existed) are `unparseable` with the whole text as the message."""
    code, sep, message = parse_error.partition(_SEPARATOR)
    if sep:
        try:
            return Reason(code), message
        except ValueError:
            pass
    return Reason.UNPARSEABLE, parse_error
