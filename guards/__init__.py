"""Guards: deterministic validation of what a language model proposes, before control/ sees it.

A proposal is judged against the plant model, the live state and the sources retrieved for the
request (`checks`), run through guardrails-ai (`rails`); text that tries to instruct the model is
screened out (`injection`). Nothing here acts: a validated plan still goes to control's
`evaluate`, which decides whether it runs, waits for approval or is denied.
"""

from .injection import Finding, screen_request, screen_source
from .models import GuardContext, PlanProposal, constrained_proposal
from .verdict import GuardVerdict, validate

__all__ = [
    "Finding",
    "GuardContext",
    "GuardVerdict",
    "PlanProposal",
    "constrained_proposal",
    "screen_request",
    "screen_source",
    "validate",
]
