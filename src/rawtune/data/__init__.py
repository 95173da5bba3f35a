"""Data: readers (user files), corpus building (normalise, dedupe, split, tokenise, pack, cache), batching."""
