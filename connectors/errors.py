"""Typed errors of source systems, split by whether trying again can help."""

from __future__ import annotations


class SourceError(Exception):
    """Something went wrong reading a source. Carries where, so the message says it."""

    transient = False

    def __init__(self, source: str, message: str, *, origin: str | None = None,
                 row: int | None = None) -> None:
        self.source = source
        self.origin = origin
        self.row = row
        where = source + (f" {origin}" if origin else "") + (f" row {row}" if row else "")
        super().__init__(f"{where}: {message}")


class TransientSourceError(SourceError):
    """Worth retrying: HTTP 5xx, timeouts, quota exhausted, a locked database."""

    transient = True


class TerminalSourceError(SourceError):
    """Retrying cannot help: bad credentials, a missing file or database, bad settings."""


class SourceAuthError(TerminalSourceError):
    """The source refused our credentials (bad signature, expired key)."""


class SourceNotFoundError(TerminalSourceError):
    """The configured file, folder, URL or database does not exist."""


class MissingDriverError(TerminalSourceError):
    """The database's driver is not installed; `extra` names the package extra that
    installs it (pip install 'silobridge[EXTRA]'), when there is one."""

    def __init__(self, source: str, message: str, *, extra: str | None = None) -> None:
        super().__init__(source, message)
        self.extra = extra


class SourceProtocolError(TerminalSourceError):
    """The source answered something that does not follow its protocol."""
