"""The sans-I/O session: frames and times in, actions out; no sockets, no Redis."""

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import messages as m
from engine.core.errors import (
    CloseCode,
    ErrorCode,
    PeerError,
    TokenExpired,
    TokenForged,
    TokenWrongContest,
)
from engine.core.limits import Limits, TokenBucket
from engine.core.session import Authenticate, Close, Dispatch, Send, Session, State

LIMITS = Limits(
    messages_per_second=10,
    burst=5,
    flood_strikes=3,
    bad_frame_strikes=2,
    idle_ms=60_000,
    join_ms=5_000,
)

WELCOME = m.Welcome(
    server_time=0,
    member=m.MemberInfo(id="m1", name="An", province="hn", unit="u1"),
    contest=m.ContestInfo(id="c1", title="T", mode="live", state="running"),
)


def frame(message: msgspec.Struct) -> bytes:
    return m.encode(message)


def joined_session(now: int = 0) -> Session:
    session = Session(LIMITS, now)
    assert session.receive(frame(m.Join(token="tok")), now) == [Authenticate("tok")]
    assert session.state is State.JOINING
    assert session.joined(WELCOME, now) == [Send(WELCOME)]
    assert session.state is State.JOINED
    return session


def error_codes(actions: list) -> list[str]:
    return [
        a.message.code for a in actions if isinstance(a, Send) and isinstance(a.message, m.Error)
    ]


def test_join_then_welcome() -> None:
    joined_session()


def test_token_in_url_joins_at_start() -> None:
    session = Session(LIMITS, 0)
    assert session.start(0, token="url-token") == [Authenticate("url-token")]
    assert session.joined(WELCOME, 1) == [Send(WELCOME)]


def test_ping_answers_pong_with_server_time_even_before_join() -> None:
    session = Session(LIMITS, 0)
    assert session.receive(frame(m.Ping(t=42)), 1234) == [Send(m.Pong(t=42, server_time=1234))]


def test_requests_before_join_are_refused() -> None:
    session = Session(LIMITS, 0)
    actions = session.receive(frame(m.Answer(question="q1", answer="a", seq=7)), 10)
    assert actions == [Send(m.Error(code=ErrorCode.NOT_JOINED, seq=7))]
    assert error_codes(session.receive(frame(m.Resume()), 20)) == ["not_joined"]


def test_second_join_is_refused() -> None:
    session = joined_session()
    assert error_codes(session.receive(frame(m.Join(token="x")), 1)) == ["already_joined"]
    assert session.state is State.JOINED


@pytest.mark.parametrize(
    "request_",
    [
        m.Answer(question="q1", answer=["a", "b"], seq=3),
        m.StartAttempt(),
        m.Resume(),
        m.Submit(prediction=5),
        m.LeaderboardRequest(scope="unit"),
    ],
    ids=lambda r: type(r).__name__,
)
def test_requests_after_join_are_dispatched(request_: msgspec.Struct) -> None:
    session = joined_session()
    assert session.receive(frame(request_), 5) == [Dispatch(request_)]


@pytest.mark.parametrize(
    ("error", "close"),
    [
        (TokenForged(), CloseCode.TOKEN_INVALID),
        (TokenExpired(), CloseCode.TOKEN_EXPIRED),
        (TokenWrongContest(), CloseCode.TOKEN_WRONG_CONTEST),
    ],
)
def test_refused_join_sends_error_then_closes(error, close) -> None:
    session = Session(LIMITS, 0)
    session.receive(frame(m.Join(token="t")), 0)
    actions = session.refused(error)
    assert actions[0] == Send(m.Error(code=error.code, message=error.message))
    assert actions[1] == Close(close, str(error.code))
    assert session.state is State.CLOSED
    assert session.receive(frame(m.Ping(t=1)), 1) == []


def test_malformed_and_unknown_frames_get_errors_then_close() -> None:
    session = joined_session()
    assert error_codes(session.receive(b"{not json", 1)) == ["bad_message"]
    assert error_codes(session.receive(b'{"type":"nope"}', 2)) == ["unknown_type"]
    assert session.receive(b'{"type":"ping"}', 3) == [
        Close(CloseCode.BAD_PROTOCOL, "too many bad frames")
    ]


def test_a_good_frame_resets_bad_frame_strikes() -> None:
    session = joined_session()
    for i in range(10):
        assert error_codes(session.receive(b"[]", i * 1000)) == ["bad_message"]
        assert session.receive(frame(m.Ping(t=1)), i * 1000 + 1)[0] == Send(
            m.Pong(t=1, server_time=i * 1000 + 1)
        )


def test_flood_is_rate_limited_then_closed() -> None:
    session = joined_session()
    ping = frame(m.Ping(t=1))
    results = [session.receive(ping, 100) for _ in range(5 + 3 + 1)]
    assert all(isinstance(r[0].message, m.Pong) for r in results[:5])
    assert [error_codes(r) for r in results[5:8]] == [["rate_limited"]] * 3
    assert results[8] == [Close(CloseCode.FLOOD, "message rate limit exceeded")]


