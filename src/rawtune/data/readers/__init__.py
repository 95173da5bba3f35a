"""Readers: the only code that opens user data files. Each reports problems as `DataError` with file:line."""

from rawtune.data.readers.text import Document, iter_documents, resolve_sources, sources_fingerprint

__all__ = ["Document", "iter_documents", "resolve_sources", "sources_fingerprint"]
