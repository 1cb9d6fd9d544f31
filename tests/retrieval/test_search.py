"""Search quality rules: asset awareness, question intent, reranking and abstention.

Unit tests read the demo plant model; the behavioural tests run the real embedder against a small
corpus in the embedded store, built so that each rule decides the outcome: two feeder manuals
that differ only in their asset and figures, records that differ only in date, routine records
that repeat word for word, codes that exist only in a restricted document or nowhere.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.schema import MetadataMode

from control.plant.loader import load_plant
from retrieval.assets import AssetAliases
from retrieval.embedding import MiniLMEmbedder
from retrieval.ingest import passage_node
from retrieval.models import DocType, Passage, SearchRequest, SearchResult
from retrieval.query import identifiers, read_intent
from retrieval.service import RetrievalService
from retrieval.store import PassageStore, open_client, open_store
from retrieval.terms import TermStats

GENERAL = frozenset({"general"})
MANAGEMENT = frozenset({"general", "management"})
ALIASES = AssetAliases(load_plant())


# -- assets and intent (demo plant) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "assets"),
    [
        ("how many strokes can P-400 run with the vibration alarm on", {"press-3"}),
        ("E-204 on the press 3 screen", {"press-3"}),
        ("what exactly does press-3.vibration_rms_mm_s measure", {"press-3"}),
        ("first warning on the 400 ton press", {"press-3"}),
        ("P400-BRG-23160", {"press-3"}),
        ("timing belt size for the line 2 coil feeder", {"feeder-2"}),
        ("jam sensor on the line 1 feeder", {"feeder-1"}),
        ("idler roller for the transfer conveyor", {"conveyor-2"}),
        ("V-41 on the vision station", {"vision-2"}),
        ("how much snap-through can the blanking press take", {"press-1"}),
        ("belt speed of TC-2 when press 3 runs 24 strokes", {"conveyor-2", "press-3"}),
        # "feeder" and "press" fit two assets each: without a line they name none.
        ("how often are feeder rolls greased", set()),
        ("the press is squealing", set()),
    ],
)
def test_asset_mentions_resolve_to_plant_ids(text: str, assets: set[str]) -> None:
    assert ALIASES.mentioned_assets(text) == assets


def test_numbered_references_the_plant_lacks_are_reported() -> None:
    assert ALIASES.unknown_references("teach the gripper on the line 3 robot cell") == ["line 3"]
    assert ALIASES.unknown_references("press 7 and feeder 2") == ["press 7"]
    # Quantities are not references; known lines and assets are not unknown.
    assert ALIASES.unknown_references("press 30 mm above bottom on line 2, feeder 1") == []


def test_mention_terms_cover_every_written_form_of_the_mention() -> None:
    terms = ALIASES.mention_terms("what insulation class is the press-3 main motor")
    assert {"press-3", "press", "3"} <= terms
    assert not {"insul", "motor", "main"} & terms


@pytest.mark.parametrize(
    ("question", "history", "period"),
    [
        (
            "What caused the press-3 overload trip on 9 July 2026?",
            True,
            (dt.date(2026, 7, 9), dt.date(2026, 7, 9)),
        ),
        (
            "What happened to the conveyor-2 gearmotor in summer 2026?",
            True,
            (dt.date(2026, 6, 1), dt.date(2026, 8, 31)),
        ),
        ("When was the main bearing on press 3 last replaced?", True, None),
        (
            "What is the OEE target for line 2 in 2027?",
            True,
            (dt.date(2027, 1, 1), dt.date(2027, 12, 31)),
        ),
        ("how often is the oil changed in press 3", False, None),
        # A quantity is not a year.
        ("feeder-2 shows 2000 m of strip left", False, None),
    ],
)
def test_history_questions_and_periods(
    question: str, history: bool, period: tuple[dt.date, dt.date] | None
) -> None:
    intent = read_intent(question, ALIASES)
    assert (intent.history, intent.period) == (history, period)


def test_identifiers_are_codes_not_words_or_numbers() -> None:
    assert identifiers("what does E-999 mean at 0.95 and 3.0 mm on the Wi-Fi") == ("e-999",)
    assert set(identifiers("When did we last fit a new FD600-PRX-18?")) == {
        "fd600-prx-18",
        "fd600",
    }


def test_term_statistics_count_only_what_the_reader_may_read() -> None:
    def payload(text: str, groups: list[str]) -> dict[str, Any]:
        node = f'{{"text": "{text}"}}'
        return {"title": "T", "section": "S", "_node_content": node, "access_groups": groups}

    stats = TermStats(
        [
            payload("rate BV-SC-2025-044 per hour", ["management"]),
            payload("hourly inspection", ["general"]),
            payload("hourly rate", ["general", "management"]),
        ]
    )
    outsider, insider = stats.reader(GENERAL), stats.reader(MANAGEMENT)
    assert (outsider.passages, insider.passages) == (2, 3)
    assert outsider.frequency("bv-sc-2025-044") == 0 < insider.frequency("bv-sc-2025-044")
    assert outsider.frequency("rate") == 1 and insider.frequency("rate") == 2
    # Rarer terms weigh more.
    assert insider.idf("bv-sc-2025-044") > insider.idf("rate")


def passage(assets: tuple[str, ...]) -> Passage:
    return Passage(
        citation_id="m#1-general:0",
        doc_id="m",
        title="Manual",
        doc_type=DocType.manual,
        revision="A",
        section_path=("1 General",),
        text="Stop the press before opening the guard.",
        assets=assets,
        access_groups=("general",),
        source="m.md",
    )


def test_passages_of_one_asset_embed_its_ids_and_plant_name() -> None:
    embedded = passage_node(passage(("press-3",)), "0" * 64).get_content(MetadataMode.EMBED)
    assert "equipment: press-3, 400 t straight-side mechanical press P-400 (line 2)" in embedded
    assert embedded.endswith("Stop the press before opening the guard.")
    # A passage about most of the plant gets no equipment line: it would tell nothing apart.
    many = passage_node(passage(("press-3", "feeder-2", "press-1")), "0" * 64)
    assert "equipment" not in many.get_content(MetadataMode.EMBED)


# -- behaviour against a real index ----------------------------------------------------------


def write_doc(folder: Path, name: str, meta: str, body: str) -> None:
    (folder / name).write_text(
        f"---\n{textwrap.dedent(meta).strip()}\n---\n{textwrap.dedent(body)}"
    )


def feeder_manual(feeder: str, model: str, low: str, high: str) -> tuple[str, str]:
    meta = f"""
        doc_id: {feeder}-manual
        title: Servo coil feeder {model} manual
        doc_type: manual
        revision: A
        assets: [{feeder}]
    """
    body = f"""
        # Servo coil feeder manual

        ## 6 Roll settings

        Set the feed roll pressure to {low} bar for 2 mm strip and to {high} bar for 3 mm
        strip. Check the pressure after every coil change.
    """
    return meta, body


PRESS_META = """
    doc_id: press-3-manual
    title: P-400 straight-side press manual
    doc_type: manual
    revision: D
    assets: [press-3]
