"""An ONNX export (`rawtune export --onnx`, or RUN/model/ of `rawtune compress --onnx`; written by
`export.onnx`) run by onnxruntime behind the interface rawtune's tasks call: `model(**batch).logits`
as a torch tensor, `eval()`/`train()`, `parameters()` for the device (CPU). `artifacts.finetuned` makes an
export a loaded run, so prediction and evaluation use the task's own decode path on it.

The directory: `rawtune_onnx.json` (which graph runs, parity figures), model.onnx (and
model.int8.onnx when quantized), config.json, the tokenizer, and the run's fine-tuning config
(`artifacts.loaded.FINETUNE_CONFIG`) when it was exported from a run."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rawtune.errors import MissingExtraError, ModelError, RunDirError

META = "rawtune_onnx.json"


def ort_module() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise MissingExtraError("onnxruntime", "onnx") from None
    return onnxruntime


@dataclass
class OnnxOutput:
    logits: torch.Tensor


class OnnxModel(nn.Module):
    """An onnxruntime session (CPU provider) over one `.onnx` file. `threads`: intra-op threads
    (None: onnxruntime's default, one per physical core). Inputs the graph does not take are
    dropped; a `token_type_ids` it takes but the batch lacks is zeros. Outputs are on the CPU."""

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None, config: Any = None):
        super().__init__()
        ort = ort_module()
        opts = ort.SessionOptions()
        if threads is not None:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.path = Path(path)
        self.config = config
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own (InvalidProtobuf, InvalidArgument, Fail, ...)
            detail = (
                str(e).split(" failed:")[-1].strip().splitlines()[0][:200] if str(e) else type(e).__name__
            )
            raise ModelError(f"{path}: not a loadable ONNX graph ({detail})") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        # forward_batches reads the device from the first parameter: an empty one says "cpu"
        self.anchor = nn.Parameter(torch.zeros(0), requires_grad=False)

    def forward(self, **batch: Any) -> OnnxOutput:
        feed = {}
        for name in self.input_names:
            value = batch.get(name)
            if value is None and name == "token_type_ids":
                value = np.zeros_like(feed["input_ids"])
            elif value is None:
                raise ValueError(f"the ONNX model {self.path} needs input {name!r}")
            feed[name] = _int64(value)
        (logits,) = self.session.run(["logits"], feed)
        return OnnxOutput(torch.from_numpy(logits))


def _int64(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.ascontiguousarray(value, dtype=np.int64)


def is_onnx_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / META).is_file()


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    return json.loads((Path(path) / META).read_text())


def load_onnx_model(
    path: str | os.PathLike, *, file: str | None = None, threads: int | None = None
) -> OnnxModel:
    """The export's model (`model` in rawtune_onnx.json: the int8 one when it was quantized, else
    model.onnx), or `file` (e.g. "model.onnx" for the fp32 graph of a quantized export)."""
    from transformers import PretrainedConfig

    root = Path(path)
    if not is_onnx_dir(root):
        raise RunDirError(f"{path}: not a rawtune ONNX export (no {META})")
    name = file or read_meta(root)["model"]
    if not (root / name).is_file():
        raise RunDirError(f"{path}: no {name} in this ONNX export")
    config = PretrainedConfig.from_json_file(str(root / "config.json"))
    return OnnxModel(root / name, threads=threads, config=config)
