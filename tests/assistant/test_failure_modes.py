"""Failure-mode classification: the shipped adapters, their checks, figures and training.

Real components only: llama.cpp with the pinned Qwen2.5-Coder-1.5B GGUF and the shipped LoRA
adapters (an ensemble of seeds); torch, transformers and PEFT for the training test; the public
data set at ../shared/data/failure-modes (tests that need it skip without it).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from andon.cli import app
from assistant.failure_modes import (
    FailureModeClassifier,
    artifact,
    classify,
    default_classifier,
    evaluate,
)
from assistant.failure_modes.artifact import SEEDS, AdapterManifest, TrainingSettings
from assistant.failure_modes.classifier import MANIFEST_PATH, MANIFEST_SHA256, PROMPT_TOKENS
from assistant.failure_modes.dataset import DEFAULT_DATA_DIR, DatasetError, Observation, read_split
from assistant.failure_modes.export import gguf_tensor_name
from assistant.failure_modes.labels import CLASS_MODES, DATASET_MODES, DESCRIPTIONS
from assistant.failure_modes.plant_records import plant_observations, training_rows
from assistant.failure_modes.train import class_weights, rows_sha256
from control.workorders.models import FailureMode
from retrieval.weights import WeightsError

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "var" / "models"

needs_data = pytest.mark.skipif(
    not (DEFAULT_DATA_DIR / "test.txt").is_file(),
    reason=f"failure-mode data set not found at {DEFAULT_DATA_DIR} "
    "(../shared/data/failure-modes next to the repository)",
)
needs_training = pytest.mark.skipif(
    any(importlib.util.find_spec(p) is None for p in ("torch", "transformers", "peft", "gguf")),
    reason="the train extra (torch, transformers, PEFT, gguf) is not installed",
)

# The published baseline on test.txt (fine-tuned GPT-3.5): accuracy 0.81 (50 of 62), macro F1
# 0.62. The shipped ensemble measures 0.823 (51 of 62) and macro F1 0.712 (README, "Session
# 15"): the floors hold it above the baseline, so a regression fails. dev.txt is not scored:
# the shipped adapters were trained on it.
TEST_ACCURACY_FLOOR, TEST_MACRO_F1_FLOOR = 0.82, 0.70


def _shipped() -> AdapterManifest:
    return artifact.read(MANIFEST_PATH, MANIFEST_SHA256)


def _copy_model(folder: Path) -> Path:
    """The shipped manifest and adapters, copied into ``folder``; returns the manifest's path."""
    for name in (MANIFEST_PATH.name, *(m.adapter for m in _shipped().members)):
        shutil.copy(MANIFEST_PATH.with_name(name), folder / name)
    return folder / MANIFEST_PATH.name


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_shipped_model_is_the_pinned_files_and_loads() -> None:
    manifest = _shipped()
    assert set(manifest.labels) <= set(CLASS_MODES)
    assert "Parameter deviation" in manifest.labels  # learnt from the plant's records alone
    # The ensemble chosen before any figure: the settings fixed then, one adapter per seed.
    assert [m.settings for m in manifest.members] == [TrainingSettings(seed=s) for s in SEEDS]
    assert [m.adapter for m in manifest.members] == [artifact.adapter_file(s) for s in SEEDS]
    assert default_classifier().labels == manifest.labels


@needs_data
def test_shipped_model_was_trained_on_the_data_set_and_the_plant_records() -> None:
    # train.txt and dev.txt (the final adapter, settings fixed on dev), then the plant's records.
    rows = training_rows(
        read_split(DEFAULT_DATA_DIR / "train.txt"), read_split(DEFAULT_DATA_DIR / "dev.txt")
    )
    manifest = _shipped()
    assert (manifest.train_rows, manifest.train_sha256) == (len(rows), rows_sha256(rows))
    assert manifest.labels == tuple(sorted({row.label for row in rows}))


