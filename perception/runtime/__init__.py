"""ONNX Runtime inference: sessions, micro-batching, monitoring, shadow mode, degradation."""
