"""Quality-hold persistence: place (idempotent per plan step), read, list, resolve."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control.db import EXCLUSIVE_WRITE, insert_once, serialized_writes
from control.quality.models import HoldStatus, QualityHold, QualityHoldDraft
from control.quality.tables import quality_holds as t

MAX_PAGE = 1000
_ID = re.compile(r"QH-(\d{6,})")


class HoldNotFound(LookupError):
    def __init__(self, hold_id: str) -> None:
        super().__init__(f"quality hold {hold_id} not found")


class HoldResolved(Exception):
    def __init__(self, hold: QualityHold) -> None:
        super().__init__(f"quality hold {hold.id} is already {hold.status}")
        self.hold = hold


def format_id(number: int) -> str:
    return f"QH-{number:06d}"


class QualityHoldStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{EXCLUSIVE_WRITE: True})

    async def place(
        self,
        asset: str,
        line: str,
        draft: QualityHoldDraft,
        placed_by: str,
        source_request: str | None = None,
    ) -> QualityHold:
        """A new hold; the same `source_request` again returns the hold it placed before."""
        now = datetime.now(UTC)
        values = {
            **draft.model_dump(mode="json"),
            "asset": asset,
            "line": line,
            "status": HoldStatus.held.value,
            "placed_by": placed_by,
            "placed_at": now,
            "updated_at": now,
            "source_request": source_request,
        }
        async with serialized_writes(self._engine), self._writer.begin() as conn:
            row, _ = await insert_once(conn, t, values)
        return _to_model(row)

    async def get(self, hold_id: str) -> QualityHold:
        async with self._engine.connect() as conn:
            return _to_model(await _fetch(conn, hold_id))

    async def list(
        self,
        *,
        asset: str | None = None,
        line: str | None = None,
        status: HoldStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[QualityHold]:
        """Newest first."""
        query = select(t).order_by(t.c.number.desc())
        query = query.limit(max(0, min(limit, MAX_PAGE))).offset(max(0, offset))
        if asset is not None:
            query = query.where(t.c.asset == asset)
        if line is not None:
            query = query.where(t.c.line == line)
        if status is not None:
            query = query.where(t.c.status == HoldStatus(status).value)
        async with self._engine.connect() as conn:
            return [_to_model(row._asdict()) for row in await conn.execute(query)]

    async def resolve(self, hold_id: str, status: HoldStatus, actor: str, note: str) -> QualityHold:
        """Release or scrap a held lot; a resolved hold never changes again."""
        if not HoldStatus(status).final:
            raise ValueError("a hold is resolved as released or scrapped")
        async with serialized_writes(self._engine), self._writer.begin() as conn:
            row = await _fetch(conn, hold_id, for_update=True)
            current = _to_model(row)
            if current.status.final:
                raise HoldResolved(current)
            values = {
                "status": HoldStatus(status).value,
                "resolved_by": actor,
                "resolution_note": note,
                "updated_at": datetime.now(UTC),
            }
            await conn.execute(update(t).where(t.c.number == row["number"]).values(values))
        return _to_model({**row, **values})


def _parse_id(hold_id: str) -> int:
    match = _ID.fullmatch(hold_id)
    if match is None or format_id(int(match.group(1))) != hold_id:
        raise HoldNotFound(hold_id)
    return int(match.group(1))


async def _fetch(
    conn: AsyncConnection, hold_id: str, *, for_update: bool = False
) -> dict[str, Any]:
    query = select(t).where(t.c.number == _parse_id(hold_id))
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise HoldNotFound(hold_id)
    return row._asdict()


def _to_model(row: Mapping[str, Any]) -> QualityHold:
    fields = {key: value for key, value in row.items() if key != "number"}
    return QualityHold.model_validate({**fields, "id": format_id(row["number"])})
