"""Perception: signed ONNX models for surface defects and telemetry anomalies, served by an
ONNX Runtime core with micro-batching, monitoring, shadow mode and a fail-safe fallback."""
