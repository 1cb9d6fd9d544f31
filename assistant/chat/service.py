"""Grounded answers: retrieve, decide whether the sources can answer, generate, verify, store.

How an answer is made, and why:

* The sources are the requester's readable passages and the live plant facts of what the
  question is about (``assistant.grounding``). When retrieval finds the documents lacking and
  no plant fact applies, or the question names a code or a line that no readable document or
  the plant has, the answer is "The plant's documents do not answer this" without asking the
  model: it never guesses over sources that cannot hold the answer.
* The model answers under a schema: the answer (at most three sentences), then the numbers
  of the sources it comes from, chosen from the numbers it was shown (``prompt.answer_schema``).
  Tried on Qwen2.5-Coder-1.5B against the demo manuals and live state: free text with inline
  ``[n]`` markers cited correctly when it cited, but left citations out on some questions and
  abstained on a plain live-state one; one sentence per cited source made it copy the first
  line of a passage instead of answering; answer-then-sources answered all probe questions
  with citations that resolve, since the grammar admits no other. Numbers, not ids: the model
  picks ``2`` reliably, and short labels keep the prompt small, which matters because prefill
  dominates on a 2-core CPU.
* The answer is then checked (``prompt``): cited sources holding none of it are uncited; the
  rest must hold every value it states and most of its words (``borne_out``); and it must
  speak of the question and add to it (``answers``, or for a terse answer ``answered_in``:
  the line of its source that bears it out speaks of the question), which catches a small
  model copying an unrelated line or echoing the question instead of abstaining. An answer
  that cites no source holding it is cited where such a line holds it. An answer that fails is
  withheld: "The plant's documents do not answer this", with the reason.
* A bare "yes" or "no" citing only live plant facts (the 1.5B model's answer to "is press 3
  running?") is replaced by the facts it cites: they answer in their own words.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime

import structlog

from assistant.grounding import (
    PLANT_PREFIX,
    Grounding,
    ground,
    names_equipment,
    withhold_instructions,
)
from assistant.intent import asks_for_action
from assistant.llm import LanguageModel
from assistant.plans.models import PlanOutcome
from assistant.plans.service import Planner
from control.actions.models import Requester
from control.decisions.checks import describe
from control.execution.models import RequestRecord, RequestStatus
from control.execution.runtime import Services
from retrieval.service import RetrievalService

from .metrics import CHAT_ABSTAINED, CHAT_FIRST_TOKEN_SECONDS, CHAT_SECONDS
from .models import (
    ChatAnswer,
    ChatEvent,
    CitationsEvent,
    DoneEvent,
    PlanEvent,
    Source,
    SourcesEvent,
    TokenEvent,
    Turn,
)
from .prompt import (
    ABSTAIN_TEXT,
    MAX_CITED,
    answer_schema,
    answered_in,
    answers,
    borne_out,
    chat_messages,
    relevant_facts,
    source_labels,
    supports,
)
from .store import ConversationStore

log = structlog.get_logger()

# Earlier turns given to the model for follow-ups.
HISTORY_TURNS = 2


class ConversationNotFound(LookupError):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"no conversation {conversation_id!r} for you")
        self.conversation_id = conversation_id


class ChatService:
    def __init__(
        self,
        llm: LanguageModel,
        retrieval: RetrievalService,
        services: Services,
        store: ConversationStore,
        *,
        planner: Planner | None = None,
        top_k: int = 3,
        passage_chars: int = 700,
        max_tokens: int = 300,
    ) -> None:
        self.llm = llm
        self.retrieval = retrieval
        self.services = services
        self.store = store
        self.planner = planner
        self.top_k = top_k
        self.passage_chars = passage_chars
        self.max_tokens = max_tokens

    async def answer(
        self, question: str, requester: Requester, conversation_id: str | None = None
    ) -> ChatAnswer:
        """The whole answer at once (what the streaming variant ends with)."""
        async for event in self.stream(question, requester, conversation_id):
            if isinstance(event, DoneEvent):
                return event.answer
        raise RuntimeError("the chat stream ended without its done event")

    async def stream(
        self, question: str, requester: Requester, conversation_id: str | None = None
    ) -> AsyncGenerator[ChatEvent, None]:
        """Events of one answer: ``sources``, ``token``s, ``citations``, then ``done``.

        Raises ``ConversationNotFound`` (before the first event) for a conversation that is not
        the requester's, and ``PermissionError`` for a role the plant model lacks.
        """
        started = time.perf_counter()
        new = conversation_id is None
        if conversation_id is None:
            conversation_id = uuid.uuid4().hex
        elif await self.store.summary(conversation_id, requester.user) is None:
            raise ConversationNotFound(conversation_id)
        if self.planner is not None and asks_for_action(question):
            # The planner grounds itself; the empty sources event opens the stream at once.
            yield SourcesEvent(conversation_id=conversation_id, sources=[])
            outcome = await self.planner.plan(question, requester)
            if outcome.status != "answer_only":
                planned = self._acted(outcome, question, requester, conversation_id, new)
                async for event in planned:
                    yield event
                return
        history = [] if new else await self.store.turns(conversation_id, last=HISTORY_TURNS)
        grounding = await ground(
            self._search_text(question, history),
            requester,
            retrieval=self.retrieval,
            services=self.services,
            top_k=self.top_k,
        )
        shown, withheld = self._usable_sources(grounding)
        labels = source_labels(shown)
        yield SourcesEvent(conversation_id=conversation_id, sources=_sources(shown))

        note = withheld
        text, citations, dropped = ABSTAIN_TEXT, [], []
        if withheld is None:
            messages = chat_messages(
                self.services.plant.site.name,
                question,
                history,
                shown,
                labels,
                passage_chars=self.passage_chars,
                compact_json=self.llm.compact_json,
            )
            reply = await self.llm.generate_json(
                messages, answer_schema(len(labels)), max_tokens=self.max_tokens
            )
            said, q = reply.value.answer.strip(), shown.question
            cited = list(dict.fromkeys(labels[n] for n in reply.value.sources))
            if _BARE_YES_NO.fullmatch(said) and _all_live(cited):
                # "No." to "is press 3 running?": nothing a source can bear out, but the plant
                # facts it cites answer the question in their own words, so they stand instead.
                said = " ".join(_source_text(shown, c) for c in cited)
            holding = [c for c in cited if supports(_source_text(shown, c), said)]
            dropped = [c for c in cited if c not in holding]
            if said and not holding:
                # An answer with no source that holds it ("16", citing nothing): cited where a
                # line of a shown source bears it out and speaks of the question, else withheld.
                holding = [
                    c for c in labels.values() if answered_in(said, q, _source_text(shown, c))
                ][:MAX_CITED]
            if not said or not holding:
                note = "the model found no answer in the sources"
            elif not borne_out(said, " ".join(_source_text(shown, c) for c in holding)):
                note = "the answer stated what its sources do not hold, so it was withheld"
            elif not (
                answers(said, q)
                or _all_live(holding)
                or any(answered_in(said, q, _source_text(shown, c)) for c in holding)
            ):
                note = "the answer did not speak of the question, so it was withheld"
            else:
                text = f"{said} " + "".join(f"[{c}]" for c in holding)
                citations = holding
                CHAT_FIRST_TOKEN_SECONDS.observe(time.perf_counter() - started)
            if note is not None and said:
                dropped.append(said)
        abstained = note is not None
        # The answer is decoded under a schema, which is what makes every citation resolve; it
        # streams once checked (a backend streaming constrained output could stream it as it
        # forms, events unchanged).
        yield TokenEvent(text=text)
        yield CitationsEvent(citations=citations, dropped=dropped)

        latency_s = time.perf_counter() - started
        facts = [s for s in _sources(shown) if s.kind == "plant" and s.citation_id in citations]
        turn = Turn(
            at=datetime.now(UTC),
            question=question,
            answer=text,
            citations=citations,
            facts=facts,
            abstained=abstained,
            latency_s=latency_s,
        )
        if new:
            await self.store.create(requester.user, question, conversation_id=conversation_id)
        await self.store.add_turn(conversation_id, turn)
        CHAT_SECONDS.observe(latency_s)
        if abstained:
            CHAT_ABSTAINED.inc()
        log.info(
            "chat.answered",
            user=requester.user,
            conversation=conversation_id,
            latency_s=round(latency_s, 2),
            citations=len(citations),
            dropped=len(dropped),
            abstained=abstained,
            note=note,
        )
        answer = ChatAnswer(
            conversation_id=conversation_id,
            text=text,
            citations=citations,
            abstained=abstained,
            latency_s=latency_s,
        )
        yield DoneEvent(answer=answer, note=note)

    async def _acted(
        self,
        outcome: PlanOutcome,
        question: str,
        requester: Requester,
        conversation_id: str,
        new: bool,
    ) -> AsyncGenerator[ChatEvent, None]:
        """A planned request: submitted to control, which decides, then shown with its status."""
        started = time.perf_counter()
        record = None
        if outcome.status == "proposed" and self.planner is not None:
            # One key per turn: the same turn is never submitted twice.
            turn_number = 0 if new else await self.store.turn_count(conversation_id)
            key = f"chat:{conversation_id}:{turn_number}"
            record = await self.planner.submit(outcome, requester, key)
        steps = [] if outcome.request is None else list(outcome.request.plan.steps)
        yield PlanEvent(
            status=outcome.status,
            steps=[step.model_dump(mode="json", exclude_none=True) for step in steps],
            citations=outcome.citations,
            refusal=outcome.refusal,
            request_status=None if record is None else record.status.value,
            message=None if record is None else record.message,
        )
        text = plan_summary(outcome, record)
        latency_s = outcome.latency_s + time.perf_counter() - started
        turn = Turn(
            at=datetime.now(UTC),
            question=question,
            answer=text,
            citations=[],
            facts=[],
            abstained=False,
            latency_s=latency_s,
        )
        if new:
            await self.store.create(requester.user, question, conversation_id=conversation_id)
        await self.store.add_turn(conversation_id, turn)
        log.info(
            "chat.planned",
            user=requester.user,
            conversation=conversation_id,
            status=outcome.status,
            request=None if record is None else record.id,
            request_status=None if record is None else record.status.value,
        )
        answer = ChatAnswer(
            conversation_id=conversation_id,
            text=text,
            citations=[],
            abstained=False,
            latency_s=latency_s,
        )
        yield DoneEvent(answer=answer)

    def _search_text(self, question: str, history: Sequence[Turn]) -> str:
        """A follow-up that names no equipment ("and its temperature?") is searched together
        with the question before it, which named it."""
        if not history or names_equipment(question, self.services.plant):
            return question
        return f"{history[-1].question} {question}"

    def _usable_sources(self, g: Grounding) -> tuple[Grounding, str | None]:
        """The sources the model may answer from, or, when there are none, why not. Sources
        that try to instruct the model are withheld: they can be neither read nor cited."""
        if g.unknown:
            return _empty(g), f"no document you may read mentions {', '.join(g.unknown)}"
        g, _ = withhold_instructions(g)
        passages = [] if g.abstain else g.passages
        facts = relevant_facts(g.question, g.plant)
        if not passages and not facts:
            return _empty(g), "the documents you may read do not cover this question"
        return g.model_copy(update={"passages": passages, "plant": facts}), None


_BARE_YES_NO = re.compile(r"(?i)(yes|no)[.!]?")


def _all_live(citations: Sequence[str]) -> bool:
    """Whether every citation is a live plant fact: those shown were picked for the question
    (``relevant_facts``), so an answer they bear out speaks of it, even in other words ("stopped"
    for "is it running?", "carol" for "who has a lock?")."""
    return bool(citations) and all(c.startswith(PLANT_PREFIX) for c in citations)


def _empty(g: Grounding) -> Grounding:
    return g.model_copy(update={"passages": [], "plant": []})


def _source_text(g: Grounding, citation_id: str) -> str:
    hit = g.passage(citation_id)
    if hit is not None:
        return hit.text
    fact = g.fact(citation_id)
    return fact.text if fact is not None else ""


def _sources(g: Grounding) -> list[Source]:
    return [
        Source(
            citation_id=hit.citation_id,
            kind="passage",
            title=f"{hit.title}{', ' + ' > '.join(hit.section_path) if hit.section_path else ''}",
        )
        for hit in g.passages
    ] + [
        Source(citation_id=f.citation_id, kind="plant", title=f"live: {f.asset}", text=f.text)
        for f in g.plant
    ]


def plan_summary(outcome: PlanOutcome, record: RequestRecord | None) -> str:
    """One sentence for the operator: what was planned and what control made of it."""
    if outcome.status == "refused" or outcome.request is None:
        return outcome.refusal or "Not planned."
    steps = "; ".join(describe(step) for step in outcome.request.plan.steps)
    if record is None:
        return f"Planned, not submitted: {steps}."
    match record.status:
        case RequestStatus.executed:
            return f"Done: {steps}."
        case RequestStatus.waiting_approval:
            return f"Planned: {steps}. Control is {record.message}."
        case RequestStatus.executing:
            return f"Planned: {steps}. Control is still executing it (request {record.id})."
        case _:
            why = record.message.removeprefix("denied: ")
            return f"Planned: {steps}. Control {record.status.value} it: {why}."