def test_tampered_or_missing_files_are_refused(tmp_path: Path) -> None:
    manifest = _copy_model(tmp_path)
    last = tmp_path / _shipped().members[-1].adapter  # any member, not only the first
    _flip_a_byte(last)
    with pytest.raises(WeightsError, match="its manifest pins"):
        FailureModeClassifier.load(manifest, MANIFEST_SHA256, models_dir=MODELS)
    _flip_a_byte(manifest)
    with pytest.raises(WeightsError, match="sha256"):
        FailureModeClassifier.load(manifest, MANIFEST_SHA256, models_dir=MODELS)
    _copy_model(tmp_path)
    last.unlink()
    with pytest.raises(WeightsError, match=r"adapter .* is missing"):
        FailureModeClassifier.load(manifest, MANIFEST_SHA256, models_dir=MODELS)
    with pytest.raises(WeightsError, match=r"manifest .* is missing"):
        FailureModeClassifier.load(tmp_path / "absent.json", MANIFEST_SHA256, models_dir=MODELS)


def test_an_adapter_for_other_weights_is_refused(tmp_path: Path) -> None:
    manifest_path = _copy_model(tmp_path)
    manifest = _shipped()
    other = manifest.model_copy(update={"base_sha256": "0" * 64})
    sha256 = artifact.write(other, tmp_path)
    with pytest.raises(WeightsError, match="trained on"):
        FailureModeClassifier.load(manifest_path, sha256, models_dir=MODELS)
    (tmp_path / "manifest.json").write_text('{"format": "andon-failure-modes/2"}')
    with pytest.raises(WeightsError, match="not a failure-mode model manifest"):
        FailureModeClassifier.load(manifest_path, None, models_dir=MODELS)


def test_a_manifest_names_adapters_beside_it_once_each(tmp_path: Path) -> None:
    manifest = _shipped()
    first = manifest.members[0]
    for members in (
        (first.model_copy(update={"adapter": "../elsewhere.gguf"}),),  # outside its folder
        (first, first),  # one adapter counted twice
    ):
        data = manifest.model_dump(mode="json") | {
            "members": [m.model_dump(mode="json") for m in members]
        }
        (tmp_path / "manifest.json").write_text(json.dumps(data))
        with pytest.raises(WeightsError, match="not a failure-mode model manifest"):
            artifact.read(tmp_path / "manifest.json", None)


def test_an_adapter_llama_cpp_cannot_read_is_refused(tmp_path: Path) -> None:
    manifest_path = _copy_model(tmp_path)
    manifest = _shipped()
    last = manifest.members[-1]
    adapter = tmp_path / last.adapter
    adapter.write_bytes(b"GGUF but not really an adapter")
    bad = last.model_copy(update={"adapter_sha256": artifact.sha256_of(adapter)})
    pinned = manifest.model_copy(update={"members": (*manifest.members[:-1], bad)})
    sha256 = artifact.write(pinned, tmp_path)
    with pytest.raises(WeightsError, match="could not apply the LoRA adapter"):
        FailureModeClassifier.load(manifest_path, sha256, models_dir=MODELS)


def test_the_ensemble_averages_its_members_probabilities(tmp_path: Path) -> None:
    """Each member alone (its own manifest, its own llama.cpp context) against the ensemble,
    which applies the adapters in turn on one context."""
    manifest_path = _copy_model(tmp_path)
    manifest = _shipped()
    ensemble = default_classifier()
    text = "hydraulic pump noisy and running hot"
    alone = []
    for member in manifest.members:
        single = manifest.model_copy(update={"members": (member,)})
        classifier = FailureModeClassifier.load(
            manifest_path, artifact.write(single, tmp_path), models_dir=MODELS
        )
        alone.append(classifier.log_likelihoods(text)[0])
        classifier.close()
    together = ensemble.log_likelihoods(text)
    np.testing.assert_allclose(together, np.stack(alone), atol=1e-4)
    assert len(manifest.members) == len(SEEDS)
    # The members disagree somewhere (else the ensemble would be one model thrice).
    assert np.abs(together - together[0]).max() > 0.01
    probabilities = ensemble.probabilities(text)
    expected = np.mean([np.exp(a) / np.exp(a).sum() for a in alone], axis=0)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    assert ensemble.predict([text]) == [manifest.labels[int(expected.argmax())]]


