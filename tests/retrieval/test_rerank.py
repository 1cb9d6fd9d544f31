"""Reranking signals: codes a table row defines, the form of the question, section support, and
the evidence behind abstention.

The unit tests rank hand-made candidates with the real reranker and term statistics: every
candidate gets the same cosine similarity, so only the rule under test can order them, and each
test also switches its rule off to show that the rule is what decides. The behavioural tests run
the real embedder and the embedded store on a small corpus.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from control.plant.loader import load_plant
from retrieval import rerank, sparse
from retrieval.assets import AssetAliases
from retrieval.embedding import MiniLMEmbedder
from retrieval.models import SearchRequest, SearchResult
from retrieval.query import heading_cues, identifiers, rare_terms, read_intent
from retrieval.rerank import Candidate, Reranker
from retrieval.service import RetrievalService
from retrieval.store import open_store
from retrieval.terms import TermStats, passage_terms, row_heads

ALIASES = AssetAliases(load_plant())
GENERAL = frozenset({"general"})


# -- what the question and the passages say ----------------------------------------------------


def test_row_heads_are_the_first_term_of_each_table_row() -> None:
    text = textwrap.dedent(
        """\
        E-310 means the crown vibration is above the alarm limit.

        | Code | Message |
        | --- | --- |
        | E-204 | Lube pressure low |
        | V-41 reject not confirmed | Air below 4.5 bar |
        | feeder-2.coil_remaining_m | Metres of strip left |
        """
    )
    # Prose that starts with a code is a mention, not a definition.
    assert row_heads(text) == {"code", "e-204", "v-41", "feeder-2.coil_remaining_m"}


def test_tag_names_count_as_identifiers() -> None:
    assert identifiers("At what value does the coil_low alarm come on?") == ("coil_low",)


@pytest.mark.parametrize(
    ("question", "heading"),
    [
        ("how often is the oil changed in press 3", "Inspection and lubrication intervals"),
        ("how many hours before the VI-2 light needs replacing", "Inspection schedule"),
        ("jam sensor part number on the line 1 feeder", "Spare parts"),
        ("what does W-310 mean", "Fault codes"),
        ("vision calibration check fails on focus", "Troubleshooting"),
        ("min and max feed length on the FD-600", "Setpoint and alarm limits"),
        ("what oil goes in the press 3 gearbox", "Lubricants and quantities"),
        ("what do I lock out on the transfer conveyor", "Application of lockout"),
    ],
)
def test_the_form_of_a_question_names_the_heading_that_answers_it(
    question: str, heading: str
) -> None:
    cues = heading_cues(question)
    assert any(words & set(sparse.terms(heading)) for words in cues)


def test_a_plain_question_has_no_heading_cue() -> None:
    assert heading_cues("what roll pressure for 3 mm strip on feeder 2") == ()


def test_rare_words_are_those_everyday_english_lacks() -> None:
    assert {"inertia", "oee"} <= rare_terms("OEE and moment of inertia")
    # Chatty or inflected everyday words are not rare: their absence from the documents says
    # nothing about whether the documents answer.
    assert rare_terms("hey, could you please tell me when we swapped the really big press") == set()


# -- ranking hand-made candidates --------------------------------------------------------------


def payload(citation: str, section: str, text: str) -> dict[str, Any]:
    return {
        "citation_id": citation,
        "title": "P-400 press manual",
        "section": section,
        "assets": ["press-3"],
        "doc_type": "manual",
        "access_groups": ["general"],
        "_node_content": json.dumps({"text": text}),
    }


def candidates(payloads: list[dict[str, Any]]) -> list[Candidate]:
    """Candidates alike in similarity, with orthogonal vectors so none is a near copy."""
    vectors = np.eye(len(payloads), dtype=np.float32)
    return [
        Candidate(
            payload=p,
            terms=passage_terms(p, json.loads(p["_node_content"])["text"]),
            vector=vectors[i],
            similarity=0.5,
            fused=0.0,
        )
        for i, p in enumerate(payloads)
    ]


def first(question: str, payloads: list[dict[str, Any]]) -> str:
    stats = TermStats(payloads).reader(GENERAL)
    ranked = Reranker(ALIASES).rank(
        candidates(payloads), read_intent(question, ALIASES), sparse.terms(question), stats
    )
    return str(ranked[0].candidate.payload["citation_id"])


def test_the_row_that_defines_a_code_beats_a_passing_mention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passages = [
        payload(
            "m#9-revision-history:0",
            "9 Revision history",
            "| Revision | Change |\n| --- | --- |\n| C | Fault codes W-310 and W-312 added |",
        ),
        payload(
            "m#6-fault-codes:0",
            "6 Troubleshooting > 6.1 Codes",
            "| Code | Message |\n| --- | --- |\n| W-310 | Vibration warning, 4.5 mm/s |",
        ),
    ]
    assert first("what does W-310 mean", passages) == "m#6-fault-codes:0"
    monkeypatch.setattr(rerank, "DEFINES", 0.0)
    monkeypatch.setattr(rerank, "CUE", 0.0)  # "mean" also asks for a fault-code heading
    assert first("what does W-310 mean", passages) == "m#9-revision-history:0"


def test_a_heading_that_fits_the_form_of_the_question_ranks_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passages = [
        payload(
            "m#7.3-oil-analysis:0",
            "7 Lubrication > 7.3 Oil analysis",
            "Change the oil when iron is above 100 ppm.",
        ),
        payload(
            "m#7.2-intervals:0",
            "7 Lubrication > 7.2 Inspection intervals",
            "Gear oil: change every 4,000 h.",
        ),
    ]
    question = "how often is the oil changed"
    assert first(question, passages) == "m#7.2-intervals:0"
    monkeypatch.setattr(rerank, "CUE", 0.0)
    assert first(question, passages) == "m#7.3-oil-analysis:0"


def test_a_section_found_several_times_beats_a_stray_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stray = payload("m#2-data:0", "2 Data", "Belt drive, timing belt HTD 8M.")
    section = [
        payload(f"m#8-drive:{n}", "8 Drive", f"Timing belt HTD 8M, step {n}.") for n in range(3)
    ]
    # The stray chunk comes first among equals: only support can move the section above it.
    passages = [stray, *section]
    assert first("timing belt", passages) == "m#8-drive:0"
    monkeypatch.setattr(rerank, "SUPPORT", 0.0)
    assert first("timing belt", passages) == "m#2-data:0"


# -- behaviour against a real index ------------------------------------------------------------

MANUAL = """\
    ---
    doc_id: press-3-manual
    title: P-400 straight-side press manual
    doc_type: manual
    revision: D
    assets: [press-3]
    ---
    # P-400 manual

    ## 2 Press data

    | Item | Value |
    | --- | --- |
    | Main motor | 75 kW, 1,480 rpm |
    | Flywheel | 2,400 kg, run-down time 3 min 30 s |
    | Main bearings | Spherical roller bearing 23160, part P400-BRG-23160 |

    ## 6 Fault codes

    | Code | Message | First action |
    | --- | --- | --- |
    | W-310 | Vibration warning, 4.5 mm/s | Reduce speed, plan an inspection |
    | E-204 | Lube pressure low | Check the filter and the pump |

    ## 9 Revision history

    | Revision | Change |
    | --- | --- |
    | C | Control system tags and interlocks added, fault codes W-310 and W-312 |
    | D | Bearing replacement history and oil analysis limits |
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RetrievalService]:
    folder: Path = tmp_path_factory.mktemp("docs")
    (folder / "press.md").write_text(textwrap.dedent(MANUAL))
    embedder = MiniLMEmbedder(threads=2)
    path = tmp_path_factory.mktemp("index")
    svc = RetrievalService(open_store("", "", path, "test", embedder.dimension), embedder)
    report = svc.ingestor.sync([folder])
    assert report.ok, report.errors
    yield svc
    svc.close()


def search(service: RetrievalService, query: str) -> SearchResult:
    return service.searcher.search(SearchRequest(query=query, top_k=5), GENERAL)


def test_a_code_is_answered_by_the_table_that_defines_it(service: RetrievalService) -> None:
    result = search(service, "what does W-310 mean")
    assert result.hits[0].citation_id == "press-3-manual#6-fault-codes:0"
    assert not result.abstain


def test_a_question_about_what_no_document_holds_abstains(service: RetrievalService) -> None:
    # The manual shares "press 3" and "control system" with the question, and its revision
    # history is close to it in meaning; only the rare word no document holds, "firmware",
    # tells that it does not answer (without it the evidence is above the threshold).
    result = search(service, "what firmware version runs on the press 3 controller")
    assert result.abstain and result.unknown == []
    assert result.evidence < result.threshold
    # Everyday words the documents lack ("long", "take") do not count against a question.
    answered = search(service, "how long does the press 3 flywheel take to stop")
    assert not answered.abstain
    assert answered.hits[0].citation_id == "press-3-manual#2-press-data:0"
