"""Pure parts of the gateway: wire views of attempts (no answer leaks, the member's option
order), channel names, the relay's refusal of frames that are not server messages."""

from __future__ import annotations

import msgspec

from engine.core import messages as m
from engine.gateway.relay import Relay, contest_of_channel
from engine.window.views import attempt_message
from question_bank.ids import MemberId, OptionId, QuestionId
from question_bank.models import Option, SingleChoice, TrueFalse
from scoring.attempts import AttemptState, RecordedAnswer
from scoring.keys import GlobalKeys

Q1 = SingleChoice(
    id=QuestionId("q1"),
    text="Thủ đô?",
    points=10,
    explanation="secret explanation",
    options=[
        Option(id=OptionId("a"), text="Hà Nội", weight=1.0, feedback="right!"),
        Option(id=OptionId("b"), text="Huế"),
        Option(id=OptionId("c"), text="Đà Nẵng"),
    ],
)
Q2 = TrueFalse(id=QuestionId("q2"), text="Đúng không?", answer=True, feedback_true="yes")


def attempt(**overrides: object) -> AttemptState:
    fields: dict[str, object] = {
        "member": MemberId("m1"),
        "number": 2,
        "state": "open",
        "started": 1000,
        "deadline": 61_000,
        "now": 5000,
        "questions": [QuestionId("q2"), QuestionId("q1")],
        "options": {QuestionId("q1"): [OptionId("c"), OptionId("a"), OptionId("b")]},
        "points": {QuestionId("q1"): 10, QuestionId("q2"): 10},
        "answers": {QuestionId("q2"): RecordedAnswer(c="true", f=1.0, p=10, t=1200)},
        "score": 10,
        "answered": 1,
    }
    fields.update(overrides)
    return AttemptState(**fields)  # type: ignore[arg-type]


def test_attempt_message_in_the_members_order_without_answers() -> None:
    message = attempt_message(attempt(), {Q1.id: Q1, Q2.id: Q2}, attempts_allowed=3, best_score=10)
    assert [q.id for q in message.questions] == ["q2", "q1"]
    q2, q1 = message.questions
    assert [o.id for o in q1.options] == ["c", "a", "b"]
    assert [o.text for o in q1.options] == ["Đà Nẵng", "Hà Nội", "Huế"]
    assert (q1.index, q1.count, q1.kind, q1.attempt) == (1, 2, "single", 2)
    assert (q1.opens, q1.deadline, q1.sent_at) == (1000, 61_000, 5000)
    assert q2.options == [] and q2.kind == "true_false"
    assert q2.yours == m.AnswerRecord(answer="true", points=10, at=1200) and q1.yours is None
    assert message.answers == {"q2": q2.yours}
    assert (message.score, message.answered, message.attempts_allowed) == (10, 1, 3)
    text = m.encode(message).decode()
    for leak in ("weight", "feedback", "secret explanation", "right!", "yes"):
        assert leak not in text


def test_attempt_message_without_a_stored_order_uses_the_bank_order() -> None:
    message = attempt_message(attempt(options={}), {Q1.id: Q1, Q2.id: Q2})
    assert [o.id for o in message.questions[1].options] == ["a", "b", "c"]
    assert message.best_score is None


def test_contest_of_channel() -> None:
    assert contest_of_channel(GlobalKeys("ce").channel("weekly-1")) == "weekly-1"  # type: ignore[arg-type]
    assert contest_of_channel("ce:events:nothing") is None


def test_relay_drops_frames_that_are_not_server_messages() -> None:
    relay = Relay(None, {}, prefix="ce", clock=lambda: 0)  # type: ignore[arg-type]
    assert relay.deliver(b"ce:events:{c1}", b"\x00garbage") is None
    assert relay.deliver(b"ce:events:{c1}", b"[1, 2]") is None
    assert relay.deliver(b"ce:events:no-tag", b"{}") is None
    # a server message for a contest with no member here: relayed to nobody
    assert relay.deliver(b"ce:events:{c1}", msgspec.json.encode({"type": "state"})) == 0
