"""Bad input a member app (or an abusive client) can send the gateway, found in review:
each gets a typed error frame or a documented close code, and the process keeps serving."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
import redis.asyncio
from websockets.exceptions import ConnectionClosed

from engine.core import messages as m
from engine.core.errors import CloseCode
from tests.gateway_support import (
    SECRET,
    client,
    create_contest,
    make_settings,
    recv,
    recv_until,
    running_gateway,
    send,
    token,
)
from tests.utils import timeout


async def closed_with(ws: Any, code: int) -> None:
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout(5))
    assert ws.close_code == code


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(claims: dict[str, Any], secret: str = SECRET) -> str:
    """An HS256 JWT of *claims*, signed with *secret*, encoded by hand (any claim values)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{_b64(signature.digest())}"


def claims(contest: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "sub": "m1",
        "name": "Member m1",
        "prov": "hanoi",
        "unit": "hn-01",
        "cid": contest,
        "iat": 1_700_000_000,
        "exp": 4_000_000_000,
    }
    values.update(overrides)
    return values


@pytest.fixture
async def live(redis_client: redis.asyncio.Redis, key_prefix: str):
    return await create_contest(redis_client, key_prefix, "live")


async def test_binary_frame_with_invalid_utf8_is_a_bad_message(redis_url, key_prefix, live):
    """Binary frames are accepted if they hold UTF-8 JSON; one that does not gets
    ``bad_message`` like any malformed frame (it used to end the connection with 1011)."""
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, token(live.id)) as ws:
            await recv_until(ws, m.Welcome)
            await ws.send(b'{"type":"answer","question":"q\xff","answer":"a","seq":1}')
            error = await recv(ws)
            assert isinstance(error, m.Error) and error.code == "bad_message"
            await send(ws, m.Ping(t=1))
            assert isinstance(await recv(ws), m.Pong)


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": "Nguyễn \ud83d"},  # a display name cut in the middle of an emoji
        {"sub": "m\udc80"},
        {"iat": "\ud800"},  # a mistyped claim that is not Unicode either
        {"prov": "x" * 2000},
        {"unit": "u" * 2000},
        {"sub": "m" * 2000},
        {"name": "n" * 2000},
    ],
    ids=[
        "lone-surrogate-name",
        "lone-surrogate-sub",
        "lone-surrogate-iat",
        "huge-prov",
        "huge-unit",
        "huge-sub",
        "huge-name",
    ],
)
async def test_signed_token_with_unusable_claims_is_malformed(
    redis_url, key_prefix, live, redis_client, overrides
):
    """A genuine signature over claims that cannot be stored or sent back (text that is not
    Unicode, ids longer than any id) is ``token_malformed`` then 4501, before anything of the
    member is written; it used to fail the connection handler (1011) or store the claims."""
    tok = signed(claims(live.id, **overrides))
    async with running_gateway(make_settings(redis_url, key_prefix, max_frame_bytes=4096)) as gw:
        for join_in_url in (True, False):
            async with client(gw, live.id, tok if join_in_url else None) as ws:
                if not join_in_url:
                    await send(ws, m.Join(token=tok))
                error = await recv(ws)
                assert isinstance(error, m.Error) and error.code == "token_malformed"
                await closed_with(ws, CloseCode.TOKEN_INVALID)
        async with client(gw, live.id, token(live.id)) as ws:
            assert isinstance(await recv(ws), m.Welcome)
    from scoring.keys import ContestKeys

    assert await redis_client.hkeys(ContestKeys(live.id, key_prefix).profiles) == [b"m1"]


