"""Retrieval: answer quality on our question set, then ingest rate and hybrid query latency at
10k and 100k passages (the demo corpora, MaintNet's 6,169 real aviation log records from
../shared, and synthetic maintenance records to fill up), in Qdrant's embedded local mode.
"""

from __future__ import annotations

import csv
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml
from rich.console import Console
from rich.progress import Progress

from andon.settings import DEMO_CORPORA
from bench.stats import percentile
from control.plant.loader import load_plant
from control.plant.models import PlantModel
from retrieval.evaluation import Question, evaluate, load_questions
from retrieval.models import SearchRequest
from retrieval.service import RetrievalService

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MAINTNET = SHARED / "maintnet-aviation" / "logbook.csv"
RECORD_FIELDS = ("record_id", "date", "asset", "failure_mode", "symptom", "action")


def _sidecar(path: Path, doc_id: str, title: str) -> None:
    meta = {
        "doc_id": doc_id,
        "title": title,
        "doc_type": "maintenance_log",
        "revision": "bench",
        "assets": [],
        "access_groups": ["general"],
    }
    path.with_name(path.name + ".meta.yaml").write_text(yaml.safe_dump(meta))


def maintnet_records(folder: Path) -> int:
    """MaintNet's logbook as one of our record logs (IDENT, PROBLEM, ACTION -> our columns)."""
    target = folder / "maintnet-logbook.csv"
    with MAINTNET.open(encoding="utf-8-sig", newline="") as src, target.open("w") as dst:
        writer = csv.writer(dst)
        writer.writerow(("record_id", "symptom", "action"))
        count = 0
        for row in csv.DictReader(src):
            writer.writerow((f"AV-{row['IDENT']}", row["PROBLEM"], row["ACTION"]))
            count += 1
    _sidecar(target, "maintnet-logbook", "MaintNet aviation maintenance logbook")
    return count


_ASSETS = ("press-3", "feeder-2", "conveyor-2", "vision-2", "press-1", "feeder-1")
_SYMPTOMS = (
    "vibration rising on crown bearing housing",
    "strip jam at entry rolls, F-01 on HMI",
    "lube pressure low E-204 after restart",
    "belt tracking off to operator side",
    "LED bar flicker, false rejects on vision",
    "clutch air pressure low E-415",
    "bearing temp trending up 5 degC over shift",
    "servo overcurrent F-02 during accel",
    "scratches on parts after die change",
    "noise on down stroke, squeal",
)
_ACTIONS = (
    "checked and adjusted, ran OK",
    "replaced sensor, verified reading",
    "cleaned and relubed per PM",
    "tightened mounting bolts to spec",
    "replaced worn part, test run 50 strokes",
    "recalibrated with target, within tolerance",
)


def synthetic_records(folder: Path, count: int, seed: int = 7) -> None:
    """Plausible maintenance records, in files of 10,000, to reach a passage count."""
    for start in range(0, count, 10_000):
        rng = random.Random(seed + start)  # per file, so growing the corpus keeps earlier files
        path = folder / f"synthetic-{start // 10_000:03d}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(RECORD_FIELDS)
            for i in range(start, min(count, start + 10_000)):
                day = f"20{rng.randint(20, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                writer.writerow(
                    (
                        f"SY-{i:06d}",
                        day,
                        rng.choice(_ASSETS),
                        rng.choice(("VIB", "NOI", "OHE", "BRD", "SER", "AIR")),
                        f"{rng.choice(_SYMPTOMS)} (unit {rng.randint(1, 999)})",
                        rng.choice(_ACTIONS),
                    )
                )
        _sidecar(path, f"synthetic-{start // 10_000:03d}", "Synthetic maintenance log")


def _queries(questions: list[Question]) -> Iterator[Question]:
    while True:
        yield from questions


def query_latency(
    service: RetrievalService, plant: PlantModel, questions: list[Question], n: int
) -> list[float]:
    samples = []
    for _, q in zip(range(n), _queries(questions), strict=False):
        groups = plant.role(q.role).document_groups  # type: ignore[union-attr]
        started = time.perf_counter()
        service.searcher.search(SearchRequest(query=q.question, top_k=5), groups)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _ingest(service: RetrievalService, paths: list[Path], console: Console, label: str) -> float:
    """Ingest with a progress bar; returns passages per second."""
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=None)
        started = time.perf_counter()
        report = service.ingestor.sync(
            paths,
            progress=lambda n: progress.advance(task, n),
            on_plan=lambda total: progress.update(task, total=total),
        )
        elapsed = time.perf_counter() - started
    if not report.ok:
        raise RuntimeError(f"ingest failed: {report.errors}")
    return report.passages / elapsed if elapsed else 0.0


def _disk_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def run(quick: bool, console: Console) -> dict[str, float | int | str]:
    questions = load_questions()
    plant = load_plant()
    results: dict[str, float | int | str] = {}
    with tempfile.TemporaryDirectory(prefix="andon-bench-") as tmp:
        root = Path(tmp)
        service = RetrievalService.open(
            url="", api_key="", path=root / "qdrant", collection="bench", threads=2
        )
        try:
            results["corpora_ingest_passages_per_s"] = _ingest(
                service, [DEMO_CORPORA], console, "corpora"
            )
            results["corpora_passages"] = service.store.count_passages()
            quality = evaluate(service.searcher, plant, questions)
            results |= {
                "recall_at_5": quality.recall_at_5,
                "section_recall_at_5": quality.section_recall_at_5,
                "mrr_at_10": quality.mrr_at_10,
                "abstain_accuracy": quality.abstain_accuracy,
                "false_abstain_rate": quality.false_abstain_rate,
                "questions": len(questions),
            }
            for miss in quality.misses():
                console.print(f"[yellow]miss[/yellow] {miss.id} {miss.question!r}: {miss.top[:3]}")
            if not MAINTNET.is_file():
                console.print(f"[yellow]{MAINTNET} not found: scale figures skipped[/yellow]")
                return results
            logs = root / "logs"
            logs.mkdir()
            maintnet_records(logs)
            results["ingest_passages_per_s"] = _ingest(service, [logs], console, "maintnet")
            console.print(f"ingest: {results['ingest_passages_per_s']:.0f} passages/s")
            real = service.store.count_passages()
            for size in (10_000,) if quick else (10_000, 100_000):
                if size > real:
                    synthetic_records(logs, size - real)
                    _ingest(service, [logs], console, f"synthetic to {size}")
                latencies = query_latency(service, plant, questions, 100 if quick else 500)
                label = f"{size // 1000}k"
                results[f"hybrid_p50_ms_{label}"] = percentile(latencies, 0.5)
                results[f"hybrid_p99_ms_{label}"] = percentile(latencies, 0.99)
                results[f"disk_mb_{label}"] = _disk_mb(root / "qdrant")
                console.print(  # a long run shows each scale's figures as it gets them
                    f"{label}: hybrid p50 {results[f'hybrid_p50_ms_{label}']:.1f} ms, "
                    f"p99 {results[f'hybrid_p99_ms_{label}']:.1f} ms"
                )
        finally:
            service.close()
    return results
