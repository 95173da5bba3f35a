"""A finished run, loaded: the one place that turns a run directory (or an ONNX export) into its
config, task, model, tokenizer and label space.

- `formats.py`: the table of every on-disk form a run's model takes (plain `save_pretrained`, adapter
  on a base, merged, structurally pruned, dynamic int8, ONNX): how each is recognised and loaded;
- `pretrained.py`, `int8.py`, `adapters.py`, `onnx.py`: the loaders of those forms;
- `run.py`: `load_run` and `LoadedRun`, which prediction, evaluation, serving, compression,
  continual learning and export start from.

It sits above `tasks` (a loaded run has its task) and below the features: the HTTP server is a
client of it, not its owner. Writers stay with their feature and import the marks from here or below."""
