"""Exports of fine-tuned models to other runtimes: ONNX (`onnx.py`, with parity checks and int8
dynamic quantization). Loading an export back (the onnxruntime model) is `rawtune.artifacts.onnx`."""
