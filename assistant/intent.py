"""Whether a message may ask for an action or only asks a question: a cheap, deterministic cut,
used by the chat (which messages go to the planner) and by the planner (a question gets no plan).

A message phrased as a question ("What speed is press 3 at?", "how do I lock out the P-400",
"show me the jam steps") is answered from the documents. Anything else ("Stop feeder 2",
"Press 3 back to 20 please", "the conveyor gearmotor is dead, write it up") may ask for an
action and goes to the planner, whose model can still say it is a question (``answer_only``),
in which case the chat answers it after all. Erring towards the planner costs one model call;
erring the other way would answer an order with prose and do nothing, so the cut leans that way.
"""

from __future__ import annotations

import re

# Openings of a request to be told or shown something.
_TELL = r"show|tell|explain|describe|list|find|give me|help me understand"
# Openings of a question, or of a request to be told.
_QUESTION_START = re.compile(
    r"^(what|what's|whats|how|why|when|where|which|who|whom|whose|is|are|was|were|am|does|do|"
    rf"did|has|have|had|should|shall|may|might|must|isn't|aren't|doesn't|don't|{_TELL})\b"
)
# "Can you stop feeder 2" asks for an action; "can you tell me ..." asks to be told.
_ASK_TO_ACT = re.compile(r"^(please\s+)?(can|could|would|will)\s+you\b(\s+please)?\s*(?P<rest>.*)")
_ASK_TO_TELL = re.compile(rf"^({_TELL})\b")
_CAN_I = re.compile(r"^(can|could|may)\s+(i|we)\b")


def asks_for_action(message: str) -> bool:
    """Whether ``message`` may ask Andon to act (then the planner decides), else a question."""
    text = " ".join(message.lower().split())
    if (polite := _ASK_TO_ACT.match(text)) is not None:
        return _ASK_TO_TELL.match(polite.group("rest")) is None
    if text.endswith("?") or _CAN_I.match(text):
        return False
    return _QUESTION_START.match(text) is None
