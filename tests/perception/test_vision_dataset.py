"""Labelled image sets, the held-out split fixed in code, preprocessing and metrics."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from perception.vision.dataset import (
    HOLDOUT_FRACTION,
    DatasetError,
    LabelledImage,
    file_list_sha256,
    load_dataset,
    load_voc_validation,
    split_holdout,
)
from perception.vision.evaluation import NEU_DIR
from perception.vision.metrics import classification_report
from perception.vision.preprocess import ImageError, load_image, to_input

NEU_CLASSES = ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches")
needs_neu = pytest.mark.skipif(
    not (NEU_DIR / "ANNOTATIONS").is_dir(),
    reason=f"NEU-DET not found at {NEU_DIR} (../shared/data/neu-det next to the repository)",
)


def write_folder(root: Path, counts: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for label, n in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (20, 30), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{label}-{i:03d}.png")
    return root


VOC_XML = """<annotation><filename>{name}</filename>
<object><name>{first}</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object>
<object><name>{second}</name><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>
</annotation>"""


def write_voc(root: Path, items: dict[str, tuple[str, str]]) -> Path:
    (root / "ANNOTATIONS").mkdir(parents=True)
    (root / "IMAGES").mkdir()
    for stem, (first, second) in items.items():
        Image.new("L", (16, 16), 128).save(root / "IMAGES" / f"{stem}.jpg")
        xml = VOC_XML.format(name=stem, first=first, second=second)  # <filename> lacks .jpg
        (root / "ANNOTATIONS" / f"{stem}.xml").write_text(xml)
    return root


def test_an_image_folder_is_labelled_by_its_sub_folders(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data", {"ok": 3, "crack": 2})
    (root / "notes.txt").write_text("not an image")
    (root / "ok" / "readme.md").write_text("not an image either")
    samples = load_dataset(root)
    assert Counter(s.label for s in samples) == {"ok": 3, "crack": 2}
    assert samples == sorted(samples)


def test_voc_labels_come_from_the_first_object(tmp_path: Path) -> None:
    root = write_voc(tmp_path, {"a_1": ("scratches", "patches"), "b_1": ("patches", "scratches")})
    samples = load_dataset(root, voc=True)
    assert [(s.path.name, s.label) for s in samples] == [
        ("b_1.jpg", "patches"),
        ("a_1.jpg", "scratches"),
    ]


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "no such directory"),
        ("empty", "no labelled images"),
        ("one_class", "only one class"),
        ("voc_without_images", "not a Pascal VOC layout"),
        ("voc_orphan", "no image"),
        ("voc_bad_xml", "not valid XML"),
    ],
)
def test_bad_data_directories_are_refused_with_a_reason(
    tmp_path: Path, layout: str, message: str
) -> None:
    root, voc = tmp_path / "data", layout.startswith("voc")
    if layout == "empty":
        root.mkdir()
    elif layout == "one_class":
        write_folder(root, {"ok": 3})
    elif layout == "voc_without_images":
        (root / "ANNOTATIONS").mkdir(parents=True)
    elif layout in ("voc_orphan", "voc_bad_xml"):
        write_voc(root, {"a_1": ("x", "x"), "b_1": ("y", "y")})
        if layout == "voc_orphan":
            (root / "IMAGES" / "a_1.jpg").unlink()
        else:
            (root / "ANNOTATIONS" / "a_1.xml").write_text("<annotation><object>")
    with pytest.raises(DatasetError, match=message):
        load_dataset(root, voc=voc)


def test_the_split_is_stratified_and_independent_of_order_and_location(tmp_path: Path) -> None:
    samples = load_dataset(write_folder(tmp_path / "a", {"ok": 40, "crack": 25, "dent": 10}))
    train, held_out = split_holdout(samples)
    assert Counter(s.label for s in held_out) == {"ok": 8, "crack": 5, "dent": 2}
    assert not set(train) & set(held_out) and len(train) + len(held_out) == len(samples)
    assert split_holdout(list(reversed(samples))) == (train, held_out)
    moved = load_dataset(Path(shutil.copytree(tmp_path / "a", tmp_path / "elsewhere")))
    assert [s.key for s in split_holdout(moved)[1]] == [s.key for s in held_out]
    assert file_list_sha256(moved) == file_list_sha256(samples)
    # One more file moves at most itself: the others keep their side of the split.
    extra = [*samples, LabelledImage("ok", tmp_path / "a" / "ok" / "ok-999.png")]
    _, held_out_after = split_holdout(extra)
    assert len(set(held_out) - set(held_out_after)) <= 1


def test_preprocessing_resizes_to_grayscale_in_unit_range(tmp_path: Path) -> None:
    rgb = np.zeros((50, 80, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    batch = to_input([rgb, np.full((10, 10), 255, dtype=np.uint8)], 32)
    assert batch.shape == (2, 1, 32, 32) and batch.dtype == np.float32
    assert np.allclose(batch[1], 1.0) and 0.2 < batch[0].mean() < 0.4  # red's luma, 76/255
    path = tmp_path / "frame.png"
    Image.fromarray(rgb).save(path)
    assert np.array_equal(load_image(path, 32), (batch[0, 0] * 255).round().astype(np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(tmp_path / "broken.png", 32)
    with pytest.raises(ValueError, match="uint8"):
        to_input([np.zeros((4, 4), dtype=np.float32)], 8)


def test_metrics_per_class_and_confusion() -> None:
    report = classification_report([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 1, 1], ("a", "b", "c"))
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.per_class["a"].precision == 1.0 and report.per_class["a"].recall == 2 / 3
    assert report.per_class["b"].precision == 0.5 and report.per_class["b"].recall == 1.0
    assert report.per_class["c"].precision == 0.0 and report.per_class["c"].support == 1
    assert report.confusion["a"] == {"a": 2, "b": 1, "c": 0}
    flat = report.flat()
    assert flat["recall.a"] == pytest.approx(2 / 3) and flat["confusion.c.b"] == 1.0


@needs_neu
def test_neu_det_labels_and_split() -> None:
    samples = load_dataset(NEU_DIR, voc=True)
    assert len(samples) == 1770
    assert all(s.path.stem.rsplit("_", 1)[0] == s.label for s in samples)
    _, held_out = split_holdout(samples)
    counts = Counter(s.label for s in held_out)
    assert tuple(sorted(counts)) == NEU_CLASSES
    assert all(c == round(295 * HOLDOUT_FRACTION) for c in counts.values())
    validation = load_voc_validation(NEU_DIR)
    assert len(validation) == 30 and {s.label for s in validation} == set(NEU_CLASSES)
    assert not {s.path.name for s in validation} & {s.path.name for s in samples}
