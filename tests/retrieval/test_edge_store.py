"""The embedded store (Qdrant Edge): what the shared tests in test_index.py cannot show.

Parity with the client path on identical input, durability across close and SIGKILL, the one
process lock, and the filter conversion. Real engine throughout; vectors are random, so no
embedder is needed and a child process starts quickly.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core.schema import TextNode
from qdrant_client import models as qm

from retrieval import sparse
from retrieval.edge import EdgePassageStore, edge_filter
from retrieval.ingest import passage_node
from retrieval.models import DocType, Passage, SearchFilters
from retrieval.search import access_filter
from retrieval.store import DocumentRecord, PassageStore, StoreError, open_client, point_id

ROOT = Path(__file__).resolve().parents[2]
DIM = 16
KEYWORD_METADATA = ("title", "section")


def make_nodes(start: int, count: int, seed: int = 0) -> list[TextNode]:
    """Passages of documents d0..d3, groups and dates varying with the index, random vectors.

    "bearing" recurs 1 to 60 times, so the first 60 passages have distinct lengths and keyword
    scores that differ from one another for any query.
    """
    rng = np.random.default_rng(seed + start)
    nodes = []
    for i in range(start, start + count):
        words = "bearing " * (1 + i % 60) + "press feeder clutch"
        passage = Passage(
            citation_id=f"d{i % 4}#r-{i}:0",
            doc_id=f"d{i % 4}",
            title=f"Log {i % 4}",
            doc_type=DocType.maintenance_log if i % 2 else DocType.manual,
            revision="1",
            section_path=("records", f"r-{i}"),
            text=f"{words} part P400-BRG-{i:05d}",
            assets=("press-3",) if i % 3 else ("feeder-2",),
            access_groups=("general",) if i % 4 != 3 else ("management",),
            date=f"2025-01-{1 + i % 28:02d}",
            source=f"logs/d{i % 4}.csv",
        )
        node = passage_node(passage, content_sha256="0" * 64)
        # Keyword text of title, section and text only, whatever else ingestion embeds.
        node.excluded_embed_metadata_keys = [k for k in node.metadata if k not in KEYWORD_METADATA]
        node.embedding = rng.standard_normal(DIM).astype(np.float32).tolist()
        nodes.append(node)
    return nodes


def open_edge(path: Path) -> EdgePassageStore:
    return EdgePassageStore(path, "t", DIM)


def hybrid_ids(store: EdgePassageStore | PassageStore, query: str, where: qm.Filter) -> list:
    """Every allowed passage with its fused score, best first; equal scores in id order.

    Reciprocal rank fusion ties by design (dense rank 1 + keyword rank 5 scores as 5 + 1), and
    engines may order such ties differently.
    """
    dense = np.random.default_rng(99).standard_normal(DIM).tolist()
    points = store.hybrid(dense, sparse.encode_query(query), where, limit=60, candidates=60)
    return sorted(((round(p.score, 5), str(p.id)) for p in points), key=lambda s: (-s[0], s[1]))


def in_citation_order(payloads: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(payloads, key=lambda payload: payload["citation_id"])


def run_child(code: str, path: Path, **kwargs) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), str(path)],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def test_payloads_sparse_vectors_and_fused_ranking_match_the_client_path(tmp_path: Path) -> None:
    nodes = make_nodes(0, 60)
    edge_store = open_edge(tmp_path / "edge")
    client_store = PassageStore(open_client("", "", tmp_path / "client"), "t", DIM)
    try:
        edge_store.add_nodes(nodes)
        client_store.add_nodes(nodes)
        ids = [point_id(n.metadata["citation_id"]) for n in nodes]
        assert [n.node_id for n in nodes] == ids
        theirs = {
            str(p.id): p
            for p in client_store.client.retrieve(
                client_store.passages, ids, with_payload=True, with_vectors=True
            )
        }
        ours = {
            str(p.id): p
            for p in edge_store.passage_shard.retrieve(ids, with_payload=True, with_vector=True)
        }
        assert ours.keys() == theirs.keys() == set(ids)
        for point_key, mine in ours.items():
            assert mine.payload == theirs[point_key].payload
            their_sparse = theirs[point_key].vector["sparse"]  # type: ignore[index]
            assert mine.vector["sparse"].indices == their_sparse.indices  # type: ignore[index]
            assert mine.vector["sparse"].values == pytest.approx(their_sparse.values)  # type: ignore[index]
        every_payload = in_citation_order(edge_store.passage_payloads())
        assert len(every_payload) == 60
        assert every_payload == in_citation_order(client_store.passage_payloads())
        for query in ("bearing", "P400-BRG-00017", "clutch feeder"):
            for groups in (["general"], ["general", "management"]):
                where = access_filter(groups)
                mine_ranked = hybrid_ids(edge_store, query, where)
                assert mine_ranked == hybrid_ids(client_store, query, where)
                assert len(mine_ranked) == (45 if groups == ["general"] else 60)
    finally:
        edge_store.close()
        client_store.close()


def record(doc_id: str, passages: int) -> DocumentRecord:
    return DocumentRecord(
        doc_id=doc_id,
        title=f"Log {doc_id}",
        doc_type=DocType.maintenance_log,
        revision="1",
        assets=("press-3",),
        access_groups=("general",),
        source=f"logs/{doc_id}.csv",
        origin=f"/corpora/logs/{doc_id}.csv",
        content_sha256="0" * 64,
        passages=passages,
        ingested_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    )


def test_a_closed_store_reopens_with_its_passages_records_and_indexes(tmp_path: Path) -> None:
    store = open_edge(tmp_path)
    store.add_nodes(make_nodes(0, 42))
    store.put_document(record("d1", 11))
    store.put_document(record("d2", 11))
    store.delete_document("d2")
    before = hybrid_ids(store, "feeder jam", access_filter(["general"]))
    store.close()
    store.close()  # closing twice is harmless, as the client's close is

    store = open_edge(tmp_path)
    try:
        assert store.count_passages() == 32
        assert store.count_passages("d1") == 11 and store.count_passages("d2") == 0
        assert store.document("d1") == record("d1", 11)
        assert store.document("d2") is None
        assert store.all_documents() == [record("d1", 11)]
        assert hybrid_ids(store, "feeder jam", access_filter(["general"])) == before
        assert set(store.passage_shard.info().payload_schema) == {
            "doc_id",
            "citation_id",
            "access_groups",
            "assets",
            "doc_type",
            "date_days",
        }
        hit = store.hybrid([1.0] * DIM, ([], []), access_filter(["general"]), 1, 5)[0]
        assert isinstance(hit.id, str) and len(hit.vector["dense"]) == DIM  # type: ignore[index]
    finally:
        store.close()


def test_the_dense_size_of_an_existing_store_is_checked(tmp_path: Path) -> None:
    open_edge(tmp_path).close()
    with pytest.raises(StoreError, match="holds 16-dimensional vectors, the embedder makes 8"):
        EdgePassageStore(tmp_path, "t", 8)
    open_edge(tmp_path).close()  # the failed open released the lock and the shards


def test_the_access_filter_is_applied_inside_each_prefetch(tmp_path: Path) -> None:
    store = open_edge(tmp_path)
    try:
        nodes = make_nodes(0, 40)
        target = np.ones(DIM, dtype=np.float32)
        for node in nodes:  # restricted passages nearest to the query, on both sides
            restricted = "management" in node.metadata["access_groups"]
            node.embedding = (target if restricted else -target).tolist()
        store.add_nodes(nodes)
        where = access_filter(["general"])
        points = store.hybrid(target.tolist(), sparse.encode_query("P400"), where, 3, candidates=3)
        assert len(points) == 3
        assert all(p.payload["access_groups"] == ["general"] for p in points)  # type: ignore[index]
    finally:
        store.close()


@pytest.mark.parametrize(
    "filters",
    [
        SearchFilters(),
        SearchFilters(assets=("feeder-2",)),
        SearchFilters(doc_types=(DocType.maintenance_log,), date_from="2025-01-10"),
        SearchFilters(assets=("press-3",), date_from="2025-01-05", date_to="2025-01-20"),
    ],
)
def test_converted_filters_select_what_the_request_asks_for(
    tmp_path: Path, filters: SearchFilters
) -> None:
    store = open_edge(tmp_path)
    try:
        nodes = make_nodes(0, 60)
        store.add_nodes(nodes)
        expected = {
            n.metadata["citation_id"]
            for n in nodes
            if "general" in n.metadata["access_groups"]
            and (not filters.assets or set(filters.assets) & set(n.metadata["assets"]))
            and (not filters.doc_types or n.metadata["doc_type"] in filters.doc_types)
            and (not filters.date_from or n.metadata["date"] >= filters.date_from.isoformat())
            and (not filters.date_to or n.metadata["date"] <= filters.date_to.isoformat())
        }
        assert expected, "the case selects something"
        points = store.hybrid(
            [1.0] * DIM, sparse.encode_query("press"), access_filter(["general"], filters), 60, 60
        )
        assert {p.payload["citation_id"] for p in points} == expected  # type: ignore[index]
    finally:
        store.close()


@pytest.mark.parametrize(
    "unsupported",
    [
        qm.Filter(should=[qm.FieldCondition(key="doc_id", match=qm.MatchValue(value="d1"))]),
        qm.Filter(must_not=[qm.FieldCondition(key="doc_id", match=qm.MatchValue(value="d1"))]),
        qm.Filter(must=[qm.FieldCondition(key="title", match=qm.MatchText(text="log"))]),
        qm.Filter(must=[qm.IsEmptyCondition(is_empty=qm.PayloadField(key="assets"))]),
        qm.Filter(must=[qm.FieldCondition(key="date", range=qm.DatetimeRange(gte="2025-01-01"))]),
        qm.Filter(must=[qm.FieldCondition(key="assets", is_empty=True)]),
        qm.Filter(must=[qm.Filter(must_not=[qm.HasIdCondition(has_id=[1])])]),
    ],
)
def test_filters_outside_the_supported_subset_are_refused(unsupported: qm.Filter) -> None:
    with pytest.raises(ValueError, match="edge store"):
        edge_filter(unsupported)


def test_a_nested_single_condition_filter_converts() -> None:
    where = qm.Filter(
        must=qm.Filter(must=qm.FieldCondition(key="date_days", range=qm.Range(gte=3, lt=9)))
    )
    (inner,) = edge_filter(where).must  # type: ignore[misc]
    (condition,) = inner.must  # type: ignore[union-attr]
    assert condition.key == "date_days"  # type: ignore[union-attr]
    assert (condition.range.gte, condition.range.lt) == (3, 9)  # type: ignore[union-attr]


LOCKER = """
    import sys
    from pathlib import Path
    from retrieval.edge import EdgePassageStore
    from retrieval.store import StoreError
    try:
        EdgePassageStore(Path(sys.argv[1]), "t", 16).close()
    except StoreError as exc:
        print(exc)
        sys.exit(3)
    print("opened")
