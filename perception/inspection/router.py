"""REST for the frames holds and work orders cite: GET /evidence/{uri} with the `uri` an
evidence item carries; the file's sha256 is its name, so anyone can check it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import FileResponse

from control.deps import Authenticated
from perception.inspection.evidence import EvidenceStore

router = APIRouter(prefix="/evidence", tags=["evidence"])


@router.get(
    "/{uri}",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}, 404: {"description": "no such frame"}},
)
async def evidence_frame(
    uri: Annotated[str, Path(pattern=r"^[0-9a-f]{64}\.png$", description="<sha256>.png")],
    request: Request,
    who: Authenticated,
) -> FileResponse:
    """A stored frame (PNG) that a quality hold or work order cites as evidence."""
    store: EvidenceStore = request.app.state.evidence
    path = store.path(uri)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no evidence frame {uri}")
    # Content-addressed: a name never changes its bytes.
    headers = {"Cache-Control": "private, max-age=31536000, immutable"}
    return FileResponse(path, media_type="image/png", headers=headers)
