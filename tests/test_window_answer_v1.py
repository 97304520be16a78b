"""The incremental window answer equals the fifth session's on random attempt histories.

Each example plays the same random steps (starts of up to three attempts, answers right,
partly right or wrong to questions worth 10, 10, 5 and 0 points (equal scores
are common, so time decides the best attempt), duplicates, predictions,
submits, deadlines passing and the sweeper) for a few members in several places on two
contests of a real redis-server: one answering through the fifth session's
``attempt_answer`` (tests/reference_lua: the best attempt recomputed from every attempt
hash on each answer), one through the engine's. Every script reads a clock the test sets
(the prelude's ``now_ms`` reads a key instead of Redis TIME), the same on both sides, so
times, ties and deadlines agree to the millisecond. After every step each acked outcome is
equal, and so is every key of the contest (attempts, best attempts, totals, times, every
board, units, distributions, answered counts, the audit stream without its ids).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import redis.asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from question_bank.ids import ContestId, MemberId, ProvinceId, QuestionId, UnitId
from scoring.attempts import Attempts, DrawnQuestion
from scoring.outcomes import decode_outcome
from scoring.profiles import Profile
from scoring.scripts import LUA_DIR, PRELUDE, Scripts, script_source
from scoring.window import WindowScoring

REFERENCE = Path(__file__).parent / "reference_lua"
PLACES = [("hn", "u1"), ("hn", "u2"), ("", "")]
POINTS = {"q0": 10, "q1": 10, "q2": 5, "q3": 0}
DURATION = 100
_serial = itertools.count()

_TIME = """local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end"""

step = st.tuples(
    st.sampled_from(["start", "answer", "answer", "answer", "answer", "submit", "predict"]),
    st.integers(0, 2),  # member
    st.integers(0, 3),  # question
    st.sampled_from([1.0, 0.0, 0.5, 1 / 3]),  # graded fraction
    st.sampled_from([0, 0, 1, 2, 7, 60]),  # ms the clock moves before the step
    st.booleans(),  # sweep after the step
)


def _clocked(source: str, clock_key: str) -> str:
    """*source* with the prelude's clock read from *clock_key* instead of Redis TIME."""
    assert _TIME in source
    fake = f"local function now_ms() return tonumber(redis.call('GET', '{clock_key}')) end"
    return source.replace(_TIME, fake)


class ClockScripts(Scripts):
    """The scoring scripts with the prelude's clock read from *clock_key*."""

    def __init__(self, client: redis.asyncio.Redis, clock_key: str) -> None:
        super().__init__(client)
        self.clock_key = clock_key

    def script(self, name: str) -> Any:
        found = self._registered.get(name)
        if found is None:
            found = self._registered[name] = self.client.register_script(
                _clocked(script_source(name), self.clock_key)
            )
        return found


def _v1_source() -> str:
    prelude = (LUA_DIR / f"{PRELUDE}.lua").read_text(encoding="utf-8")
    return prelude + "\n" + (REFERENCE / "attempt_answer_v1.lua").read_text(encoding="utf-8")


async def _contest_state(client: redis.asyncio.Redis, base: str) -> dict[str, Any]:
    """Every key of the contest by its name after the base, its value comparable."""
    out: dict[str, Any] = {}
    async for raw in client.scan_iter(match=f"{base}:*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else raw
        name = key[len(base) :]
        kind_raw = await client.type(key)
        kind = kind_raw.decode() if isinstance(kind_raw, bytes) else kind_raw
        if kind == "hash":
            value: Any = await client.hgetall(key)
            if name == ":best":
                value = {m: json.loads(v) for m, v in value.items()}
        elif kind == "zset":
            value = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            value = await client.smembers(key)
        elif kind == "stream":
            value = [fields for _, fields in await client.xrange(key) or []]
        else:
            value = await client.get(key)
        out[name] = value
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step, min_size=1, max_size=40))
@example(  # a second attempt becomes the best, then a wrong answer gives it back to the first
    steps=[
        ("start", 0, 0, 1.0, 0, False),
        ("answer", 0, 0, 1.0, 1, False),
        ("submit", 0, 0, 1.0, 1, False),
        ("start", 0, 0, 1.0, 0, False),
        ("answer", 0, 1, 1.0, 1, False),
        ("answer", 0, 3, 1.0, 7, False),
    ]
)
async def test_incremental_window_answer_equals_v1(
    redis_client: redis.asyncio.Redis,
    key_prefix: str,
    steps: list[tuple[str, int, int, float, int, bool]],
) -> None:
    serial = next(_serial)
    clock = f"{key_prefix}:clock:{serial}"
    now = 1_700_000_000_000
    await redis_client.set(clock, now)
    v1 = redis_client.register_script(_clocked(_v1_source(), clock))
    sides = []
    for name in ("ref", "new"):
        contest = ContestId(f"{name}{serial}")
        scripts = ClockScripts(redis_client, clock)
        sides.append(
            (
                Attempts(redis_client, contest, prefix=key_prefix, scripts=scripts),
                WindowScoring(redis_client, contest, key_prefix, scripts=scripts),
            )
        )
    drawn = [DrawnQuestion(id=QuestionId(q), points=p) for q, p in POINTS.items()]
    for kind, who, q, fraction, dt, sweep in steps:
        now += dt
        await redis_client.set(clock, now)
        member = MemberId(f"m{who}")
        province, unit = PLACES[who % len(PLACES)]
        profile = Profile(name=member, province=ProvinceId(province), unit=UnitId(unit))
        seen: list[list[Any]] = []
        for attempts, window in sides:
            seen.append([])
            if kind == "start":
                started = await attempts.start(
                    member, profile, drawn, duration_ms=DURATION, attempts_allowed=3
                )
                seen[-1].append((started.status, started.attempt, started.best))
            elif kind == "answer":
                used = max((await attempts.resume_outcome(member)).attempts_used, 1)
                call = window.answer_call(
                    member, used, QuestionId(f"q{q}"), fraction, f"c{q}",
                    province=province, unit=unit, choices=[f"c{q}"], given=f"c{q}",
                )  # fmt: skip
                if window is sides[0][1]:  # v1 takes the attempt hash as KEYS[1]
                    keys = [window.keys.attempt(member, used), *call.keys]
                    raw = await v1(keys=keys, args=list(call.args))
                else:
                    raw = await window.scripts.call(call.name, call.keys, call.args)
                seen[-1].append(decode_outcome(raw, window=True))
            elif kind == "submit":
                submitted = await attempts.submit(member, q * 100 if q else None)
                seen[-1].append((submitted.status, submitted.attempt))
            else:
                predicted = await attempts.predict(member, q * 1000)
                seen[-1].append((predicted.status, predicted.attempt))
            if sweep:
                seen[-1].append(await attempts.close_due())
        assert seen[0] == seen[1]
        ref_state = await _contest_state(redis_client, sides[0][0].keys.base)
        new_state = await _contest_state(redis_client, sides[1][0].keys.base)
        assert ref_state == new_state
