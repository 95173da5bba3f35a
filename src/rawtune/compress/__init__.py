"""Compression of a fine-tuned run with an accuracy gate. The methods are chosen by name
(`methods.COMPRESSORS`): int8 quantization (`quantize`), an ONNX export (`onnx_export`), and the
methods that train, distillation and pruning with recovery (`train`, with `student`, `distill`,
`prune`); the compressed model is compared with its parent for size, CPU latency/throughput and the
task metric (`compare`, `measure`) and judged by the gate (`gate`)."""
