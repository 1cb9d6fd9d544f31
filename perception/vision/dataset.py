"""Labelled image sets for training and evaluation, and the held-out split fixed in code.

Two layouts: an image folder (one sub-folder per class, e.g. what `andon sim
render-camera` writes) and Pascal VOC (an `ANNOTATIONS/` folder of XML files beside the
images, as NEU-DET ships it; the class is the name of the first annotated object).
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
HOLDOUT_FRACTION = 0.2
# Changing the salt changes which files are held out: every metric reported before would
# then have been measured on a different split.
_SPLIT_SALT = b"andon-vision-holdout-v1"
SPLIT_DESCRIPTION = (
    f"stratified {round((1 - HOLDOUT_FRACTION) * 100)}/{round(HOLDOUT_FRACTION * 100)}: "
    "per class, the files whose salted sha256 of the file name sorts first are held out"
)


class DatasetError(Exception):
    """The data directory is missing, empty or not in the layout asked for."""


@dataclass(frozen=True, order=True)
class LabelledImage:
    label: str
    path: Path

    @property
    def key(self) -> str:
        """What the split hashes: class and file name, not where the data set lives."""
        return f"{self.label}/{self.path.name}"


def load_dataset(data_dir: Path, voc: bool = False) -> list[LabelledImage]:
    """Every labelled image under `data_dir`, sorted."""
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: no such directory")
    samples = _voc(data_dir) if voc else _folder(data_dir)
    if not samples:
        layout = "Pascal VOC (ANNOTATIONS/*.xml + images)" if voc else "<class>/<image> folders"
        raise DatasetError(f"{data_dir}: no labelled images found (expected {layout})")
    if len({s.label for s in samples}) < 2:
        raise DatasetError(f"{data_dir}: only one class ({samples[0].label}); need two or more")
    return sorted(samples)


def split_holdout(
    samples: Sequence[LabelledImage],
) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """(train, held-out): per class, a fixed share chosen by hashing file names, so the split
    does not depend on file order, machine or seed, and adding files moves no others."""
    by_class: dict[str, list[LabelledImage]] = defaultdict(list)
    for sample in samples:
        by_class[sample.label].append(sample)
    train: list[LabelledImage] = []
    held_out: list[LabelledImage] = []
    for label in sorted(by_class):
        ranked = sorted(
            by_class[label], key=lambda s: hashlib.sha256(_SPLIT_SALT + s.key.encode()).digest()
        )
        cut = round(len(ranked) * HOLDOUT_FRACTION) if len(ranked) > 1 else 0
        held_out.extend(ranked[:cut])
        train.extend(ranked[cut:])
    return sorted(train), sorted(held_out)


def file_list_sha256(samples: Sequence[LabelledImage]) -> str:
    """sha256 over the sorted `label/file name` lines: identifies the set, not its location."""
    lines = sorted(s.key for s in samples)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def classes_of(samples: Sequence[LabelledImage]) -> tuple[str, ...]:
    return tuple(sorted({s.label for s in samples}))


def _folder(data_dir: Path) -> list[LabelledImage]:
    return [
        LabelledImage(class_dir.name, path)
        for class_dir in data_dir.iterdir()
        if class_dir.is_dir() and not class_dir.name.startswith(".")
        for path in class_dir.iterdir()
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]


def _voc(data_dir: Path) -> list[LabelledImage]:
    layouts = (("ANNOTATIONS", "IMAGES"), ("Annotations", "JPEGImages"))
    for notes, pictures in layouts:
        if (data_dir / notes).is_dir() and (data_dir / pictures).is_dir():
            return _voc_pairs(data_dir / notes, data_dir / pictures)
    raise DatasetError(
        f"{data_dir}: not a Pascal VOC layout (need ANNOTATIONS/ + IMAGES/ "
        "or Annotations/ + JPEGImages/)"
    )


def load_voc_validation(data_dir: Path) -> list[LabelledImage]:
    """NEU-DET's extra `Validation_Annotations/` + `Validation_Images/`; [] if absent."""
    annotations, images = data_dir / "Validation_Annotations", data_dir / "Validation_Images"
    if not (annotations.is_dir() and images.is_dir()):
        return []
    return sorted(_voc_pairs(annotations, images))


def _voc_pairs(annotations: Path, images: Path) -> list[LabelledImage]:
    """Pairs every `<stem>.xml` with the image `<stem>.<suffix>`. By file stem, not the XML's
    <filename>: some of NEU-DET's lack the suffix."""
    image_by_stem = {p.stem: p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    samples = []
    for xml_path in sorted(annotations.glob("*.xml")):
        image = image_by_stem.get(xml_path.stem)
        if image is None:
            raise DatasetError(f"{xml_path}: no image {xml_path.stem}.* in {images}")
        samples.append(LabelledImage(_voc_label(xml_path), image))
    return samples


def _voc_label(xml_path: Path) -> str:
    """The first object's name: NEU-DET lists the image's own defect first; later boxes
    may mark a minor defect of another class."""
    try:
        name = ET.parse(xml_path).getroot().findtext("object/name")
    except ET.ParseError as exc:
        raise DatasetError(f"{xml_path}: not valid XML ({exc})") from None
    if not name or not name.strip():
        raise DatasetError(f"{xml_path}: no <object><name>")
    return name.strip()