"""
PRESS = """
    # P-400 manual

    ## 4 Fault codes

    E-204 means the lube gallery pressure is low: check the filter and the pump. E-310 means
    the crown vibration is above the alarm limit.

    ## 5 Main bearing

    The main bearing is a spherical roller bearing 23160 with a C3 clearance, fitted on a
    tapered sleeve.
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
ROUTINE = "weekly PM TC-2,belt tension and tracking checked and idlers spun free,"
LOG = f"""record_id,date,asset,failure_mode,symptom,action,parts
ML-25-0100,2025-05-05,conveyor-2,OTH,{ROUTINE}
ML-25-0107,2025-05-12,conveyor-2,OTH,{ROUTINE}
ML-25-0114,2025-05-19,conveyor-2,OTH,{ROUTINE}
ML-25-0120,2025-05-21,conveyor-2,NOI,squeal under the return belt,replaced two seized idlers,
ML-26-0061,2026-03-10,press-3,OHE,main bearing temperature trip at 86 C,cleaned lube filter,
ML-26-0042,2026-03-14,press-3,VIB,squeal on down stroke,replaced main bearing,P400-BRG-23160
ML-26-0190,2026-07-12,press-3,OHE,main bearing temperature trip at 87 C,replaced lube pump,
"""
COPIES = {f"maint-log#ML-25-{n}:0" for n in ("0100", "0107", "0114")}


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder(threads=2)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    write_doc(folder, "feeder-1.md", *feeder_manual("feeder-1", "FD-400", "3.5", "4.5"))
    write_doc(folder, "feeder-2.md", *feeder_manual("feeder-2", "FD-600", "4.0", "5.0"))
    write_doc(folder, "press.md", PRESS_META, PRESS)
    write_doc(folder, "contract.md", CONTRACT_META, CONTRACT)
    (folder / "log.csv").write_text(LOG)
    (folder / "log.csv.meta.yaml").write_text(
        "doc_id: maint-log\ntitle: Maintenance log\ndoc_type: maintenance_log\nrevision: '1'\n"
    )
    return folder


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedder, corpus: Path
) -> Iterator[RetrievalService]:
    path = tmp_path_factory.mktemp("index")
    svc = RetrievalService(open_store("", "", path, "test", embedder.dimension), embedder)
    report = svc.ingestor.sync([corpus])
    assert report.ok, report.errors
    yield svc
    svc.close()


