"""Hyperparameter search over fine-tuning configs with Optuna (extra `hpo`): the search space file
(`space`) and the study that runs each trial as a fine-tuning run (`study`)."""