async def test_submit_after_the_attempt_was_expired_by_the_sweeper_returns_it_expired(
    redis_url, key_prefix, redis_client
):
    """docs/protocol.md: a submit after the deadline is answered by ``attempt`` with state
    ``expired``, whether or not the scheduler's sweep closed the attempt first (it used to
    be ``error`` ``attempt_closed`` once the sweep had run, a second after the deadline)."""
    from engine.core.contest import WindowTiming
    from scoring.attempts import Attempts
    from tests.contest_helpers import now_ms

    now = await now_ms(redis_client)
    # Time enough to start an attempt and answer on a busy box (3 s was missed once under
    # load); then the test waits it out.
    closes = now + int(timeout(8) * 1000)
    timing = WindowTiming(opens_at=now - 1_000, closes_at=closes, attempts_allowed=2)
    contest = await create_contest(redis_client, key_prefix, "window", window=timing)
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, contest.id, token(contest.id)) as ws:
            await recv_until(ws, m.Welcome)
            await send(ws, m.StartAttempt())
            attempt = await recv_until(ws, m.AttemptState)
            assert attempt.deadline == timing.closes_at
            # The draw's order is random: answer a single-choice question (right answer "a"),
            # whichever place the draw gave it (the true/false one was first 1 run in 7).
            first = next(q for q in attempt.questions if q.kind == "single")
            await send(ws, m.Answer(question=first.id, answer="a", seq=1))
            assert (await recv_until(ws, m.Ack)).accepted
            async with asyncio.timeout(timeout(10)):
                while await now_ms(redis_client) <= attempt.deadline:
                    await asyncio.sleep(0.05)
            assert await Attempts(redis_client, contest.id, prefix=key_prefix).expire_due() == 1
            for _ in range(2):  # and again: the same answer
                await send(ws, m.Submit(prediction=5))
                expired = await recv_until(ws, (m.AttemptState, m.Error))
                assert isinstance(expired, m.AttemptState), expired
                assert (expired.state, expired.score, expired.prediction) == ("expired", 10, None)


async def test_an_answer_that_fails_inside_the_engine_gets_internal_with_its_seq(
    redis_url, key_prefix, live
):
    """Every error about an answer carries its ``seq`` (docs/protocol.md, ``error``), the
    unexpected ``internal`` one too, so the app can tell which answer it was."""
    from engine.gateway.members import MemberHandlers

    class Failing(MemberHandlers):
        async def answer(self, joined: Any, request: m.Answer) -> m.Ack:
            raise RuntimeError("a bug")

    settings = make_settings(redis_url, key_prefix)
    client_redis = redis.asyncio.Redis.from_url(redis_url)
    try:
        handlers = Failing(settings, client_redis)
        async with running_gateway(settings, handlers=handlers) as gw:
            async with client(gw, live.id, token(live.id)) as ws:
                await recv_until(ws, m.Welcome)
                await send(ws, m.Answer(question="q1", answer="a", seq=7))
                error = await recv_until(ws, m.Error)
                assert (error.code, error.seq) == ("internal", 7)
                await send(ws, m.Ping(t=1))
                assert isinstance(await recv(ws), m.Pong)
    finally:
        await client_redis.aclose()


