"""Retrieval quality against a question set with known answers (bench and regression tests)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from control.plant.models import PlantModel

from .citations import cites
from .models import SearchRequest
from .search import Searcher

# Repository folder of the question sets (JSON lines).
EVAL_DIR = Path(__file__).resolve().parents[1] / "bench" / "retrieval_eval"


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    question: str = Field(min_length=3)
    relevant: list[str]  # citation prefixes that answer it; empty: the corpora do not
    kind: str
    role: str = "operator"


class QuestionOutcome(BaseModel):
    id: str
    question: str
    relevant: list[str]
    ranks: list[int | None]  # 1-based rank of the first hit inside each relevant prefix
    abstained: bool
    top: list[str]  # citation ids returned, best first


class Evaluation(BaseModel):
    # Share of answerable questions with a passage of a relevant section in the top 5 (the
    # top-k retrieval accuracy of open-domain QA: one answering passage is enough).
    recall_at_5: float
    # Stricter: the share of each question's relevant sections in the top 5, averaged.
    section_recall_at_5: float
    mrr_at_10: float
    abstain_accuracy: float  # unanswerable questions whose best passage stayed under threshold
    false_abstain_rate: float  # answerable questions wrongly declared unanswerable
    answerable: int
    unanswerable: int
    outcomes: list[QuestionOutcome]

    def misses(self, k: int = 5) -> list[QuestionOutcome]:
        return [o for o in self.outcomes if o.relevant and not any(r and r <= k for r in o.ranks)]


def load_questions(folder: Path = EVAL_DIR) -> list[Question]:
    questions: list[Question] = []
    for path in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    questions.append(Question.model_validate(json.loads(line)))
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: {exc}") from None
    return questions


def _first_rank(top: Sequence[str], prefix: str) -> int | None:
    return next((i for i, cid in enumerate(top, 1) if cites(cid, prefix)), None)


def evaluate(searcher: Searcher, plant: PlantModel, questions: Iterable[Question]) -> Evaluation:
    outcomes: list[QuestionOutcome] = []
    for q in questions:
        role = plant.role(q.role)
        if role is None:
            raise ValueError(f"question {q.id}: no role {q.role!r} in the plant model")
        result = searcher.search(SearchRequest(query=q.question, top_k=10), role.document_groups)
        top = [hit.citation_id for hit in result.hits]
        outcomes.append(
            QuestionOutcome(
                id=q.id,
                question=q.question,
                relevant=q.relevant,
                ranks=[_first_rank(top, prefix) for prefix in q.relevant],
                abstained=result.abstain,
                top=top,
            )
        )
    answerable = [o for o in outcomes if o.relevant]
    unanswerable = [o for o in outcomes if not o.relevant]
    found = [1.0 if any(r and r <= 5 for r in o.ranks) else 0.0 for o in answerable]
    sections = [sum(1 for r in o.ranks if r and r <= 5) / len(o.ranks) for o in answerable]
    reciprocal = [1 / min((r for r in o.ranks if r), default=11) for o in answerable]
    return Evaluation(
        recall_at_5=_mean(found),
        section_recall_at_5=_mean(sections),
        mrr_at_10=_mean([rr if rr > 1 / 11 else 0.0 for rr in reciprocal]),
        abstain_accuracy=_mean([1.0 if o.abstained else 0.0 for o in unanswerable]),
        false_abstain_rate=_mean([1.0 if o.abstained else 0.0 for o in answerable]),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        outcomes=outcomes,
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
