"""The demo corpora and the evaluation questions stay consistent with each other and with the
parser; restricted facts never reach a role outside the document's groups."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from andon.settings import DEMO_CORPORA
from control.plant.loader import load_plant
from retrieval.citations import cites
from retrieval.embedding import MiniLMEmbedder
from retrieval.evaluation import evaluate, load_questions
from retrieval.models import SearchRequest
from retrieval.parsing import ParsedDocument, discover, parse_document
from retrieval.service import RetrievalService
from retrieval.store import open_store

PLANT = load_plant()
RECALL_FLOOR = 0.6
MRR_FLOOR = 0.5


@pytest.fixture(scope="module")
def documents() -> list[ParsedDocument]:
    return [parse_document(path, DEMO_CORPORA) for path in discover([DEMO_CORPORA])]


def test_every_document_parses_with_unique_ids(documents: list[ParsedDocument]) -> None:
    doc_ids = [d.meta.doc_id for d in documents]
    assert len(doc_ids) == len(set(doc_ids)) >= 25
    citations = [p.citation_id for d in documents for p in d.passages]
    assert len(citations) == len(set(citations))
    kinds = {d.source.rsplit(".", 1)[1] for d in documents}
    assert kinds == {"md", "pdf", "html", "csv", "jsonl"}


def test_documents_name_only_assets_of_the_plant(documents: list[ParsedDocument]) -> None:
    assets = {a.id for a in PLANT.assets}
    for document in documents:
        assert set(document.meta.assets) <= assets, document.meta.doc_id
        for passage in document.passages:
            assert set(passage.assets) <= assets, passage.citation_id


def test_every_access_group_is_readable_by_some_role(documents: list[ParsedDocument]) -> None:
    readable = set().union(*(r.document_groups for r in PLANT.roles))
    for document in documents:
        assert set(document.meta.access_groups) <= readable, document.meta.doc_id


def test_every_question_points_at_passages_that_exist(documents: list[ParsedDocument]) -> None:
    questions = load_questions()
    assert len(questions) >= 80
    assert sum(1 for q in questions if not q.relevant) >= 10
    citations = [p.citation_id for d in documents for p in d.passages]
    groups = {d.meta.doc_id: set(d.meta.access_groups) for d in documents}
    for q in questions:
        role = PLANT.role(q.role)
        assert role is not None, q.id
        for prefix in q.relevant:
            assert any(cites(c, prefix) for c in citations), f"{q.id}: {prefix} cites nothing"
            doc_id = prefix.split("#", 1)[0]
            assert groups[doc_id] & role.document_groups, f"{q.id}: {q.role} cannot read {doc_id}"


def test_generated_logs_are_up_to_date() -> None:
    generator = DEMO_CORPORA / "tools" / "generate_logs.py"
    done = subprocess.run([sys.executable, str(generator), "--check"], capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr


# -- the real corpora indexed (slow: embeds every passage once) --------------------------------


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RetrievalService]:
    embedder = MiniLMEmbedder(threads=2)
    path: Path = tmp_path_factory.mktemp("corpora-index")
    service = RetrievalService(open_store("", "", path, "c", embedder.dimension), embedder)
    report = service.ingestor.sync([DEMO_CORPORA])
    assert report.ok, report.errors
    yield service
    service.close()


# Facts that appear only in restricted documents, and the group that may read them.
RESTRICTED_FACTS = [
    ("BVS-SA-2025-0413", "management"),  # service contract number
    ("GBP 96.50", "management"),
    ("LC-9921", "engineering"),  # tonnage monitor load cell
    ("0.8472", "engineering"),
    ("2,150 N·m", "maintenance"),  # bearing replacement torque
]


@pytest.mark.slow
@pytest.mark.parametrize(("fact", "group"), RESTRICTED_FACTS)
def test_restricted_facts_never_reach_a_role_outside_the_group(
    indexed: RetrievalService, documents: list[ParsedDocument], fact: str, group: str
) -> None:
    holders = {d.meta.doc_id for d in documents for p in d.passages if fact in p.text}
    assert holders and all(
        group in d.meta.access_groups for d in documents if d.meta.doc_id in holders
    ), f"{fact!r} is not confined to {group} documents"
    for role in PLANT.roles:
        if not role.document_groups:  # e.g. automation: search refuses it outright
            with pytest.raises(ValueError, match="no access groups"):
                indexed.searcher.search(SearchRequest(query=fact), role.document_groups)
            continue
        hits = indexed.searcher.search(
            SearchRequest(query=f"{fact}", top_k=20), role.document_groups
        ).hits
        leaked = [h.citation_id for h in hits if fact in h.text]
        if group in role.document_groups:
            assert leaked, f"{role.id} may read {fact!r} but search does not find it"
        else:
            assert not leaked, f"{role.id} received {fact!r} from {leaked}"


@pytest.mark.slow
def test_retrieval_quality_does_not_regress(indexed: RetrievalService) -> None:
    result = evaluate(indexed.searcher, PLANT, load_questions())
    # Floors a little under the figures in bench/RESULTS.md; the bench reports the real ones.
    assert result.recall_at_5 >= RECALL_FLOOR, [m.id for m in result.misses()]
    assert result.mrr_at_10 >= MRR_FLOOR
