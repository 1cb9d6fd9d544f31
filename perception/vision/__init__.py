"""Surface-defect classification: data sets, training (torch, the `train` extra), ONNX
export and evaluation (ONNX Runtime only)."""