def search(service: RetrievalService, query: str, groups: frozenset[str] = GENERAL) -> SearchResult:
    return service.searcher.search(SearchRequest(query=query, top_k=5), groups)


@pytest.mark.parametrize(
    ("query", "manual"),
    [
        ("what roll pressure for 3 mm strip on feeder 2", "feeder-2-manual"),
        ("what roll pressure for 3 mm strip on the line 2 coil feeder", "feeder-2-manual"),
        ("what roll pressure for 3 mm strip on feeder 1", "feeder-1-manual"),
        ("what roll pressure for 3 mm strip on the FD-400", "feeder-1-manual"),
    ],
)
def test_the_named_assets_manual_ranks_above_the_same_section_of_another(
    service: RetrievalService, query: str, manual: str
) -> None:
    result = search(service, query)
    assert result.hits[0].doc_id == manual
    assert not result.abstain


def test_a_code_no_document_holds_abstains_and_is_named(service: RetrievalService) -> None:
    known = search(service, "what does fault code E-204 mean on press 3")
    assert not known.abstain and known.unknown == []
    assert known.hits[0].citation_id == "press-3-manual#4-fault-codes:0"
    unknown = search(service, "what does fault code E-999 mean on press 3")
    assert unknown.abstain and unknown.unknown == ["e-999"]
    assert unknown.hits, "the nearest passages are still returned"


def test_a_code_only_in_restricted_documents_is_unknown_to_outsiders(
    service: RetrievalService,
) -> None:
    outsider = search(service, "which rate applies under contract BV-SC-2025-044")
    assert outsider.abstain and outsider.unknown == ["bv-sc-2025-044"]
    insider = search(service, "which rate applies under contract BV-SC-2025-044", MANAGEMENT)
    assert not insider.abstain and insider.unknown == []
    assert insider.hits[0].doc_id == "service-contract"


def test_a_line_the_plant_lacks_abstains(service: RetrievalService) -> None:
    result = search(service, "what roll pressure does the feeder on line 3 use")
    assert result.abstain and result.unknown == ["line 3"]


def test_an_off_topic_question_abstains_on_low_evidence(service: RetrievalService) -> None:
    result = search(service, "how many days of annual leave does a technician get")
    assert result.abstain and result.unknown == []
    assert result.evidence < result.threshold


def test_history_questions_prefer_records_and_spec_questions_manuals(
    service: RetrievalService,
) -> None:
    history = search(service, "when was the main bearing on press 3 last replaced")
    assert history.hits[0].citation_id == "maint-log#ML-26-0042:0"
    spec = search(service, "what type of main bearing does press 3 have")
    assert spec.hits[0].citation_id == "press-3-manual#5-main-bearing:0"


def test_records_of_the_named_period_rank_first(service: RetrievalService) -> None:
    # Two trips of one year, alike but for the month: only the period tells them apart.
    for when, record in (("July 2026", "ML-26-0190"), ("March 2026", "ML-26-0061")):
        result = search(service, f"why did press 3 trip on bearing temperature in {when}")
        assert result.hits[0].citation_id == f"maint-log#{record}:0"


def test_copies_of_a_routine_record_do_not_crowd_out_other_hits(
    service: RetrievalService,
) -> None:
    hits = search(service, "weekly PM TC-2 belt tension and tracking").hits
    assert hits[0].citation_id in COPIES
    # Scoring alike, the copies would otherwise take the first three places.
    assert hits[1].citation_id not in COPIES


@pytest.mark.parametrize("backend", ["edge", "client"])
def test_every_backend_lists_passage_payloads_for_term_statistics(
    backend: str, tmp_path: Path, embedder: MiniLMEmbedder, corpus: Path
) -> None:
    store = (
        open_store("", "", tmp_path, "t", embedder.dimension)
        if backend == "edge"
        else PassageStore(open_client("", "", tmp_path), "t", embedder.dimension)
    )
    svc = RetrievalService(store, embedder)
    try:
        svc.ingestor.sync([corpus])
        payloads = list(store.passage_payloads())
        assert len({p["citation_id"] for p in payloads}) == len(payloads)
        assert len(payloads) == store.count_passages()
        stats = svc.searcher.term_stats()
        assert stats.reader(MANAGEMENT).passages == len(payloads)
        assert stats.reader(GENERAL).frequency("bv-sc-2025-044") == 0
    finally:
        svc.close()
