"""The chat end to end: POST /chat streams Server-Sent Events from the real app (simulated plant,
retrieval, Qwen2.5-Coder-1.5B embedded); conversations are kept per user; bad input gets a 4xx.

Questions the documents cannot answer never reach the model, so those tests are quick; the ones
marked slow ask the model (about half a minute each on 2 cores).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from assistant.chat.prompt import (
    ABSTAIN_TEXT,
    answer_schema,
    answered_in,
    answers,
    borne_out,
    focus,
)
from assistant.llm import generation_schema
from control.actions.models import Requester
from tests.api.api_helpers import LiveSystem, eventually

from .chat_live import ask, start_chat_system

OPERATOR = Requester(user="alice", role="operator")
OFF_TOPIC = "Who won the football world cup in 2022?"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSystem]:
    system = start_chat_system(tmp_path_factory.mktemp("chat"))
    yield system
    system.stop()


@pytest.fixture(autouse=True)
def fresh_plant(request: pytest.FixtureRequest) -> None:
    if "live" in request.fixturenames:
        request.getfixturevalue("live").sim_reset()


def done(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done", names
    assert "token" in names and "citations" in names and "error" not in names, names
    answer: dict[str, Any] = events[-1][1]["answer"]
    streamed = "".join(data["text"] for name, data in events if name == "token")
    assert streamed.strip(), "text was streamed before the answer was done"
    return answer


def resolves(live: LiveSystem, user: str, citation: str, events: list[Any]) -> str:
    """The text a citation stands for: the passage as GET /passages gives it, or the fact."""
    if citation.startswith("plant:"):
        sources = next(data["sources"] for name, data in events if name == "sources")
        return next(s["text"] for s in sources if s["citation_id"] == citation)
    response = live.get("/passages", user, params={"citation_id": citation})
    assert response.status_code == 200, f"{citation} does not resolve: {response.text}"
    text: str = response.json()["text"]
    return text


# --- without the model -----------------------------------------------------------------------


def test_a_question_the_documents_cannot_answer_abstains_in_the_stream(live: LiveSystem) -> None:
    events = ask(live, "alice", OFF_TOPIC)

    answer = done(events)
    assert answer["abstained"] is True and answer["citations"] == []
    assert answer["text"] == ABSTAIN_TEXT
    assert events[-1][1]["note"]


def test_a_code_no_document_holds_abstains_and_says_which(live: LiveSystem) -> None:
    answer_event = ask(live, "alice", "What does fault code E-999 mean on press 3?")[-1][1]

    assert answer_event["answer"]["abstained"] is True
    assert "e-999" in answer_event["note"].lower()


def test_conversations_belong_to_their_user(live: LiveSystem) -> None:
    first = done(ask(live, "alice", OFF_TOPIC))
    conversation = first["conversation_id"]
    follow_up = done(ask(live, "alice", "And in 2018?", conversation))
    assert follow_up["conversation_id"] == conversation

    mine = live.get("/chat/conversations", "alice").json()
    assert conversation in {c["conversation_id"] for c in mine}
    turns = live.get(f"/chat/conversations/{conversation}", "alice").json()["turns"]
    assert [t["question"] for t in turns] == [OFF_TOPIC, "And in 2018?"]

    theirs = live.get("/chat/conversations", "olga").json()
    assert conversation not in {c["conversation_id"] for c in theirs}
    assert live.get(f"/chat/conversations/{conversation}", "olga").status_code == 404
    stolen = live.post("/chat", "olga", json={"message": "hi", "conversation_id": conversation})
    assert stolen.status_code == 404
    assert len(live.get(f"/chat/conversations/{conversation}", "alice").json()["turns"]) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": ""}, "message"),
        ({"message": "   "}, "message"),
        ({"message": "x" * 1001}, "message"),
        ({}, "message"),
        ({"message": "hi", "conversation_id": "../etc"}, "conversation_id"),
        ({"message": "hi", "extra": 1}, "extra"),
    ],
)
def test_bad_requests_get_a_422_naming_the_field(
    live: LiveSystem, body: dict[str, Any], field: str
) -> None:
    response = live.post("/chat", "alice", json=body)
    assert response.status_code == 422 and field in response.text


def test_every_chat_endpoint_needs_a_key(live: LiveSystem) -> None:
    assert live.client.post("/chat", json={"message": "hi"}).status_code == 401
    assert live.client.get("/chat/conversations").status_code == 401
    assert live.client.get("/chat/conversations/" + "0" * 32).status_code == 401
    unknown = live.post("/chat", "alice", json={"message": "hi", "conversation_id": "a" * 32})
    assert unknown.status_code == 404
    assert live.get("/chat/conversations/" + "a" * 32, "alice").status_code == 404


def test_the_chat_page_is_served_self_contained(live: LiveSystem) -> None:
    page = live.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere


def test_an_answer_may_cite_only_the_sources_it_was_given() -> None:
    schema = answer_schema(2)
    generation_schema(schema)  # bounded: fit for constrained decoding

    ok = schema.model_validate({"answer": "Stop the press.", "sources": ["2"]})
    assert ok.sources == ["2"]
    with pytest.raises(ValidationError):
        schema.model_validate({"answer": "Stop the press.", "sources": ["3"]})
    with pytest.raises(ValidationError):
        schema.model_validate({"answer": "x" * 401, "sources": ["1"]})


@pytest.mark.parametrize(
    ("sentence", "holds"),
    [
        ("Reduce the speed to 16 strokes/min and stop at the end of the coil.", True),
        ("Reduce the speed to 12 strokes/min.", False),  # a value the source does not give
        ("Call the fire brigade and evacuate the hall.", False),  # words it does not hold
    ],
)
def test_a_sentence_stands_only_if_its_source_bears_it_out(sentence: str, holds: bool) -> None:
    source = (
        "E-310, vibration at or above 7.1 mm/s: speed is limited to 16 strokes/min by "
        "interlock; stop the press at the end of the coil, lockout, inspect."
    )
    assert borne_out(sentence, source) is holds


def test_an_answer_must_speak_of_the_question_and_add_to_it() -> None:
    question = "What is the name of the press 3 die setter on the night shift?"
    assert not answers("The P-400 is an eccentric-drive mechanical press.", question)
    assert not answers("Die setters.", question)  # the question echoed
    assert answers("The night shift die setter is Ana.", question)
    assert answers("38 L.", "How many litres does it hold?")  # a value answers "how many"


def test_a_terse_answer_stands_when_its_source_line_speaks_of_the_question() -> None:
    # Seen withheld in the evaluation: right, but sharing no word with the question.
    table = (
        "| Code | Meaning | Action |\n| --- | --- | --- |\n"
        "| E-204 | Lube pressure low | Check the pump |\n| E-310 | Vibration high | Slow down |"
    )
    question = "E-204 on the press 3 screen, what does it mean?"
    assert not answers("Lube pressure low", question)
    assert answered_in("Lube pressure low", question, table)
    # Borne out only by a row about something else, or not at all: not an answer.
    assert not answered_in("Vibration high", question, table)
    assert not answered_in("Coolant low", question, table)
    # The question echoed from its own row adds nothing.
    assert not answered_in("E-204", question, table)


def test_a_value_too_short_to_hold_a_term_stands_only_as_its_line_writes_it() -> None:
    # Seen withheld in the evaluation: "2 mm" holds no term (one digit, a two-letter unit).
    table = (
        "| Setpoint | Tag | Unit | Range | Safe range | Max change per step |\n| --- | --- |\n"
        "| Shut height | press-3.shut_height_mm | mm | 350 to 650 | 400 to 600 | 2 mm |\n"
        "| Stroke rate | press-3.speed_spm | 1/min | 8 to 30 | 10 to 28 | 4 /min |"
    )
    question = "How much can I change the shut height in one go on press 3?"
    assert answered_in("2 mm", question, table)
    assert answered_in("2 mm.", question, table)
    assert not answered_in("3 mm", question, table)  # not written there
    assert not answered_in("3", question, table)  # the 3 of press-3
    assert not answered_in("4 /min", question, table)  # written, but on another row
    assert not answered_in("2 mm", "What does E-204 mean?", table)  # no row on the question


def test_long_passages_keep_their_table_header_and_the_rows_the_question_is_about() -> None:
    rows = [f"| Item {n} | filler text about nothing in particular {n} |" for n in range(30)]
    table = ["| Point | Lubricant |", "| --- | --- |", *rows]
    table.insert(20, "| Recirculating system | ISO VG 220 gear oil, 38 L |")
    text = "Lubricants and quantities.\n" + "\n".join(table)

    focused = focus(text, "Which oil for the recirculating system?", 300)

    assert len(focused) <= 400
    lines = focused.splitlines()
    assert lines[:3] == ["Lubricants and quantities.", "| Point | Lubricant |", "| --- | --- |"]
    assert "| Recirculating system | ISO VG 220 gear oil, 38 L |" in lines
    assert "..." in lines


# --- with the model (Qwen2.5-Coder-1.5B) --------------------------------------------------


@pytest.mark.slow
def test_an_answer_cites_the_passage_that_holds_the_fact_and_follow_ups_keep_context(
    live: LiveSystem,
) -> None:
    events = ask(live, "alice", "Which oil goes into the press 3 recirculating lube system?")

    answer = done(events)
    assert answer["abstained"] is False, answer
    assert "220" in answer["text"], answer
    cited = [resolves(live, "alice", c, events) for c in answer["citations"]]
    assert any("Mobilgear 600 XP 220" in text for text in cited), answer
    for citation in answer["citations"]:
        assert f"[{citation}]" in answer["text"]

    follow_up = ask(live, "alice", "How many litres does it hold?", answer["conversation_id"])

    second = done(follow_up)
    assert second["abstained"] is False and "38" in second["text"], second
    texts = [resolves(live, "alice", c, follow_up) for c in second["citations"]]
    assert any("38 L" in text for text in texts), second


@pytest.mark.slow
def test_a_live_state_question_cites_a_plant_fact(live: LiveSystem) -> None:
    live.sim_do(lambda plant: plant.apply_lockout("press-3", "carol"))
    eventually(lambda: live.cached_lockouts("press-3") == ["carol"])

    events = ask(live, "alice", "Is press 3 locked out right now, and by whom?")

    answer = done(events)
    assert answer["abstained"] is False, answer
    assert "carol" in answer["text"].lower(), answer
    plant = [c for c in answer["citations"] if c.startswith("plant:")]
    assert plant, answer
    assert any("carol" in resolves(live, "alice", c, events) for c in plant), answer


@pytest.mark.slow
def test_a_yes_no_question_on_live_state_is_answered_by_the_plant_fact(live: LiveSystem) -> None:
    # The 1.5B model answers such questions with a bare "No", which no source can bear out;
    # the plant fact it cites answers instead.
    live.sim_reset()  # every asset stopped
    driver = live.app.state.services.driver
    eventually(lambda: driver.state.asset("conveyor-2").run_state.value == "stopped")

    events = ask(live, "alice", "Is the transfer conveyor running right now?")

    answer = done(events)
    assert answer["abstained"] is False, answer
    assert "stopped" in answer["text"].lower(), answer
    assert any(c.startswith("plant:conveyor-2") for c in answer["citations"]), answer


@pytest.mark.slow
def test_an_order_typed_in_the_chat_is_planned_and_decided_by_control(live: LiveSystem) -> None:
    live.sim_do(lambda plant: plant.start("feeder-2"))
    driver = live.app.state.services.driver
    eventually(lambda: driver.state.asset("feeder-2").run_state.value == "running")

    events = ask(live, "alice", "Stop the coil feeder on line 2.")

    assert [name for name, _ in events] == ["sources", "plan", "done"], events
    plan = events[1][1]
    assert plan["status"] == "proposed" and plan["request_status"] == "executed", plan
    assert plan["steps"] == [{"command": "stop", "asset": "feeder-2"}]
    assert live.snapshot("feeder-2").run_state.value == "stopped"
    answer = events[-1][1]["answer"]
    assert answer["text"].startswith("Done: stop feeder-2"), answer
    turns = live.get(f"/chat/conversations/{answer['conversation_id']}", "alice").json()["turns"]
    assert [t["answer"] for t in turns] == [answer["text"]]

    before = live.actuations("press-3")
    risky = ask(live, "alice", "Start press 3.", answer["conversation_id"])
    plan = next(data for name, data in risky if name == "plan")
    assert plan["request_status"] == "waiting_approval", plan
    assert "supervisor" in plan["message"], plan
    assert live.actuations("press-3") == before  # nothing moves before a supervisor approves


@pytest.mark.slow
def test_an_order_the_guards_refuse_is_shown_with_its_reason(live: LiveSystem) -> None:
    events = ask(live, "alice", "Set press 3 speed to infinity.")
    plan = next(data for name, data in events if name == "plan")
    assert plan["status"] == "refused" and plan["request_status"] is None, plan
    assert "unbounded value" in plan["refusal"], plan
    assert events[-1][1]["answer"]["text"] == plan["refusal"]
