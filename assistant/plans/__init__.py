"""Guarded action plans: an operator's words -> a plan the guards validated -> control/."""

from .models import PlanOutcome, PlanRequestBody, PlanResponse
from .service import NotProposed, Planner

__all__ = ["NotProposed", "PlanOutcome", "PlanRequestBody", "PlanResponse", "Planner"]
