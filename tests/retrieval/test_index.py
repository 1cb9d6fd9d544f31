"""Ingestion and hybrid search against a real Qdrant and the real embedder, on both backends.

The embedded engine (``edge``) and qdrant-client's local mode (``client``: the server path's
code, since no Qdrant server runs here) must behave alike. A small corpus written per test: what
matters here is incremental ingestion (no stale passage survives an edit or a deletion), access
control inside the query, filters and exact matches.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import qdrant_edge as edge

from retrieval.edge import EdgePassageStore
from retrieval.embedding import MiniLMEmbedder
from retrieval.ingest import INDEX_VERSION
from retrieval.models import SearchFilters, SearchRequest
from retrieval.service import RetrievalService
from retrieval.store import PassageStore, Store, StoreError, open_client, open_store, point_id

GENERAL = frozenset({"general"})
MANAGEMENT = frozenset({"general", "management"})


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder(threads=2)


def open_backend(backend: str, path: Path, dimension: int) -> Store:
    if backend == "edge":
        return open_store("", "", path, "test", dimension)
    return PassageStore(open_client("", "", path), "test", dimension)


@pytest.fixture(params=["edge", "client"])
def service(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: MiniLMEmbedder
) -> Iterator[RetrievalService]:
    svc = RetrievalService(
        open_backend(request.param, tmp_path / "qdrant", embedder.dimension), embedder
    )
    yield svc
    svc.close()


@pytest.fixture
def client_service(tmp_path: Path, embedder: MiniLMEmbedder) -> Iterator[RetrievalService]:
    svc = RetrievalService(
        open_backend("client", tmp_path / "qdrant", embedder.dimension), embedder
    )
    yield svc
    svc.close()


def forget_record(store: Store, doc_id: str) -> None:
    """Delete a document's record and nothing else, behind the store's back."""
    if isinstance(store, EdgePassageStore):
        store.document_shard.update(edge.UpdateOperation.delete_points([point_id(doc_id)]))
    else:
        assert isinstance(store, PassageStore)
        store.client.delete(store.documents, [point_id(doc_id)])


def write_doc(folder: Path, name: str, meta: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"---\n{textwrap.dedent(meta).strip()}\n---\n{textwrap.dedent(body)}")
    return path


MANUAL_META = """
    doc_id: press-manual
    title: Press manual
    doc_type: manual
    revision: A
    assets: [press-3]
"""
MANUAL = """
    # Press manual

    ## 6 Troubleshooting

    ### 6.2 Vibration and noise

    Vibration above 7.1 mm/s on the crown bearing means the main bearing is worn.
    Replace bearing P400-BRG-23160 and record the baseline after run-in.

    ## 7 Lubrication

    Fill the recirculating system with ISO VG 220 gear oil, 38 litres.
"""
CONTRACT_META = """
    doc_id: service-contract
    title: Service contract
    doc_type: contract
    revision: "1"
    access_groups: [management]
"""
CONTRACT = """
    # Service contract

    ## 3 Rates

    The field service engineer rate is 187 EUR per hour under contract BV-SC-2025-044.
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    write_doc(folder, "manual.md", MANUAL_META, MANUAL)
    write_doc(folder, "contract.md", CONTRACT_META, CONTRACT)
    log = folder / "log.csv"
    log.write_text(
        "record_id,date,asset,failure_mode,symptom,action,parts\n"
        "ML-25-0001,2025-02-03,press-3,VIB,vibration 5.2 mm/s,checked bolts,\n"
        "ML-26-0042,2026-03-14,press-3,VIB,squeal on down stroke,replaced main bearing,"
        "P400-BRG-23160\n"
        "ML-26-0050,2026-04-01,feeder-2,BRD,strip jam F-01,cleared jam,\n"
    )
    (folder / "log.csv.meta.yaml").write_text(
        "doc_id: maint-log\ntitle: Maintenance log\ndoc_type: maintenance_log\nrevision: '1'\n"
    )
    return folder