def test_rate_refills_over_time() -> None:
    session = joined_session()
    ping = frame(m.Ping(t=1))
    for _ in range(5):
        session.receive(ping, 0)
    assert error_codes(session.receive(ping, 0)) == ["rate_limited"]
    assert isinstance(session.receive(ping, 100)[0].message, m.Pong)  # 10/s: one token per 100 ms


def test_join_deadline_closes_a_silent_connection() -> None:
    session = Session(LIMITS, 1000)
    assert session.deadline == 6000
    assert session.expire(5999) == []
    assert session.expire(6000) == [Close(CloseCode.BAD_PROTOCOL, "no join in time")]


def test_idle_deadline_moves_with_each_frame() -> None:
    session = joined_session(0)
    assert session.deadline == 60_000
    session.receive(frame(m.Ping(t=1)), 30_000)
    assert session.deadline == 90_000
    assert session.expire(60_000) == []
    assert session.expire(90_000) == [Close(CloseCode.IDLE_TIMEOUT, "idle")]
    assert session.state is State.CLOSED


def test_joined_after_close_does_nothing() -> None:
    session = Session(LIMITS, 0)
    session.receive(frame(m.Join(token="t")), 0)
    session.closed()
    assert session.joined(WELCOME, 1) == []
    assert session.refused(TokenForged()) == []


@pytest.mark.parametrize(
    "data",
    ["[" * 1000, '{"a":' * 1500, '{"type":"answer","seq":7,"x":' + "[" * 2000, "[" * 4000 + "]"],
    ids=["arrays", "objects", "in-a-message", "deeper"],
)
def test_deeply_nested_frames_are_bad_messages_not_crashes(data: str) -> None:
    session = joined_session()
    actions = session.receive(data, 1)
    assert error_codes(actions) == ["bad_message"]
    assert session.state is State.JOINED
    assert session.receive(frame(m.Ping(t=2)), 2) == [Send(m.Pong(t=2, server_time=2))]


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=2, burst=2, now=0)
    assert [bucket.take(0), bucket.take(0), bucket.take(0)] == [True, True, False]
    assert bucket.take(500)
    assert not bucket.take(500)
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0)


DOCUMENTED = {code.value for code in ErrorCode}

TAGS = ["join", "ping", "answer", "start_attempt", "resume", "submit", "leaderboard", "pong", "x"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
FIELDS = ["token", "t", "question", "answer", "seq", "prediction", "scope", "limit"]
JSON_FRAMES = st.builds(
    lambda tag, fields: m.encoder.encode({"type": tag, **fields}),
    st.sampled_from(TAGS),
    st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=5),
)


NESTED_FRAMES = st.builds(
    lambda opener, depth, head, tail: (head + opener * depth + tail).encode(),
    st.sampled_from(["[", '{"a":']),
    st.integers(min_value=1, max_value=4000),
    st.sampled_from(["", '{"type":"answer","seq":7,"x":', '{"seq":1,"type":"ping","t":']),
    st.sampled_from(["", "]", "}", "1"]),
)
"""Frames nested deeper than Python's recursion limit (~1000 ``[`` fit in a 4 KiB frame)."""


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200), st.text(max_size=200).map(str.encode), JSON_FRAMES, NESTED_FRAMES
    )
)
def test_fuzz_every_frame_is_accepted_or_refused_with_a_documented_code(data: bytes) -> None:
    session = joined_session()
    session.limits = Limits(bad_frame_strikes=10**9, burst=10**9, messages_per_second=10**9)
    for action in session.receive(data, 1):
        if isinstance(action, Send):
            message = action.message
            assert isinstance(message, m.Pong | m.Error)
            if isinstance(message, m.Error):
                assert message.code in DOCUMENTED
        else:
            assert isinstance(action, Dispatch | Authenticate)


def test_join_deadline_spares_a_join_under_way() -> None:
    """A token sent in time whose join the gateway is still verifying is not closed by the
    join timer (a busy gateway must not discard work it started); the idle deadline still
    bounds it, and the join then completes."""
    session = Session(LIMITS, 0)
    assert session.start(100, token="url-token") == [Authenticate("url-token")]
    assert session.deadline == 60_000  # the idle deadline, not join_ms
    assert session.expire(5_000) == []
    assert session.expire(30_000) == []
    assert session.state is State.JOINING
    assert session.joined(WELCOME, 30_001) == [Send(WELCOME)]


def test_join_frame_in_time_is_not_closed_by_the_join_deadline() -> None:
    session = Session(LIMITS, 0)
    assert session.receive(frame(m.Join(token="tok")), 4_000) == [Authenticate("tok")]
    assert session.expire(9_000) == []
    assert session.expire(64_000) == [Close(CloseCode.IDLE_TIMEOUT, "idle")]


def test_refused_join_that_stays_open_is_under_the_join_deadline_again() -> None:
    session = Session(LIMITS, 0)
    session.receive(frame(m.Join(token="tok")), 1_000)
    session.refused(PeerError(code=ErrorCode.CONTEST_NOT_OPEN))  # keeps the connection
    assert session.state is State.CONNECTED
    assert session.deadline == 5_000
    assert session.expire(5_000) == [Close(CloseCode.BAD_PROTOCOL, "no join in time")]
