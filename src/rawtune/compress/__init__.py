"""Compression of a fine-tuned run with an accuracy gate: quantization (here), measured against the
parent run for size, CPU latency/throughput and the task metric (`measure`, `gate`)."""
