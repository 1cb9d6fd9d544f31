"""REST endpoints of retrieval: search, citation lookup, the document index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from control.deps import Authenticated, ServicesDep, require, role_of

from .models import SearchHit, SearchRequest, SearchResult
from .service import RetrievalService
from .store import DocumentRecord

router = APIRouter(tags=["retrieval"])


async def retrieval(request: Request) -> RetrievalService:
    service: RetrievalService | None = getattr(request.app.state, "retrieval", None)
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "retrieval is not available")
    return service


RetrievalDep = Annotated[RetrievalService, Depends(retrieval)]
Admin = Annotated[object, Depends(require(lambda role: role.admin, "manage the document index"))]


async def _groups(svc: ServicesDep, who: Authenticated) -> frozenset[str]:
    return frozenset(role_of(svc, who).document_groups)


Groups = Annotated[frozenset[str], Depends(_groups)]


@router.post("/search")
async def search(body: SearchRequest, groups: Groups, retrieval: RetrievalDep) -> SearchResult:
    """Hybrid (dense + keyword) search over the documents the caller's role may read."""
    return await retrieval.search(body, groups)


@router.get("/passages")
async def passage(
    citation_id: Annotated[str, Query(min_length=3, max_length=400)],
    groups: Groups,
    retrieval: RetrievalDep,
) -> SearchHit:
    """The text of a cited passage (the same answer for a missing and a forbidden one)."""
    hit = await retrieval.passage(citation_id, groups)
    if hit is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no passage {citation_id!r} for you")
    return hit


@router.get("/documents")
async def documents(groups: Groups, retrieval: RetrievalDep) -> list[DocumentRecord]:
    """Indexed documents the caller's role may read."""
    return await retrieval.documents(groups)


class SyncRequest(BaseModel):
    paths: list[Path] = Field(min_length=1, max_length=50)


class SyncReport(BaseModel):
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]
    errors: list[str]
    passages: int


@router.post("/documents/sync")
async def sync(
    body: Annotated[SyncRequest, Body()], _: Admin, retrieval: RetrievalDep
) -> SyncReport:
    """Index files or folders on the server's disk (admin): new and changed documents are
    (re)indexed, unchanged ones skipped, deleted ones removed."""
    missing = [str(p) for p in body.paths if not p.exists()]
    if missing:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no such path: {missing}")
    report = await retrieval.sync(body.paths)
    return SyncReport(**report.__dict__)


@router.delete("/documents/{doc_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove(doc_id: str, _: Admin, retrieval: RetrievalDep) -> None:
    """Remove a document and all its passages from the index (admin)."""
    if not await retrieval.remove(doc_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no document {doc_id!r} in the index")
