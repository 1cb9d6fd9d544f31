"""Telemetry anomaly detection: a PCA T²+Q detector over windows of live tags, fitted on
normal operation, exported to ONNX, evaluated with the SKAB protocol, scored live over the
OPC-UA subscription (see README.md in this directory)."""