def search(service: RetrievalService, query: str, groups=GENERAL, **filters):  # type: ignore[no-untyped-def]
    request = SearchRequest(query=query, top_k=10, filters=SearchFilters(**filters))
    return service.searcher.search(request, groups)


def test_first_ingest_indexes_everything_and_a_rerun_skips_it(
    service: RetrievalService, corpus: Path
) -> None:
    first = service.ingestor.sync([corpus])
    assert first.ok, first.errors
    assert sorted(first.added) == ["maint-log", "press-manual", "service-contract"]
    total = service.store.count_passages()
    assert first.passages == total > 0
    second = service.ingestor.sync([corpus])
    assert (second.added, second.updated, second.passages) == ([], [], 0)
    assert sorted(second.unchanged) == ["maint-log", "press-manual", "service-contract"]
    assert service.store.count_passages() == total


def test_an_edit_replaces_the_documents_passages_without_leaving_stale_ones(
    service: RetrievalService, corpus: Path
) -> None:
    service.ingestor.sync([corpus])
    write_doc(corpus, "manual.md", MANUAL_META, MANUAL.replace("38 litres", "41 litres"))
    report = service.ingestor.sync([corpus])
    assert report.updated == ["press-manual"] and sorted(report.unchanged) == [
        "maint-log",
        "service-contract",
    ]
    texts = [h.text for h in search(service, "how much gear oil does the press take").hits]
    assert any("41 litres" in t for t in texts)
    assert not any("38 litres" in t for t in texts)
    record = service.store.document("press-manual")
    assert record is not None
    assert service.store.count_passages("press-manual") == record.passages


def test_a_metadata_change_alone_reindexes_the_document(
    service: RetrievalService, corpus: Path
) -> None:
    service.ingestor.sync([corpus])
    (corpus / "log.csv.meta.yaml").write_text(
        "doc_id: maint-log\ntitle: Maintenance log\ndoc_type: maintenance_log\nrevision: '1'\n"
        "access_groups: [maintenance]\n"
    )
    assert service.ingestor.sync([corpus]).updated == ["maint-log"]
    assert not any(h.doc_id == "maint-log" for h in search(service, "strip jam F-01").hits)


def test_deleting_a_file_from_an_ingested_folder_removes_its_passages(
    service: RetrievalService, corpus: Path
) -> None:
    service.ingestor.sync([corpus])
    (corpus / "log.csv").unlink()
    (corpus / "log.csv.meta.yaml").unlink()
    report = service.ingestor.sync([corpus])
    assert report.removed == ["maint-log"]
    assert service.store.count_passages("maint-log") == 0
    assert service.store.document("maint-log") is None


def test_remove_by_id(service: RetrievalService, corpus: Path) -> None:
    service.ingestor.sync([corpus])
    assert service.ingestor.remove("service-contract") is True
    assert service.store.count_passages("service-contract") == 0
    assert service.ingestor.remove("service-contract") is False


def test_an_interrupted_ingest_is_redone(service: RetrievalService, corpus: Path) -> None:
    service.ingestor.sync([corpus])
    # What a crash between writing passages and the document record leaves behind.
    forget_record(service.store, "maint-log")
    report = service.ingestor.sync([corpus])
    assert report.added == ["maint-log"]
    record = service.store.document("maint-log")
    assert record is not None and service.store.count_passages("maint-log") == record.passages == 3


def test_bad_documents_are_reported_and_the_rest_is_indexed(
    service: RetrievalService, corpus: Path
) -> None:
    (corpus / "broken.md").write_text("---\ndoc_id: Bad Id\n---\n# x\n")
    report = service.ingestor.sync([corpus, corpus / "missing"])
    assert not report.ok
    assert any("broken.md" in e for e in report.errors)
    assert any("missing" in e for e in report.errors)
    assert sorted(report.added) == ["maint-log", "press-manual", "service-contract"]