def _doc_examples() -> list[tuple[str, str]]:
    """(direction, JSON) of every example in docs/protocol.md's message sections."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()
    client_part, server_part = doc.split("## Messages from the server", 1)
    client_part = client_part.split("## Messages from the client", 1)[1]
    found = []
    for direction, part in (("client", client_part), ("server", server_part)):
        found += [(direction, text) for text in re.findall(r"```json\n(.*?)```", part, re.S)]
    return found


def _same_shape(sent: Any, example: Any, where: str = "$") -> None:
    if isinstance(example, dict):
        assert isinstance(sent, dict) and list(sent) == list(example), where
        for key in example:
            _same_shape(sent[key], example[key], f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(sent, list) and len(sent) == len(example), where
        for i, (a, b) in enumerate(zip(sent, example, strict=True)):
            _same_shape(a, b, f"{where}[{i}]")
    else:
        assert sent == example, where


@pytest.mark.parametrize(("direction", "example"), _doc_examples())
def test_every_protocol_example_is_exactly_what_the_codec_reads_and_writes(
    direction: str, example: str
) -> None:
    """tests/test_gateway_docs.py checks that each message has an example; this checks the
    example itself: it decodes as a message of its side and encodes back to the same
    fields, in the same order (so a field renamed or added in code shows up here)."""
    decode = m.decode_client if direction == "client" else m.decode_server
    message = decode(example.encode())
    assert type(message).__struct_config__.tag == json.loads(example)["type"]
    _same_shape(json.loads(m.encode(message)), json.loads(example))


async def test_text_frame_with_invalid_utf8_closes_1007(redis_url, key_prefix, live):
    """websockets itself refuses a text frame that is not UTF-8 (1007, documented)."""
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, token(live.id)) as ws:
            await recv_until(ws, m.Welcome)
            await ws.send(b'{"type":"ping","t":1,"x":"\xff"}', text=True)
            await closed_with(ws, 1007)
        async with client(gw, live.id, token(live.id)) as ws:
            assert isinstance(await recv(ws), m.Welcome)


async def test_a_prediction_past_the_questions_maximum_is_refused_and_keeps_the_attempt_open(
    redis_url, key_prefix, redis_client
):
    """A prediction is checked against its question's ``max_value`` (bad input changes
    nothing); a round without a prediction question keeps none."""
    import msgspec

    from engine.core.contest import WindowTiming
    from question_bank.models import Prediction
    from tests.contest_helpers import make_bank, now_ms, setup_org
    from tests.gateway_support import ORG

    bank = make_bank()
    capped = [
        msgspec.structs.replace(q, max_value=50) if isinstance(q, Prediction) else q
        for q in bank.questions
    ]
    await setup_org(
        redis_client, key_prefix, ORG, bank=msgspec.structs.replace(bank, questions=capped)
    )
    with_prediction = await create_contest(redis_client, key_prefix, "window", setup=False)
    now = await now_ms(redis_client)
    plain = WindowTiming(opens_at=now - 1_000, closes_at=now + 3_600_000, attempt_seconds=600)
    without = await create_contest(redis_client, key_prefix, "window", setup=False, window=plain)
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, with_prediction.id, token(with_prediction.id)) as ws:
            await recv_until(ws, m.Welcome)
            await send(ws, m.StartAttempt())
            await recv_until(ws, m.AttemptState)
            await send(ws, m.Submit(prediction=51))
            error = await recv_until(ws, m.Error)
            assert error.code == "bad_answer" and "0 to 50" in (error.message or "")
            await send(ws, m.Submit(prediction=50))
            done = await recv_until(ws, m.AttemptState)
            assert (done.state, done.prediction) == ("submitted", 50)
        async with client(gw, without.id, token(without.id)) as ws:
            welcome = await recv_until(ws, m.Welcome)
            assert not welcome.contest.has_prediction
            await send(ws, m.StartAttempt())
            await recv_until(ws, m.AttemptState)
            await send(ws, m.Submit(prediction=10**9))
            done = await recv_until(ws, m.AttemptState)
            assert (done.state, done.prediction) == ("submitted", None)


async def test_a_draft_contest_cannot_be_joined_until_it_is_scheduled(
    redis_url, key_prefix, redis_client
):
    """A draft is not published (the public API hides it too): joining it closes with 4504;
    once the organiser schedules it, the same token joins."""
    from engine.contests.store import ContestStore
    from question_bank.ids import OrgId
    from tests.contest_helpers import live_spec, now_ms, setup_org
    from tests.gateway_support import ORG

    await setup_org(redis_client, key_prefix, ORG)
    store = ContestStore(redis_client, key_prefix)
    draft = await store.create(OrgId(ORG), live_spec(await now_ms(redis_client)))
    assert draft.state == "draft"
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, draft.id, token(draft.id)) as ws:
            await closed_with(ws, CloseCode.CONTEST_NOT_FOUND)
        await store.apply(draft.id, "schedule")
        async with client(gw, draft.id, token(draft.id)) as ws:
            welcome = await recv_until(ws, m.Welcome)
            assert welcome.contest.state == "scheduled"


async def test_a_member_who_stops_reading_is_dropped_and_the_others_keep_everything(
    redis_url, key_prefix, redis_client, live
):
    """Broadcasts are written without waiting for any socket, so the gateway caps what it
    holds unsent per connection (``max_write_buffer``): a member whose app stopped reading
    is dropped at the next sweep (1006, no handshake), and a reading member gets every
    frame and stays."""
    from engine.runtime import metrics
    from scoring.keys import GlobalKeys

    dropped = metrics.WS_DROPPED.labels("slow_reader")
    before = dropped._value.get()
    settings = make_settings(redis_url, key_prefix, max_write_buffer=1_048_576)
    async with running_gateway(settings) as gw:
        gw.sweep_seconds = 0.05
        async with (
            client(gw, live.id, token(live.id, "reader")) as reader,
            client(gw, live.id, token(live.id, "stalled")) as stalled,
        ):
            await recv_until(reader, m.Welcome)
            await recv_until(stalled, m.Welcome)
            stalled.transport.pause_reading()  # the app stops reading; the socket stays
            # 24 MB of broadcasts: more than the kernel buffers of the stalled socket hold
            # (its receive buffer never grew; the server's send buffer is at most 4 MB here).
            frames = 400
            pad = "x" * 60_000
            channel = GlobalKeys(key_prefix).channel(live.id)

            async def read_all() -> None:
                got = 0
                while got < frames:
                    got += '"type":"noise"' in await reader.recv()

            reading = asyncio.create_task(read_all())
            for n in range(frames):
                await redis_client.publish(channel, f'{{"type":"noise","n":{n},"pad":"{pad}"}}')
                if n % 10 == 9:
                    await asyncio.sleep(0.01)  # the reader shares this loop: let it keep up
            async with asyncio.timeout(timeout(30)):
                await reading
                while len(gw.connections) > 1:
                    await asyncio.sleep(0.05)
            assert dropped._value.get() == before + 1
            [kept] = gw.connections
            assert kept.joined is not None and kept.joined.member.id == "reader"
            await send(reader, m.Ping(t=1))
            assert isinstance(await recv_until(reader, m.Pong), m.Pong)
            stalled.transport.resume_reading()
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(stalled.recv(), timeout(5))
            assert stalled.close_code in (None, 1006)


def test_refused_frames_echo_their_seq_so_the_app_knows_which_answer_got_no_ack() -> None:
    """A rate-limited frame, or one that is not a valid message, used to get an error with
    ``seq: null``: the app could not tell which of its answers was dropped."""
    import msgspec

    from engine.core.session import Send, Session
    from tests.test_gateway_session import LIMITS, WELCOME

    limits = msgspec.structs.replace(
        LIMITS, messages_per_second=1, burst=1, flood_strikes=5, bad_frame_strikes=5
    )
    session = Session(limits, 0)
    welcome = WELCOME
    session.receive(m.encode(m.Join(token="tok")), 0)
    session.joined(welcome, 0)

    def error(frame: bytes, now: int) -> m.Error:
        [action] = session.receive(frame, now)
        assert isinstance(action, Send) and isinstance(action.message, m.Error)
        return action.message

    answer = m.encode(m.Answer(question="q1", answer="a", seq=7))
    limited = error(answer, 0)  # the bucket's one token went to the join
    assert (limited.code, limited.seq) == ("rate_limited", 7)
    wrong = error(b'{"type": "answer", "question": 5, "answer": "a", "seq": 9}', 5_000)
    assert (wrong.code, wrong.seq) == ("bad_message", 9)
    junk = [b"{not json", b"[1, 2]", b'{"type": "nope", "seq": "x"}', b"\xff"]
    for i, frame in enumerate(junk):
        assert error(frame, 10_000 + 2_000 * i).seq is None