@pytest.mark.parametrize(
    ("symptom", "mode"),
    [
        ("press 3 bearing running hot", FailureMode.OHE),
        ("feeder stopped by itself", FailureMode.UST),
        ("Press 3 is squealing on the down stroke, check the bearing", FailureMode.NOI),
        ("vibration on press 3 main motor", FailureMode.VIB),
        ("press will not start", FailureMode.FTS),
        ("die cracked", FailureMode.STD),
        # Worded and filed as the plant's own records do.
        ("The feeder 1 feed length is drifting", FailureMode.PDE),
        ("F-01 strip jam on feeder 2", FailureMode.SER),
        ("press 3 main bearing temperature is at 88 °C", FailureMode.OHE),
        # Hydraulic oil is a utility medium here (labels.py). Seed 0 alone split 0.50 / 0.49
        # between utility and process medium, the CPU's kernels picking the winner; the
        # ensemble files it as a utility leak at 0.82.
        ("hydraulic oil leaking from the cushion", FailureMode.ELU),
    ],
)
def test_plant_symptoms(symptom: str, mode: FailureMode) -> None:
    guess = classify(symptom)
    assert guess.mode == mode, guess
    assert guess.label == DESCRIPTIONS[mode]
    assert 0.0 < guess.confidence <= 1.0


def test_text_without_words_is_unknown() -> None:
    guess = classify("  !! ")
    assert (guess.mode, guess.confidence) == (FailureMode.UNK, 0.0)


def test_a_symptom_longer_than_the_context_is_classified_on_its_first_words() -> None:
    # 1,434 characters and 256 words (each at least one token): more than the prompt holds.
    symptom = "main bearing overheating at 95 °C " + "and the operator noted more " * 50
    assert len(symptom.split()) > PROMPT_TOKENS
    assert len(default_classifier().prompt_tokens(symptom)) <= PROMPT_TOKENS
    guess = classify(symptom)  # on its first words, where the bearing's heat is
    assert guess.mode == FailureMode.OHE, guess


def test_bad_split_lines_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("leaking,Leaking\nsmoking,On fire\n")
    with pytest.raises(DatasetError, match=r"bad.txt:2: unknown failure mode 'On fire'"):
        read_split(bad)
    with pytest.raises(DatasetError, match="does not exist"):
        read_split(tmp_path / "absent.txt")


def test_the_plant_records_train_fault_classes_only(tmp_path: Path) -> None:
    rows = plant_observations()
    labels = {row.label for row in rows}
    assert len(rows) > 150 and "Other" not in labels  # routine work names no fault
    assert {"Minor in-service problems", "Parameter deviation", "Leaking"} <= labels
    (tmp_path / "maintenance-log.csv").write_text("symptom,failure_mode\nsmoke,FIRE\n")
    (tmp_path / "work-orders.jsonl").write_text("")
    with pytest.raises(DatasetError, match="unknown failure mode 'FIRE'"):
        plant_observations(tmp_path)
    with pytest.raises(DatasetError, match="cannot read"):
        plant_observations(tmp_path / "absent")


def test_class_weights_balance_the_classes_softly() -> None:
    weights = class_weights(["Leaking"] * 9 + ["Noise"])
    # Balanced would be 10/(2*9) and 10/(2*1); their square roots keep the rare class ahead
    # without one example outweighing nine.
    assert weights["Leaking"] == pytest.approx((10 / 18) ** 0.5)
    assert weights["Noise"] == pytest.approx(5**0.5)


def test_lora_matrices_get_llama_cpp_tensor_names() -> None:
    key = "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight"
    assert gguf_tensor_name(key) == "blk.3.attn_q.weight.lora_a"
    assert gguf_tensor_name("model.layers.23.mlp.down_proj.lora_B.weight") == (
        "blk.23.ffn_down.weight.lora_b"
    )
    with pytest.raises(ValueError, match="not a LoRA matrix"):
        gguf_tensor_name("base_model.model.lm_head.lora_A.weight")


