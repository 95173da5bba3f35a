"""Continued pretraining's method: a new LM head warmed up alone before the whole model trains, the
number of steps sized from the corpus, and the verdict on what adaptation did to held-out text."""
