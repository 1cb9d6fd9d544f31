"""Training-time augmentation on whole batches (torch, no torchvision): flips, small shifts,
brightness and contrast. Every draw comes from the caller's generator, so a seeded run
augments the same way each time."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    flips: bool = True  # horizontal and vertical: surface defects have no up or left
    max_shift: float = 0.08  # of the image side, each axis
    brightness: float = 0.08  # added, in pixel / 255 units
    contrast: float = 0.2  # multiplied about each image's mean: 1 +/- this

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(n, 1, h, w) in [0, 1] -> augmented copy, still in [0, 1]."""
        n = batch.shape[0]

        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(n, generator=generator)

        out = batch
        if self.flips:
            h_flip = (torch.rand(n, generator=generator) < 0.5).view(n, 1, 1, 1)
            v_flip = (torch.rand(n, generator=generator) < 0.5).view(n, 1, 1, 1)
            out = torch.where(h_flip, out.flip(-1), out)
            out = torch.where(v_flip, out.flip(-2), out)
        if self.max_shift > 0:
            # Shift by resampling through a translated grid; the edges reflect, as a
            # texture continues past the frame.
            theta = torch.zeros(n, 2, 3)
            theta[:, 0, 0] = theta[:, 1, 1] = 1.0
            theta[:, 0, 2] = uniform(-2 * self.max_shift, 2 * self.max_shift)
            theta[:, 1, 2] = uniform(-2 * self.max_shift, 2 * self.max_shift)
            grid = F.affine_grid(theta, list(out.shape), align_corners=False)
            out = F.grid_sample(out, grid, padding_mode="reflection", align_corners=False)
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        contrast = uniform(1 - self.contrast, 1 + self.contrast).view(n, 1, 1, 1)
        brightness = uniform(-self.brightness, self.brightness).view(n, 1, 1, 1)
        return ((out - mean) * contrast + mean + brightness).clamp(0.0, 1.0)
