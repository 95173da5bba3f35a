"""Self-training on raw text: a teacher labels unlabeled text, its confident predictions become
pseudo-labels, and a student learns from the gold data plus them (`rawtune selftrain`). Reading the
raw text (`unlabeled`), choosing pseudo-labels (`select`, pure functions), writing and reusing them
(`pseudo`) and the rounds' bookkeeping (`rounds`) live here; `stages/selftrain.py` runs the loop."""
