"""The planner: an operator's words -> a guarded plan for control/, or a refusal that says why.

1. The request is screened first, without a model: instructions to the assistant, attempts to
   get around a lockout, an interlock or an approval, and lines or machines the plant lacks are
   refused at once.
2. It is grounded: passages the requester may read, and the live state of the equipment it
   names. Sources that try to instruct the model are withheld (`guards.injection`).
3. The model fills a `PlanProposal` under constrained decoding (ids from the plant model,
   citations from the sources shown), the guards judge it, and on failure the model is asked
   again with the guards' reasons, at most twice. Then it is refused, with those reasons.
4. A valid proposal becomes control's `ActionRequest`. The planner never acts: `submit` hands it
   to control's `ExecutionService`, whose `evaluate` decides (run, wait for approval, deny).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable

import structlog
from pydantic import ValidationError

from assistant.grounding import Grounding, ground, withhold_instructions
from assistant.intent import asks_for_action
from assistant.llm import ChatMessage, LanguageModel, LLMError
from control.actions.models import Requester
from control.execution.models import RequestRecord
from control.execution.runtime import Services
from control.execution.service import ExecutionService
from control.plant.models import PlantModel
from guards import GuardContext, constrained_proposal, validate
from guards.checks import demanded_commands, request_problems, requested_commands
from guards.models import ACTING_KINDS, PlanProposal, as_proposal
from retrieval.assets import AssetAliases
from retrieval.service import RetrievalService

from . import prompt
from .convert import action_request, with_own_holders
from .metrics import PLAN_OUTCOMES, PLAN_SECONDS
from .models import PlanOutcome

log = structlog.get_logger()

# What the operator may call a part: any code with a digit ("P400-RUN-SEAL", "6205-2RS").
_PART_NUMBER = re.compile(r"\b(?=[A-Z0-9-]*\d)[A-Z0-9]{1,10}(?:-[A-Z0-9]{1,10}){1,4}\b")
# The plant's own part numbers in its manuals: an equipment prefix, then a lettered code
# ("P400-BRG-23160", "TC2-GBX-25", "VI2-LED-BAR"). Fault codes (E-204), lockout points
# (E-P3-01, LOTO-P3), work orders (WO-26-0117), ranges (350-650, defect classes D1-D3) and
# short labels (P3-TM) are not parts.
_MANUAL_PART = re.compile(r"\b(?:[A-Z]{2,3}\d{1,4}|[A-Z]\d{2,4})-[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*\b")
_MAX_PART_CHOICES = 12
# How a model answer that fits no proposal is recorded among the failures (the bench counts it).
UNUSABLE = "the model gave no usable plan"


class NotProposed(ValueError):
    """Only a proposed plan can be submitted."""


class Planner:
    def __init__(
        self,
        llm: LanguageModel,
        retrieval: RetrievalService,
        services: Services,
        plant: PlantModel,
        *,
        top_k: int = 2,
        passage_chars: int = 140,
        max_attempts: int = 3,
        max_tokens: int = 400,
    ) -> None:
        self.llm = llm
        self.retrieval = retrieval
        self.services = services
        self.plant = plant
        self.top_k = top_k
        self.passage_chars = passage_chars
        self.max_attempts = max_attempts  # the first ask and at most two re-asks
        self.max_tokens = max_tokens

    async def plan(self, text: str, requester: Requester) -> PlanOutcome:
        started = time.perf_counter()
        outcome = await self._plan(text, requester)
        outcome = outcome.model_copy(update={"latency_s": time.perf_counter() - started})
        PLAN_SECONDS.labels(outcome.status).observe(outcome.latency_s)
        PLAN_OUTCOMES.labels(outcome.status).inc()
        log.info(
            "plan.outcome",
            user=requester.user,
            status=outcome.status,
            attempts=outcome.attempts,
            latency_s=round(outcome.latency_s, 2),
            refusal=outcome.refusal,
        )
        return outcome

    async def submit(
        self, outcome: PlanOutcome, requester: Requester, idempotency_key: str | None = None
    ) -> RequestRecord:
        """Hand a proposed plan to control, which decides and acts (never the planner)."""
        if outcome.status != "proposed" or outcome.request is None:
            raise NotProposed(f"a {outcome.status} outcome has no plan to submit")
        return await ExecutionService(self.services).submit(
            outcome.request, requester, idempotency_key
        )

    async def _plan(self, text: str, requester: Requester) -> PlanOutcome:
        state = self.services.driver.state
        bare = GuardContext(
            plant=self.plant, state=state, requester=requester, request=text, sources={}
        )
        if problems := request_problems(bare):
            return _refused(problems, attempts=0)
        if not asks_for_action(text):
            # "Show me the jam clearing steps": asked to be told, not to act; the model once
            # answered that with a work order.
            return PlanOutcome(status="answer_only", attempts=0)
        grounding = await ground(
            text, requester, retrieval=self.retrieval, services=self.services, top_k=self.top_k
        )
        shown, flagged = _screened(grounding, self.plant)
        ctx = bare.model_copy(update={"sources": _texts(grounding), "flagged": flagged})
        outcome = await self._ask(shown, ctx)
        return outcome.model_copy(update={"withheld": sorted(flagged)})

    async def _ask(self, shown: Grounding, ctx: GuardContext) -> PlanOutcome:
        """The model's proposal for the shown sources, judged by the guards, re-asked with their
        reasons until it passes or the attempts run out."""
        labels = _labels(shown)
        parts = _part_numbers(ctx.request, [h.text for h in shown.passages], ctx.aliases)
        # Steps may carry only the commands the request asks for: a small model otherwise adds
        # a plausible extra (a lockout after a work order) and repeats it when re-asked.
        asked = sorted(requested_commands(ctx))
        schema = constrained_proposal(self.plant, citations=labels, parts=parts, commands=asked)
        # A re-ask must answer with a plan: a failing one ends in the guards' own refusal,
        # with their reasons, instead of the model's vaguer one. It holds at least as many
        # steps as the request gives commands: re-asked for a step it left out, a small model
        # otherwise answers with the other step alone.
        retry_schema = constrained_proposal(
            self.plant,
            citations=labels,
            parts=parts,
            kinds=sorted(ACTING_KINDS),
            commands=asked,
            min_steps=len(demanded_commands(ctx)),
        )
        messages = prompt.messages(
            self.plant,
            shown,
            labels,
            ctx.requester,
            _named(ctx),
            parts,
            passage_chars=self.passage_chars,
        )
        failures: list[str] = []
        for attempt in range(1, self.max_attempts + 1):
            try:
                answer = await self.llm.generate_json(messages, schema, max_tokens=self.max_tokens)
            except LLMError as exc:
                failures.append(f"{UNUSABLE} ({exc})")
                continue
            proposal = as_proposal(answer.value, labels)
            proposal = with_own_holders(proposal, ctx.state, ctx.requester)
            if proposal.kind == "question":
                return PlanOutcome(status="answer_only", attempts=attempt, guard_failures=failures)
            if proposal.kind not in ACTING_KINDS:
                why = proposal.reason.strip() or "the request cannot be done safely as asked"
                return _refused([*failures, why], attempts=attempt, refusal=f"Not planned: {why}")
            verdict = validate(proposal, ctx)
            if verdict.passed:
                return await self._proposed(proposal, ctx.request, attempt, failures)
            failures += verdict.reasons
            messages = [
                *messages,
                ChatMessage(role="assistant", content=answer.raw),
                ChatMessage(role="user", content=prompt.retry_message(verdict.reasons)),
            ]
            schema = retry_schema
        return _refused(failures, attempts=self.max_attempts)

    async def _proposed(
        self, proposal: PlanProposal, text: str, attempts: int, failures: list[str]
    ) -> PlanOutcome:
        try:
            # Off the event loop: a work order's failure mode is a language model's call (~1 s).
            request = await asyncio.to_thread(action_request, proposal, text, self.llm.name)
        except ValidationError as exc:  # a bound of control's contract the guards do not know
            reason = f"the plan does not fit control's request format: {exc.errors()[0]['msg']}"
            return _refused([*failures, reason], attempts=attempts)
        return PlanOutcome(
            status="proposed",
            request=request,
            attempts=attempts,
            guard_failures=failures,
            citations=list(proposal.citations),
        )


def _refused(reasons: list[str], *, attempts: int, refusal: str | None = None) -> PlanOutcome:
    if refusal is None:
        more = f" (and {len(reasons) - 1} more reasons)" if len(reasons) > 1 else ""
        refusal = f"Not planned: {reasons[0]}{more}." if reasons else "Not planned."
    return PlanOutcome(status="refused", refusal=refusal, guard_failures=reasons, attempts=attempts)


def _screened(g: Grounding, plant: PlantModel) -> tuple[Grounding, frozenset[str]]:
    """The grounding the model may see: sources that try to instruct it withheld, live facts
    cut to what a plan stands on. Returns it with the withheld citation ids."""
    kept, flagged = withhold_instructions(g)
    return kept.model_copy(update={"plant": prompt.plan_facts(kept.plant, plant)}), flagged


def _labels(g: Grounding) -> dict[str, str]:
    """Label -> citation id, numbered from 1: a small model copies "2", not a 60-character id."""
    ids = [h.citation_id for h in g.passages] + [f.citation_id for f in g.plant]
    return {str(n): citation for n, citation in enumerate(ids, start=1)}


def _texts(g: Grounding) -> dict[str, str]:
    return {h.citation_id: h.text for h in g.passages} | {f.citation_id: f.text for f in g.plant}


def _part_numbers(request: str, passages: Iterable[str], aliases: AssetAliases) -> list[str]:
    """The part numbers a work order may list: those the operator names (not the equipment's
    own codes, "VI-2", "P-400"), then the manuals'."""
    named = [code for code in _PART_NUMBER.findall(request) if not aliases.is_name(code)]
    found = dict.fromkeys([*named, *(n for text in passages for n in _MANUAL_PART.findall(text))])
    return list(found)[:_MAX_PART_CHOICES]


def _named(ctx: GuardContext) -> list[str]:
    """The equipment the request names, as ids the model can copy: the assets it names, else
    the assets of the lines it names."""
    aliases = ctx.aliases
    assets = aliases.mentioned_assets(ctx.request)
    lines = aliases.mentioned_lines(ctx.request)
    if assets:
        return [a.id for a in ctx.plant.assets if a.id in assets]
    return [
        f"{line} ({', '.join(a.id for a in ctx.plant.line_assets(line))})" for line in sorted(lines)
    ]
