"""Continual re-fine-tuning: replay of earlier data, regularisation toward the previous weights
(EWC, L2-SP), head growth for new labels, and the forgetting report that gates promotion."""
