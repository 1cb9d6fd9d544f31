from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from control.deps import Authenticated, ServicesDep
from control.safety import service
from control.safety.models import EmergencyStopRequest, ManualOverrideRequest, SafetyResult

router = APIRouter(tags=["safety"])


@router.post("/lines/{line}/emergency-stop", response_model=SafetyResult)
async def emergency_stop(
    line: str, svc: ServicesDep, who: Authenticated, body: EmergencyStopRequest | None = None
) -> SafetyResult:
    """Stop every asset of the line at once. No approval, no interlock can hold it back."""
    reason = body.reason if body else "emergency stop"
    try:
        return await service.emergency_stop(svc, line, who, reason)
    except service.SafetyRefused as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    except service.SafetyNotDelivered as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None


@router.post("/assets/{asset}/manual-override", response_model=SafetyResult)
async def manual_override(
    asset: str, body: ManualOverrideRequest, svc: ServicesDep, who: Authenticated
) -> SafetyResult:
    """Take an asset to manual (rules and models then leave it alone) or give it back."""
    try:
        return await service.manual_override(svc, asset, body.enabled, who, body.reason)
    except service.SafetyRefused as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    except service.SafetyNotDelivered as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
