"""Assistant: the evaluation sets of bench/assistant_eval run against a real system.

One process holds what a user runs: the app (``create_app``) with its simulated plant serving
OPC-UA on a loopback port, the control plane on SQLite in a temp dir, a fresh retrieval index of
``corpora/`` plus the fixture documents that carry injected instructions, and the chosen language
model (llama.cpp in-process, or a vLLM server). Every request and adversarial case goes through
the planner; a proposed plan is submitted to control, which decides (the assistant never talks
to OPC-UA). Questions go through the chat. The plant is reset and set up before every case.
Scoring is ``assistant/evaluation.py``; the metrics are defined in bench/assistant_eval/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import structlog
from rich.console import Console
from rich.progress import Progress

from andon.app import create_app
from andon.logging import configure_logging
from andon.settings import DEMO_CORPORA, Settings
from assistant.chat.models import CitationsEvent, DoneEvent
from assistant.chat.service import ChatService
from assistant.evaluation import (
    FIXTURE_DOCS,
    AdversarialCase,
    AnswerResult,
    PlanResult,
    PlantSetup,
    QuestionCase,
    RequestCase,
    load_adversarial,
    load_questions,
    load_requests,
    median,
    schema_valid_rate,
    score_adversarial,
    score_questions,
    score_requests,
    setup_problems,
)
from assistant.failure_modes.evaluation import evaluate as evaluate_failure_modes
from assistant.llm import QWEN_CODER_0_5B, QWEN_CODER_1_5B, LLMError, model_file
from assistant.llm.factory import LazyEmbeddedLLM
from assistant.plans import Planner
from bench.retrieval import _ingest
from control.execution.runtime import Services
from control.opcua.driver import PlantDriver
from simulator.server import SimulatedPlant, endpoint_url, free_tcp_port

log = structlog.get_logger()

# The app's model cache (as tests/assistant uses it): reassembled once per machine.
MODELS_DIR = Path(__file__).resolve().parents[1] / "var" / "models"
EMBEDDED_MODELS = {"1.5b": QWEN_CODER_1_5B, "0.5b": QWEN_CODER_0_5B}
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FAILURE_MODES_TEST = SHARED / "failure-modes" / "test.txt"
# --quick: the first cases of each file (ordered in the files so that these vary).
QUICK = {"requests": 4, "questions": 3, "adversarial": 3}
# Simulated seconds per step while a bearing-wear fault builds up to the vibration alarm.
WEAR_STEP_S = 10.0
WEAR_MAX_STEPS = 200
WEAR_MARGIN_STEPS = 5
CACHE_TIMEOUT_S = 10.0
# How the planner records a model answer that did not parse into its schema (a re-ask follows).
UNUSABLE_OUTPUT = "the model gave no usable plan"

T = TypeVar("T")
C = TypeVar("C", RequestCase, QuestionCase, AdversarialCase)


def options(args: argparse.Namespace) -> dict[str, Any]:
    """This suite's command-line options, as ``run`` takes them."""
    sets = {name.strip() for name in args.sets.split(",") if name.strip()}
    if not sets or sets - set(QUICK):
        raise SystemExit(f"--sets: a comma-separated choice of {', '.join(QUICK)}")
    cases = frozenset(c.strip() for c in args.cases.split(",") if c.strip())
    return {
        "backend": args.backend,
        "llm_url": args.llm_url,
        "model": args.model,
        "sets": sets,
        "cases": cases,
    }


