"""The `rawtune serve` settings: where to listen, who may call, how requests are batched and bounded.

Not a stage config (a server writes no run directory), so it is not in `schema.STAGES`; the CLI flags
map onto it one to one and `create_app(predictor, ServeConfig(...))` takes it from Python."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rawtune.config.base import PathStr, Section


class ServeConfig(Section):
    # --- where and who -------------------------------------------------------------------------
    host: str = Field(
        "127.0.0.1", description="Address to bind; any non-loopback address needs api_key_file."
    )
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0: any free port).")
    api_key_file: PathStr | None = Field(
        None,
        description="File holding the API key; every route but /healthz and /readyz then needs "
        "`Authorization: Bearer <key>`.",
    )
    # --- models --------------------------------------------------------------------------------
    device: str | None = Field(None, description="torch device (default: cuda when available, else cpu).")
    backend: Literal["torch", "int8", "onnx", "onnx-int8"] = Field(
        "torch",
        description="Run the models as saved (torch), or converted at start-up: dynamic int8 (torch), "
        "or an ONNX graph run by onnxruntime (fp32, or int8); all on the CPU.",
    )
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="Cast the weights (backend torch); auto: bf16 where a short probe, cached per machine, "
        "finds it faster on the device, else as saved (int8 and ONNX models: always as saved).",
    )
    merged: bool = Field(
        False, description="Load RUN/model/ of adapter runs (faster) instead of base + adapter (shared)."
    )
    # --- micro-batching ------------------------------------------------------------------------
    max_batch_size: int = Field(
        32, ge=1, le=4096, description="Examples merged into one model call (requests are never split)."
    )
    max_wait_ms: float = Field(
        5.0, ge=0.0, le=10_000.0, description="How long a batch waits for more requests before it runs."
    )
    workers: int = Field(
        1, ge=1, le=64, description="Inference threads shared by all models (one batch per model at a time)."
    )
    # --- limits --------------------------------------------------------------------------------
    max_body_bytes: int = Field(1_048_576, ge=64, description="Largest request body (413 above).")
    max_texts: int = Field(64, ge=1, description="Inputs per request (422 above).")
    max_chars: int = Field(
        20_000, ge=1, description="Characters per input text (422 above; long texts are windowed, not cut)."
    )
    max_concurrency: int = Field(
        64, ge=1, description="Prediction requests admitted at once, queued or running (429 above)."
    )
    retry_after_s: int = Field(1, ge=1, description="Retry-After seconds sent with a 429.")
    timeout_s: float = Field(
        30.0, gt=0.0, description="Per-request deadline: body upload (408) and queue + inference (504)."
    )
    drain_timeout_s: float = Field(
        30.0, ge=0.0, description="On SIGTERM/SIGINT: how long in-flight requests may take to finish."
    )
    log_level: str = Field(
        "info",
        pattern="^(critical|error|warning|info|debug)$",
        description="critical, error, warning, info or debug.",
    )
