"""Errors raised by the domain core.

Bad *records* never raise: validation returns a ``Rejected`` value instead. These exceptions are for
problems with a whole input or configuration, where continuing would lose data silently::

    MuseumSyncError
    ├── SourceError                 an export file cannot be read as its format says
    │   ├── SourceNotFound          the file does not exist
    │   ├── EmptySource             the file has no records (or not even a header)
    │   ├── SourceDecodeError       bytes that the declared encoding cannot decode
    │   └── SourceFormatError       malformed CSV/JSON/XML structure (not a single bad record)
    ├── ProfileError                a mapping profile is unknown or invalid
    ├── VocabularyError             a vocabulary data file is missing or invalid
    └── ChunkPlanError              a chunk plan does not match the snapshot it describes

Every message names the file and, where it is known, the line, byte offset and field.
"""

from __future__ import annotations

__all__ = [
    "ChunkPlanError",
    "EmptySource",
    "MuseumSyncError",
    "ProfileError",
    "SourceDecodeError",
    "SourceError",
    "SourceFormatError",
    "SourceNotFound",
    "VocabularyError",
]


class MuseumSyncError(Exception):
    """Base of every error museum-sync raises on purpose."""


class SourceError(MuseumSyncError):
    """An export cannot be read. Carries the file and, when known, the line and byte offset."""

    def __init__(self, message: str, *, file: str, line: int | None = None, offset: int | None = None) -> None:
        where = file
        if line is not None:
            where += f":{line}"
        if offset is not None:
            where += f" (byte {offset})"
        super().__init__(f"{where}: {message}")
        self.reason = message
        self.file = file
        self.line = line
        self.offset = offset

    def at(self, file: str) -> SourceError:
        """The same error, naming another file (the operator's export rather than its snapshot copy)."""
        return type(self)(self.reason, file=file, line=self.line, offset=self.offset)


class SourceNotFound(SourceError):
    """The export file does not exist."""


class EmptySource(SourceError):
    """The export has no records; an empty nightly dump is almost always a broken export job."""


class SourceDecodeError(SourceError):
    """Bytes the declared encoding cannot decode (wrong or mixed encodings)."""


class SourceFormatError(SourceError):
    """The file's structure is broken (unterminated quote, invalid JSON or XML, forbidden entities)."""


class ProfileError(MuseumSyncError):
    """A mapping profile is unknown or invalid."""


class VocabularyError(MuseumSyncError):
    """A controlled vocabulary file is missing or malformed."""


class ChunkPlanError(MuseumSyncError):
    """A chunk plan does not match its snapshot (bytes changed under it)."""
