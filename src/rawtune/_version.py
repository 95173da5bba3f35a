"""The package version, in a leaf module of its own: configs, run manifests, ONNX metadata and the
server record it, and none of them should import the `rawtune` facade (the top floor) for a string."""

__version__ = "0.1.0"
