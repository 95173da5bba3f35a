"""Labeled data readers: token files (CoNLL, JSONL) for NER and text tables (CSV, TSV, JSONL) for
classification and sentence pairs. The readers live in `conll` and `tables`; this is their one door."""

from rawtune.data.readers.conll import read_conll_layout, read_token_file
from rawtune.data.readers.examples import TextData, TextExample, TokenData, TokenExample
from rawtune.data.readers.tables import read_table_rows, read_text_table

__all__ = [
    "TextData",
    "TextExample",
    "TokenData",
    "TokenExample",
    "read_conll_layout",
    "read_table_rows",
    "read_text_table",
    "read_token_file",
]
