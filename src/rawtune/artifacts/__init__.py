"""A finished run, loaded: the one place that turns a run directory (or an ONNX export) into its
config, task, model, tokenizer and label space.

- `formats.py`: the table of every on-disk form a run's model takes (plain `save_pretrained`, adapter
  on a base, merged, structurally pruned, dynamic int8, ONNX): how each is recognised and loaded;
- `pretrained.py`, `int8.py`, `adapters.py`, `onnx.py`: the loaders of those forms;
- `loaded.py`: `LoadedRun`, a run loaded whatever its kind, and the names every loader shares;
- `kinds.py`: the table of every kind of run a rawtune command writes (fine-tuned, ONNX export,
  SetFit, PET, few-shot NER neighbours, zero-shot, a plain `save_pretrained` model or hub id, and
  the kinds that do not load: a pretrain run, an output holding runs), how each is recognised and
  loaded, and what export and compress can make of it;
- `finetuned.py`, `methods.py`, `plain.py`: the loaders of those kinds;
- `run.py`: `load_run`, which prediction, evaluation, serving, compression, continual learning and
  export start from.

It sits above `tasks` (a loaded run has its task) and below the features: the HTTP server is a
client of it, not its owner. Writers stay with their feature and import the marks from here or below."""
