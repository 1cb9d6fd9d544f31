"""The default model, Qwen2.5-Coder-1.5B, turns operator requests into structured answers.

The plant description and the answer's choices come from the demo site's plant model, so the
model has to map the operator's words ("the P-400", "line 1's feeder") onto the plant's ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field, create_model

from assistant.llm import QWEN_CODER_1_5B, ChatMessage, EmbeddedLLM, model_file
from control.plant.loader import load_plant

pytestmark = pytest.mark.slow

# The app's model cache: reassembled once per machine, then reused.
MODELS = Path(__file__).resolve().parents[2] / "var" / "models"
PLANT = load_plant()


class Step(BaseModel):
    action: str = Field(max_length=60)


def work_order_schema() -> type[BaseModel]:
    assets = tuple(asset.id for asset in PLANT.assets)
    # Tag ids as the prompt lists them: a choice spelled unlike the prompt misleads the model.
    tags = tuple(sorted({tag.id for asset in PLANT.assets for tag in asset.tags}))
    return create_model(
        "WorkOrderDraft",
        asset=(Literal[assets], ...),
        tag=(Literal[tags], ...),
        priority=(Literal["low", "medium", "high"], ...),
        title=(str, Field(max_length=60)),
        steps=(list[Step], Field(max_length=3)),
    )


def system_prompt() -> str:
    lines = [f"You draft maintenance work orders for {PLANT.site.name}. Equipment:"]
    for asset in PLANT.assets:
        tags = ", ".join(tag.id for tag in asset.tags)
        lines.append(f"- {asset.id}: {asset.name}. Tags: {tags}.")
    lines.append("Answer with the asset and tag concerned, a priority, a title and the steps.")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def llm() -> Iterator[EmbeddedLLM]:
    model = EmbeddedLLM(model_file(QWEN_CODER_1_5B, MODELS), threads=2, context_tokens=2048)
    yield model
    asyncio.run(model.aclose())


@pytest.mark.parametrize(
    ("request_text", "asset", "tag"),
    [
        (
            "The main bearing on the P-400 is at 92 °C and still climbing.",
            "press-3",
            "bearing_temp_c",
        ),
        (
            "Line 1's coil feeder keeps reporting a strip jam.",
            "feeder-1",
            "jam_detected",
        ),
    ],
)
async def test_a_plant_request_becomes_a_work_order_draft(
    llm: EmbeddedLLM, request_text: str, asset: str, tag: str
) -> None:
    schema = work_order_schema()
    messages = [
        ChatMessage(role="system", content=system_prompt()),
        ChatMessage(role="user", content=request_text),
    ]

    answer = await llm.generate_json(messages, schema, max_tokens=200)

    draft = answer.value.model_dump()
    assert (draft["asset"], draft["tag"]) == (asset, tag), answer.raw
    assert draft["priority"] != "low", answer.raw
    assert draft["steps"], answer.raw
