"""Exports of fine-tuned models to other runtimes: ONNX (`onnx.py`, with parity checks and int8
dynamic quantization) and the onnxruntime wrapper that serves an export (`onnx_runtime.py`)."""