"""


def test_a_second_process_gets_a_clear_error_until_the_first_closes(tmp_path: Path) -> None:
    store = open_edge(tmp_path)
    try:
        with pytest.raises(StoreError, match="in use by another Andon process"):
            open_edge(tmp_path)  # a second open in this process is refused too
        out, err = run_child(LOCKER, tmp_path).communicate(timeout=120)
        assert "in use by another Andon process" in out, err
        assert "ANDON_QDRANT_URL" in out
    finally:
        store.close()
    child = run_child(LOCKER, tmp_path)
    out, err = child.communicate(timeout=120)
    assert (child.returncode, out.strip()) == (0, "opened"), err


BATCH = 32
WRITER = f"""
    import sys
    from pathlib import Path
    from retrieval.edge import EdgePassageStore
    from tests.retrieval.test_edge_store import make_nodes
    store = EdgePassageStore(Path(sys.argv[1]), "t", 16)
    for batch in range(10_000):
        store.add_nodes(make_nodes(batch * {BATCH}, {BATCH}))
        print(batch + 1, flush=True)
"""


def test_a_process_killed_mid_ingest_leaves_a_store_that_loads(tmp_path: Path) -> None:
    writer = run_child(WRITER, tmp_path)
    assert writer.stdout is not None
    for line in writer.stdout:  # let it write a while, then kill it between or inside writes
        if int(line) >= 20:
            break
    os.kill(writer.pid, signal.SIGKILL)
    rest, err = writer.communicate(timeout=60)
    assert writer.returncode == -signal.SIGKILL, err
    acknowledged = int(rest.split()[-1]) if rest.split() else int(line)

    store = open_edge(tmp_path)
    try:
        count = store.count_passages()
        # Every batch that returned is in the write-ahead log; the one in flight is all or nothing.
        assert count in (acknowledged * BATCH, (acknowledged + 1) * BATCH)
        points = store.hybrid(
            [1.0] * DIM, sparse.encode_query("bearing"), access_filter(["general"]), 10, 40
        )
        assert len(points) == 10 and all(p.payload["_node_content"] for p in points)  # type: ignore[index]
        store.add_nodes(make_nodes(count, BATCH))  # and it takes writes again
        assert store.count_passages() == count + BATCH
    finally:
        store.close()