@pytest.mark.parametrize(
    "query",
    [
        "The field service engineer rate is 187 EUR per hour under contract BV-SC-2025-044.",
        "BV-SC-2025-044",
        "service contract hourly rate",
    ],
)
def test_restricted_passages_never_reach_a_reader_outside_their_groups(
    service: RetrievalService, corpus: Path, query: str
) -> None:
    service.ingestor.sync([corpus])
    outsider = search(service, query)
    assert outsider.hits, "other passages are still found"
    assert all(h.doc_id != "service-contract" for h in outsider.hits)
    insider = search(service, query, MANAGEMENT)
    assert insider.hits[0].doc_id == "service-contract"
    citation = insider.hits[0].citation_id
    assert service.searcher.passage(citation, GENERAL) is None
    assert service.searcher.passage(citation, MANAGEMENT) is not None


def test_exact_part_number_finds_the_passages_that_name_it(
    service: RetrievalService, corpus: Path
) -> None:
    service.ingestor.sync([corpus])
    hits = search(service, "P400-BRG-23160").hits
    top_two = {h.citation_id for h in hits[:2]}
    assert top_two == {
        "press-manual#6-troubleshooting/6.2-vibration-and-noise:0",
        "maint-log#ML-26-0042:0",
    }


def test_filters_by_asset_type_and_date(service: RetrievalService, corpus: Path) -> None:
    service.ingestor.sync([corpus])
    feeder = search(service, "jam", assets=["feeder-2"]).hits
    assert [h.citation_id for h in feeder] == ["maint-log#ML-26-0050:0"]
    logs_2026 = search(
        service, "press vibration", doc_types=["maintenance_log"], date_from="2026-01-01"
    ).hits
    assert {h.citation_id for h in logs_2026} == {
        "maint-log#ML-26-0042:0",
        "maint-log#ML-26-0050:0",
    }
    manuals = search(service, "press vibration", doc_types=["manual"]).hits
    assert manuals and all(h.doc_id == "press-manual" for h in manuals)


def test_hits_carry_citations_exact_text_and_scores(
    service: RetrievalService, corpus: Path
) -> None:
    service.ingestor.sync([corpus])
    result = search(service, "what oil goes in the press lubrication system")
    best = result.hits[0]
    assert best.citation_id == "press-manual#7-lubrication:0"
    assert best.text.strip() == "Fill the recirculating system with ISO VG 220 gear oil, 38 litres."
    assert best.section_path == ("7 Lubrication",) and best.assets == ("press-3",)
    assert 0 < best.similarity <= 1 and best.score > 0
    assert not result.abstain


def test_a_question_the_documents_do_not_answer_abstains(
    service: RetrievalService, corpus: Path
) -> None:
    service.ingestor.sync([corpus])
    assert search(service, "who won the football world cup in 1998").abstain


def test_a_second_process_on_the_same_local_store_gets_a_clear_error(
    client_service: RetrievalService, tmp_path: Path
) -> None:
    # Local mode only; the embedded store's lock is tested across processes in test_edge_store.
    with pytest.raises(StoreError, match="in use by another Andon process"):
        open_client("", "", tmp_path / "qdrant")


def test_documents_indexed_by_another_index_version_are_rebuilt(
    service: RetrievalService, corpus: Path
) -> None:
    service.ingestor.sync([corpus])
    record = service.store.document("press-manual")
    assert record is not None and record.index_version == INDEX_VERSION
    service.store.put_document(record.model_copy(update={"index_version": "older"}))
    report = service.ingestor.sync([corpus])
    assert report.updated == ["press-manual"]
    assert service.store.document("press-manual").index_version == INDEX_VERSION  # type: ignore[union-attr]


def test_building_the_index_keeps_every_passage_and_answer(
    service: RetrievalService, corpus: Path
) -> None:
    service.ingestor.sync([corpus])
    before = [h.citation_id for h in search(service, "bearing vibration").hits]
    count = service.store.count_passages()
    service.store.build_index()
    assert service.store.count_passages() == count
    assert [h.citation_id for h in search(service, "bearing vibration").hits] == before
