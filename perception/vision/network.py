"""The surface-defect CNN (torch; training only, inference runs its ONNX export).

Small on purpose: a stride-2 stem and four conv blocks, global average pooling, one linear
layer. At 96x96 it is about 40 MFLOPs a frame: well under a millisecond of a CPU core's time
at inference, and a NEU-DET epoch takes seconds on two cores.
"""

from __future__ import annotations

import torch
from torch import nn


def _block(inputs: int, outputs: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class DefectNet(nn.Module):
    """(batch, 1, size, size) grayscale in [0, 1] -> class logits; normalises inside, so the
    exported graph takes plain pixels / 255."""

    def __init__(self, classes: int, mean: float, std: float, width: int = 16) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(max(std, 1e-3), dtype=torch.float32))
        w = width
        self.features = nn.Sequential(
            _block(1, w, stride=2),
            _block(w, 2 * w),
            nn.MaxPool2d(2),
            _block(2 * w, 4 * w),
            nn.MaxPool2d(2),
            _block(4 * w, 8 * w),
            nn.MaxPool2d(2),
            _block(8 * w, 8 * w),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(8 * w, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features((x - self.mean) / self.std))


class WithProbabilities(nn.Module):
    """What is exported: class probabilities (the runtime's contract for vision models)."""

    def __init__(self, net: DefectNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)
