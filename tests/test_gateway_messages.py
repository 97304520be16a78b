"""Wire messages: every message round-trips; bad frames are refused by the one decoder."""

import msgspec
import pytest

from engine.core import messages as m

SERVER_SAMPLES: list[msgspec.Struct] = [
    m.Welcome(
        server_time=1,
        member=m.MemberInfo(id="m1", name="An", province="hn", unit="u1"),
        contest=m.ContestInfo(id="c1", title="T", mode="live", state="running"),
    ),
    m.Pong(t=5, server_time=7),
    m.Question(
        id="q1",
        index=0,
        count=3,
        kind="single",
        text="?",
        points=10,
        options=[m.OptionView(id="a", text="A")],
        yours=m.AnswerRecord(answer="a", points=5, at=100),
    ),
    m.Ack(question="q1", accepted=False, reason="late"),
    m.Reveal(question="q1", index=0, correct=["a", "b"], distribution={"a": 3}),
    m.Result(question="q1", points=5, total=9, rank=2, of=10),
    m.Leaderboard(top=[m.Standing(rank=1, member="m1", score=3)], you=None),
    m.AttemptState(attempt=1, state="open", started=1, deadline=2, server_time=1, questions=[]),
    m.StateChanged(state="closed", at=3),
    m.Closed(rank=1, score=20, final=True),
    m.Error(code="malformed", message="bad", seq=3),
]

CLIENT_SAMPLES: list[msgspec.Struct] = [
    m.Join(token="abc"),
    m.Ping(t=123),
    m.Answer(question="q1", answer=["a", "c"], seq=1),
    m.Answer(question="q1", answer=True),
    m.Answer(question="q1", answer=3.5),
    m.Answer(question="q1", answer="Hà Nội"),
    m.StartAttempt(),
    m.Resume(),
    m.Submit(prediction=1200),
    m.LeaderboardRequest(scope="province", limit=5),
]


@pytest.mark.parametrize("message", SERVER_SAMPLES, ids=lambda x: type(x).__name__)
def test_server_messages_round_trip(message: msgspec.Struct) -> None:
    assert m.decode_server(m.encode(message)) == message
    assert m.decode_server(m.encode_text(message)) == message


@pytest.mark.parametrize("message", CLIENT_SAMPLES, ids=lambda x: type(x).__name__)
def test_client_messages_round_trip(message: msgspec.Struct) -> None:
    assert m.decode_client(m.encode(message)) == message


def test_type_tag_names_the_message() -> None:
    assert m.encode(m.Ping(t=1)) == b'{"type":"ping","t":1}'
    assert m.encode(m.StartAttempt()) == b'{"type":"start_attempt"}'


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"not json",
        b"[]",
        b'{"type":"nope"}',
        b'{"type":"ping"}',
        b'{"type":"ping","t":-1}',
        b'{"type":"answer","question":"","answer":"a"}',
        b'{"type":"answer","question":"q","answer":{"x":1}}',
        b'{"type":"welcome","server_time":1}',
    ],
)
def test_bad_client_frames_are_refused(frame: bytes) -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        m.decode_client(frame)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    assert m.decode_client(b'{"type":"ping","t":1,"new":2}') == m.Ping(t=1)


def test_messages_are_frozen() -> None:
    ack = m.Ack(question="q1", accepted=True)
    with pytest.raises(AttributeError):
        ack.points = 3  # type: ignore[misc]
