"""`rawtune compress --onnx [--quantize int8]`: the parent exported to an ONNX graph (int8 with
--quantize), measured through onnxruntime like any compressed model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rawtune.compress.methods import COMPRESSORS, Compressor

log = logging.getLogger("rawtune")


def export(cfg: Any, parent: Any, dev: Any, run: Any, resume: bool) -> tuple[Any, dict[str, Any]]:
    """The parent exported to ONNX (int8 with --quantize) into RUN/model/, checked for parity on the
    dev texts by the exporter, and loaded back as an onnxruntime session to be measured."""
    from rawtune.artifacts.loaded import FINETUNE_CONFIG
    from rawtune.artifacts.onnx import load_onnx_model
    from rawtune.export.onnx import export_onnx
    from rawtune.export.parity import example_texts

    texts = example_texts(dev.examples[:64])
    log.info("exporting %s to ONNX%s", parent.run_path, " (int8)" if cfg.quantize else "")
    export_onnx(
        parent.model,
        parent.tokenizer,
        run.model_dir,
        quantize=cfg.quantize,
        threads=cfg.measure.threads,
        texts=texts,
        texts_from=str(cfg.dev or parent.cfg.data.dev),
        files=[(run.path / FINETUNE_CONFIG, FINETUNE_CONFIG)],
        meta={"source": {"run": str(Path(parent.run_path).resolve())}},
        # the gate judges int8 by the task metric on the whole dev set, a stronger test than argmax
        # agreement on a few texts; the agreement is still recorded in rawtune_onnx.json
        min_agreement=None,
    )
    return load_onnx_model(run.model_dir, threads=cfg.measure.threads), {}


COMPRESSORS.register("onnx")(Compressor(export, lambda cfg: {"onnx": {"quantize": cfg.quantize}}))