def test_cli_reports_a_missing_data_set(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "failure-modes", "--data", str(tmp_path), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 2
    assert "train.txt does not exist" in " ".join(result.output.split())  # rich wraps lines
    assert not (tmp_path / "m").exists()  # nothing trained, nothing written


@needs_data
@pytest.mark.slow
def test_figures_on_the_test_split() -> None:
    result = evaluate(DEFAULT_DATA_DIR / "test.txt")
    assert result["n"] == 62
    assert result["accuracy"] >= TEST_ACCURACY_FLOOR, result["accuracy"]
    assert result["macro_f1"] >= TEST_MACRO_F1_FLOOR, result["macro_f1"]
    assert {e["gold"] for e in result["errors"]} <= set(DATASET_MODES)


@needs_data
@needs_training
@pytest.mark.slow
def test_training_exports_an_adapter_llama_cpp_applies_as_torch_does(tmp_path: Path) -> None:
    """A few steps of the real training on a few rows, at a learning rate high enough to move
    the model far: llama.cpp with the exported GGUF adapter must score the classes as the
    trained torch model does, within what Q4_K_M quantisation explains."""
    import torch

    from assistant.failure_modes.artifact import BASE_MODEL
    from assistant.failure_modes.train import answer_log_probs, encode, manifest, train
    from assistant.llm.weights import model_file

    rows = [
        Observation(text, label)
        for text, label in [
            ("oil leak at the pump gland", "Leaking"),
            ("hose leaking hydraulic oil", "Leaking"),
            ("bearing running hot", "Overheating"),
            ("motor overheating", "Overheating"),
            ("loud grinding noise", "Noise"),
            ("squealing belt", "Noise"),
        ]
    ]
    settings = TrainingSettings(epochs=2, batch_size=3, learning_rate=3e-3, warmup_steps=0)
    losses: list[float] = []
    member, peft_model = train(
        rows,
        model_file(BASE_MODEL, MODELS),
        tmp_path,
        settings,
        progress=lambda step, total, loss: losses.append(loss),
    )
    assert len(losses) == 4 and losses[-1] < losses[0], losses
    assert member.adapter == artifact.adapter_file(settings.seed)
    classifier = FailureModeClassifier.load(
        tmp_path / "manifest.json",
        artifact.write(manifest(rows, [member]), tmp_path),
        models_dir=MODELS,
    )
    assert classifier.labels == ("Leaking", "Noise", "Overheating")
    from transformers import AutoTokenizer

    base = model_file(BASE_MODEL, MODELS)
    tokenizer = AutoTokenizer.from_pretrained(base.parent, gguf_file=base.name)
    causal_lm = peft_model.base_model.model
    for text in ("steam leaking from the flange", "gearbox very hot", "rattling sound"):
        examples = [encode(tokenizer, text, label) for label in classifier.labels]
        # Training's tokens are the classifier's: the same prompt, the same answers.
        assert list(examples[0].prompt) == classifier.prompt_tokens(text)
        with torch.no_grad():
            tuned = answer_log_probs(causal_lm, examples).numpy()
            with peft_model.disable_adapter():
                untuned = answer_log_probs(causal_lm, examples).numpy()
        (served,) = classifier.log_likelihoods(text)  # one member
        assert np.abs(tuned - untuned).max() > 5.0  # the adapter matters...
        # ...and llama.cpp applies it: its scores sit with the trained model's, not the untrained
        # one's (a wrong tensor name or layout leaves out the adapter's whole effect)...
        assert np.abs(served - tuned).max() < np.abs(served - untuned).max()
        # ...within llama.cpp's arithmetic against float32 (8-bit activations against Q4_K
        # weights, a float16 adapter), whose error grows with the score: up to 1.23 nats with the
        # portable AVX2 kernels, 2.26 on an answer scored -24 with the AVX-512 ones.
        np.testing.assert_allclose(served, tuned, rtol=0.1, atol=1.0)
        assert served.argmax() == tuned.argmax()
    classifier.close()
