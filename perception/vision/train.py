"""Train the surface-defect CNN on a labelled image set, export it to ONNX, evaluate it on
the held-out split and sign the artifact. Needs the `train` extra (torch)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from perception.models import ModelMetadata, TensorSpec, TrainingData
from perception.registry.artifact import write_artifact
from perception.runtime.drift import input_statistics, reference_histograms
from perception.vision.augment import Augmentation
from perception.vision.dataset import (
    SPLIT_DESCRIPTION,
    LabelledImage,
    classes_of,
    file_list_sha256,
    split_holdout,
)
from perception.vision.export import export_onnx
from perception.vision.metrics import ClassificationReport, classification_report
from perception.vision.network import DefectNet
from perception.vision.preprocess import (
    INPUT_NAME,
    OUTPUT_NAME,
    load_images,
    preprocessing_spec,
)
from perception.vision.provenance import trainer_version

DEFAULT_NAME = "vision-defects"


@dataclass(frozen=True)
class TrainConfig:
    image_size: int = 96
    epochs: int = 24
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 5e-4
    width: int = 16  # channels of the first block; later blocks double it
    label_smoothing: float = 0.05
    seed: int = 0
    threads: int = 2
    device: str = "cpu"  # "cuda" trains on a GPU (augmentation stays on the CPU)
    # Below this top-class probability the runtime routes a part to manual inspection.
    min_confidence: float = 0.6
    augmentation: Augmentation = field(default_factory=Augmentation)


@dataclass(frozen=True)
class EpochLog:
    epoch: int
    epochs: int
    loss: float
    train_accuracy: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    artifact_dir: Path
    metadata: ModelMetadata
    report: ClassificationReport  # on the held-out split
    train_seconds: float


def train_vision(
    samples: list[LabelledImage],
    out_dir: Path,
    signing_key: Ed25519PrivateKey,
    source: str,
    config: TrainConfig = TrainConfig(),
    name: str = DEFAULT_NAME,
    version: str | None = None,
    progress: Callable[[EpochLog], None] | None = None,
) -> TrainResult:
    """Train on the fixed training split of `samples`, evaluate on its held-out split, write
    the signed artifact into `out_dir`."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)  # a fixed reduction order: repeatable sums
    classes = classes_of(samples)
    train, held_out = split_holdout(samples)
    if not held_out:
        raise ValueError("too few images to hold any out: need at least two per class")
    index = {label: i for i, label in enumerate(classes)}
    size = config.image_size
    train_x = _tensor(load_images([s.path for s in train], size))
    train_y = torch.tensor([index[s.label] for s in train])
    test_x = _tensor(load_images([s.path for s in held_out], size))
    test_y = np.array([index[s.label] for s in held_out])
    mean, std = float(train_x.mean()), float(train_x.std())

    net = DefectNet(len(classes), mean, std, config.width).to(config.device)
    started = time.perf_counter()
    _fit(net, train_x, train_y, config, progress)
    train_seconds = time.perf_counter() - started

    net = net.cpu().eval()
    with torch.no_grad():
        predicted = torch.cat([net(b).argmax(1) for b in test_x.split(256)]).numpy()
    report = classification_report(test_y, predicted, classes)
    onnx_bytes = export_onnx(net, size, test_x[:8])
    metadata = ModelMetadata(
        name=name,
        version=version or datetime.now(UTC).strftime("%Y.%m.%d-%H%M%S"),
        kind="vision",
        inputs=(TensorSpec(name=INPUT_NAME, shape=(-1, 1, size, size)),),
        outputs=(TensorSpec(name=OUTPUT_NAME, shape=(-1, len(classes))),),
        classes=classes,
        thresholds={"min_confidence": config.min_confidence},
        preprocessing=preprocessing_spec(size, mean, std),
        training_data=TrainingData(
            source=source,
            samples=len(samples),
            split=f"{SPLIT_DESCRIPTION}; {len(train)} train, {len(held_out)} held out",
            file_list_sha256=file_list_sha256(samples),
        ),
        metrics={**report.flat(), "train_seconds": round(train_seconds, 1)},
        reference_stats=reference_histograms(input_statistics("vision", train_x.numpy())),
        created_at=datetime.now(UTC),
        trainer=trainer_version(),
    )
    write_artifact(out_dir, onnx_bytes, metadata, signing_key)
    return TrainResult(out_dir, metadata, report, train_seconds)


def torch_cuda_available() -> bool:
    return torch.cuda.is_available()


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).float().div_(255.0).unsqueeze(1)


def _fit(
    net: DefectNet,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    progress: Callable[[EpochLog], None] | None,
) -> None:
    generator = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = -(-len(x) // config.batch_size)
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, config.learning_rate, total_steps=config.epochs * steps_per_epoch
    )
    for epoch in range(1, config.epochs + 1):
        net.train()
        started = time.perf_counter()
        order = torch.randperm(len(x), generator=generator)
        loss_sum, hits = 0.0, 0
        for step in range(steps_per_epoch):
            batch = order[step * config.batch_size : (step + 1) * config.batch_size]
            inputs = config.augmentation(x[batch], generator).to(config.device)
            labels = y[batch].to(config.device)
            logits = net(inputs)
            loss = F.cross_entropy(logits, labels, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += float(loss.detach()) * len(batch)
            hits += int((logits.argmax(1) == labels).sum())
        if progress is not None:
            progress(
                EpochLog(
                    epoch,
                    config.epochs,
                    loss_sum / len(x),
                    hits / len(x),
                    time.perf_counter() - started,
                )
            )