def run(
    quick: bool,
    console: Console,
    *,
    backend: str = "embedded",
    llm_url: str = "",
    model: str = "1.5b",
    sets: frozenset[str] | set[str] = frozenset(QUICK),
    cases: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """``cases``: only the cases with these ids (all when empty), to look into a few."""
    configure_logging("WARNING")

    def chosen(loaded: list[C]) -> list[C]:
        return [c for c in loaded if not cases or c.id in cases]

    requests = chosen(load_requests()) if "requests" in sets else []
    questions = chosen(load_questions()) if "questions" in sets else []
    adversarial = chosen(load_adversarial()) if "adversarial" in sets else []
    if missing := cases - {c.id for c in (*requests, *questions, *adversarial)}:
        raise SystemExit(f"--cases: no such case in the chosen sets: {', '.join(sorted(missing))}")
    if quick:
        requests = requests[: QUICK["requests"]]
        questions = questions[: QUICK["questions"]]
        adversarial = adversarial[: QUICK["adversarial"]]
    with tempfile.TemporaryDirectory(prefix="andon-bench-") as tmp:
        settings = _settings(Path(tmp), backend, llm_url, model)
        return asyncio.run(_run(settings, requests, questions, adversarial, backend, console))


def _settings(data_dir: Path, backend: str, llm_url: str, model: str) -> Settings:
    common: dict[str, Any] = {
        "data_dir": data_dir,
        "opcua_url": endpoint_url("127.0.0.1", free_tcp_port()),
        "corpora": (),  # indexed by the bench itself, with the fixture documents
        "log_level": "WARNING",
        # Live perception off: its detection rules would act on the plant in the middle of a
        # case (pause the feeder, open work orders), and its inference competes for the CPU.
        "inspection_live": False,
        "telemetry_live": False,
    }
    if backend == "embedded":
        if model not in EMBEDDED_MODELS:
            raise SystemExit(f"--model for the embedded backend: one of {sorted(EMBEDDED_MODELS)}")
        path = model_file(EMBEDDED_MODELS[model], MODELS_DIR)
        return Settings(**common, llm_model_file=path)
    if backend == "vllm":
        if not llm_url:
            raise SystemExit("--backend vllm needs --llm-url (e.g. http://127.0.0.1:8000/v1)")
        served = model if model not in EMBEDDED_MODELS else _served_model(llm_url)
        return Settings(**common, llm_url=llm_url, llm_model=served)
    raise SystemExit(f"unknown backend {backend!r}: embedded or vllm")


def _served_model(llm_url: str) -> str:
    """The one model an OpenAI-compatible server serves (``--model`` names it otherwise)."""
    try:
        response = httpx.get(llm_url.rstrip("/") + "/models", timeout=10, trust_env=False)
        response.raise_for_status()
        models = [m["id"] for m in response.json()["data"]]
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise SystemExit(f"cannot list the models of {llm_url}: {exc}") from None
    if len(models) != 1:
        raise SystemExit(f"{llm_url} serves {models}: name one with --model")
    return str(models[0])


async def _run(
    settings: Settings,
    requests: Sequence[RequestCase],
    questions: Sequence[QuestionCase],
    adversarial: Sequence[AdversarialCase],
    backend: str,
    console: Console,
) -> dict[str, Any]:
    app = create_app(settings, embedded_simulator=True)
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        sim: SimulatedPlant = app.state.simulator
        for case in (*requests, *questions, *adversarial):
            problems = setup_problems(services.plant, case.setup)
            if problems:
                raise SystemExit(f"case {case.id}: {'; '.join(problems)}")
        # First: a broken classifier shows in seconds, not after an hour of cases.
        failure_modes = await _failure_modes(console)
        started = time.perf_counter()
        # In a thread: the plant and its OPC-UA session live on this loop and must keep going.
        await asyncio.to_thread(
            _ingest, app.state.retrieval, [DEMO_CORPORA, FIXTURE_DOCS], console, "indexing"
        )
        index_s = time.perf_counter() - started
        passages = app.state.retrieval.store.count_passages()
        console.print(f"indexed {passages} passages in {index_s:.0f} s")
        llm = app.state.llm
        if isinstance(llm, LazyEmbeddedLLM):
            with console.status(f"loading {llm.name}"):
                await llm.load()  # it loads on first use: not inside a timed case
        planner = Planner(llm, app.state.retrieval, services, services.plant)
        chat: ChatService = app.state.chat
        total = len(requests) + len(questions) + len(adversarial)
        with Progress(console=console) as progress:
            task = progress.add_task("cases", total=total)

            async def each(cases: Sequence[Any], work: Callable[[Any], Awaitable[T]]) -> list[T]:
                out = []
                for case in cases:
                    await apply_setup(sim, services.driver, case.setup)
                    out.append(await work(case))
                    progress.advance(task)
                return out

            plans = await each(requests, lambda c: _plan_case(planner, c))
            attacks = await each(adversarial, lambda c: _plan_case(planner, c))
            answers = await each(questions, lambda c: _answer_case(chat, c))
        return _results(
            requests,
            questions,
            adversarial,
            plans,
            answers,
            attacks,
            failure_modes,
            backend=backend,
            model=llm.name,
            index_s=index_s,
            passages=passages,
        )


# --- Plant set-up ------------------------------------------------------------------------


async def apply_setup(sim: SimulatedPlant, driver: PlantDriver, setup: PlantSetup) -> None:
    """Reset the simulated plant, make ``setup`` and wait until the driver's cache shows it."""
    await sim.reset()
    process = sim.process
    for key, value in setup.setpoints.items():
        asset, _, tag = key.partition(".")
        process.write_setpoint(asset, tag, value)
    for asset in (*setup.running, *setup.paused):
        process.start(asset)
    for asset in setup.paused:
        process.pause(asset)
    for name in setup.alarms:
        asset, _, alarm = name.partition("/")
        if alarm == "feeder_jam":
            process.inject_fault("feeder_jam", asset, 1.0)
        else:  # vibration_high: a worn bearing, run forward until the alarm comes in
            process.inject_fault("bearing_wear", asset, 1.0)
            for _ in range(WEAR_MAX_STEPS):
                if alarm in process.snapshot(asset).active_alarms:
                    break
                process.step(WEAR_STEP_S)
            for _ in range(WEAR_MARGIN_STEPS):  # past the limit: sensor noise must not clear it
                process.step(WEAR_STEP_S)
    for asset, holders in setup.lockouts.items():
        for holder in holders:
            process.apply_lockout(asset, holder)
    for asset in setup.manual_override:
        process.set_manual_override(asset, True)
    await sim.publish()
    await _cache_caught_up(sim, driver)


async def _cache_caught_up(sim: SimulatedPlant, driver: PlantDriver) -> None:
    """The chat and the guards read the driver's subscription cache: wait until it shows the
    set-up, setpoints included (a "by 2" judged against the previous case's speed is wrong)."""
    deadline = time.monotonic() + CACHE_TIMEOUT_S
    while time.monotonic() < deadline:
        state = driver.state
        if all(
            state.asset(a.id).run_state == (snap := sim.process.snapshot(a.id)).run_state
            and state.asset(a.id).lockouts == snap.lockouts
            and set(snap.active_alarms) <= set(state.asset(a.id).active_alarms)
            and all(
                state.asset(a.id).tags.get(tag.id) == snap.tags.get(tag.id) for tag in a.setpoints()
            )
            for a in sim.process.plant.assets
        ):
            return
        await asyncio.sleep(0.05)
    log.warning("bench.assistant.cache_behind", timeout_s=CACHE_TIMEOUT_S)


# --- One case ------------------------------------------------------------------------------


async def _plan_case(planner: Planner, case: RequestCase | AdversarialCase) -> PlanResult:
    started = time.perf_counter()
    try:
        outcome = await planner.plan(case.text, case.requester)
    except Exception as exc:  # one case's failure is a result, not the end of the run
        log.warning("bench.assistant.plan_failed", case=case.id, error=repr(exc))
        return PlanResult(
            case_id=case.id,
            status="error",
            # No usable answer from the model is a schema failure; anything else is ours.
            schema_valid=not isinstance(exc, LLMError),
            latency_s=time.perf_counter() - started,
            error=repr(exc)[:500],
        )
    result = PlanResult(
        case_id=case.id,
        status=outcome.status,
        steps=[s.model_dump(mode="json") for s in outcome.request.plan.steps]
        if outcome.request
        else [],
        citations=list(outcome.citations),
        attempts=outcome.attempts,
        guard_failures=list(outcome.guard_failures),
        schema_valid=not any(f.startswith(UNUSABLE_OUTPUT) for f in outcome.guard_failures),
        refusal=outcome.refusal,
        latency_s=outcome.latency_s,
    )
    if outcome.status == "proposed":
        try:
            record = await planner.submit(outcome, case.requester)
        except Exception as exc:
            log.warning("bench.assistant.submit_failed", case=case.id, error=repr(exc))
            result.error = repr(exc)[:500]
        else:
            result.control_status = record.status.value
            result.message = record.message
    return result


async def _answer_case(chat: ChatService, case: QuestionCase) -> AnswerResult:
    started = time.perf_counter()
    done, dropped = None, []
    try:
        async for event in chat.stream(case.question, case.requester):
            if isinstance(event, CitationsEvent):
                dropped = event.dropped
            elif isinstance(event, DoneEvent):
                done = event
        if done is None:
            raise RuntimeError("the chat stream ended without its done event")
    except Exception as exc:
        log.warning("bench.assistant.answer_failed", case=case.id, error=repr(exc))
        return AnswerResult(
            case_id=case.id, latency_s=time.perf_counter() - started, error=repr(exc)[:500]
        )
    answer = done.answer
    return AnswerResult(
        case_id=case.id,
        text=answer.text,
        citations=answer.citations,
        abstained=answer.abstained,
        note=done.note,
        dropped=dropped,
        latency_s=answer.latency_s,
    )


async def _failure_modes(console: Console) -> dict[str, Any] | None:
    """The classifier's figures on the shared test split (the fine-tuned 1.5B's three-seed
    ensemble, about five seconds per observation on two cores, whichever backend the plans
    used)."""
    if not FAILURE_MODES_TEST.is_file():
        console.print(f"[yellow]{FAILURE_MODES_TEST} not found: failure-mode accuracy skipped")
        return None
    with console.status("failure-mode classification") as status:

        def progress(done: int, total: int) -> None:
            status.update(f"failure-mode classification {done}/{total}")

        return await asyncio.to_thread(
            evaluate_failure_modes, FAILURE_MODES_TEST, progress=progress
        )


# --- Results -----------------------------------------------------------------------------


def _results(
    requests: Sequence[RequestCase],
    questions: Sequence[QuestionCase],
    adversarial: Sequence[AdversarialCase],
    plans: list[PlanResult],
    answers: list[AnswerResult],
    attacks: list[PlanResult],
    failure_modes: dict[str, Any] | None,
    *,
    backend: str,
    model: str,
    index_s: float,
    passages: int,
) -> dict[str, Any]:
    req = score_requests(requests, plans)
    adv = score_adversarial(adversarial, attacks)
    qs = score_questions(questions, answers)
    proposed = [r.latency_s for r in (*plans, *attacks) if r.status == "proposed"]
    return {
        "plan_accuracy": req.plan_accuracy,
        "field_accuracy": req.field_accuracy,
        "schema_valid_rate": schema_valid_rate([*plans, *attacks]),
        "citation_precision": qs.citation_precision,
        "abstain_accuracy": qs.abstain_accuracy,
        "unsafe_actions": adv.unsafe_actions,
        "plan_latency_p50_s": median(proposed),
        "failure_mode_accuracy": (failure_modes or {}).get("accuracy"),
        "status_accuracy": req.status_accuracy,
        "unsafe_proposed": adv.unsafe_proposed,
        "adversarial_pass_rate": adv.pass_rate,
        "citation_recall": qs.citation_recall,
        "false_abstain_rate": qs.false_abstain_rate,
        "answer_latency_p50_s": qs.latency_p50_s,
        "requests": len(plans),
        "questions": len(answers),
        "adversarial": len(attacks),
        "backend": backend,
        "model": model,
        "machine": _machine(),
        "index_s": index_s,
        "indexed_passages": passages,
        "details": {
            "requests": req.model_dump(),
            "adversarial": adv.model_dump(),
            "questions": qs.model_dump(),
            "failure_modes": failure_modes,
            "cases": {
                "requests": [r.model_dump() for r in plans],
                "adversarial": [r.model_dump() for r in attacks],
                "questions": [r.model_dump() for r in answers],
            },
        },
    }


def _machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
    }
