"""Exports of fine-tuned models to other runtimes: ONNX (`onnx.py`, with parity checks and int8
dynamic quantization), and a run's exports (`runs.py`: its model as ONNX, the fine-tuning config an
exported model carries). Loading an export back (the onnxruntime model) is `rawtune.artifacts.onnx`."""
