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


def _attempt_message_as_before(
    state: AttemptState, questions: dict[QuestionId, SingleChoice | TrueFalse]
) -> m.AttemptState:
    """The message as attempt_message built it before it kept each question's parts: the
    live question's view, then the member's option order and the attempt's fields."""
    from engine.core.views import answer_record, question_message

    answers = {str(qid): answer_record(a) for qid, a in state.answers.items()}
    views = []
    for index, qid in enumerate(state.questions):
        question = questions[qid]
        view = question_message(
            question,
            index=index,
            count=len(state.questions),
            opens=state.started,
            deadline=state.deadline,
            sent_at=state.now,
        )
        if isinstance(question, SingleChoice):
            by_id = {o.id: o for o in question.options}
            order = state.options.get(qid) or [o.id for o in question.options]
            options = [m.OptionView(id=o, text=by_id[o].text) for o in order if o in by_id]
            view = msgspec.structs.replace(view, options=options)
        views.append(msgspec.structs.replace(view, attempt=state.number, yours=answers.get(qid)))
    return m.AttemptState(
        attempt=state.number,
        state=state.state,
        started=state.started,
        deadline=state.deadline,
        server_time=state.now,
        questions=views,
        answers=answers,
        score=state.score,
        answered=state.answered,
        attempts_allowed=3,
        best_score=7,
        prediction=state.prediction,
    )


def test_attempt_message_is_the_same_message_as_before_its_parts_were_kept() -> None:
    bank = {Q1.id: Q1, Q2.id: Q2}
    for state in (
        attempt(),
        attempt(options={}),
        attempt(options={QuestionId("q1"): [OptionId("b"), OptionId("zz"), OptionId("a")]}),
        attempt(state="submitted", prediction=1200, answers={}),
    ):
        for _ in range(2):  # parts made, then reused
            message = attempt_message(state, bank, attempts_allowed=3, best_score=7)
            assert message == _attempt_message_as_before(state, bank)
            assert m.encode(message) == m.encode(_attempt_message_as_before(state, bank))


def test_attempt_message_parts_are_those_of_the_question_object_given() -> None:
    # Another bank version's question with the same id (new text, an option renamed) is
    # another object: its message shows its own text and options, not the parts kept for
    # the first one.
    first = attempt_message(attempt(options={}), {Q1.id: Q1, Q2.id: Q2})
    changed = msgspec.structs.replace(
        Q1,
        text="Capital?",
        options=[
            Option(id=OptionId("a"), text="Hanoi", weight=1.0),
            Option(id=OptionId("d"), text="Vinh"),
        ],
    )
    second = attempt_message(attempt(options={}), {Q1.id: changed, Q2.id: Q2})
    assert first.questions[1].text == "Thủ đô?"
    assert [(o.id, o.text) for o in first.questions[1].options] == [
        ("a", "Hà Nội"),
        ("b", "Huế"),
        ("c", "Đà Nẵng"),
    ]
    assert second.questions[1].text == "Capital?"
    assert [(o.id, o.text) for o in second.questions[1].options] == [("a", "Hanoi"), ("d", "Vinh")]
