"""The script loader: every script compiles, the prelude is prepended, NOSCRIPT reloads."""

import asyncio

import pytest
import redis.asyncio
from hypothesis import given
from hypothesis import strategies as st

from scoring import scripts as scripts_module
from scoring.errors import ScriptError, UnknownScript
from scoring.scripts import ScriptCall, Scripts, script_names, script_source
from tests.utils import timeout


def test_prelude_prepended_only_when_asked() -> None:
    text = script_source("open_question")
    assert text.startswith("-- _lib.lua")
    assert "local function now_ms()" in text
    assert "_lib" not in script_names()


def test_unknown_script() -> None:
    with pytest.raises(UnknownScript):
        script_source("no_such_script")
    with pytest.raises(UnknownScript):
        script_source("_lib")


async def test_every_script_compiles(redis_client: redis.asyncio.Redis) -> None:
    scripts = Scripts(redis_client)
    await scripts.load()
    names = script_names()
    assert names
    exists = await redis_client.script_exists(*[scripts.sha(n) for n in names])
    assert all(exists)


async def test_batch_reloads_after_script_flush(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    scripts = Scripts(redis_client)
    await redis_client.script_flush()
    base = f"{key_prefix}:{{c}}"
    calls = [
        ScriptCall(
            "open_question", [f"{base}:q:q{i}", f"{base}:meta"], [f"q{i}", i, 10000, 10, 1, 0, 0]
        )
        for i in range(3)
    ]
    results = await scripts.run_batch(calls)
    assert [r[0] for r in results] == [1, 1, 1]
    again = await scripts.run_batch(calls)
    assert [r[0] for r in again] == [0, 0, 0]
    assert [r[4] for r in again] == [b"open"] * 3


async def test_error_in_one_call_is_returned_not_raised(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    scripts = Scripts(redis_client)
    base = f"{key_prefix}:{{c}}"
    await redis_client.set(f"{base}:q:bad", "not a hash")
    calls = [
        ScriptCall("open_question", [f"{base}:q:bad", f"{base}:meta"], ["bad", 1, 1, 1, 1, 0, 0]),
        ScriptCall("open_question", [f"{base}:q:ok", f"{base}:meta"], ["ok", 2, 1, 1, 1, 0, 0]),
    ]
    bad, ok = await scripts.run_batch(calls)
    assert isinstance(bad, ScriptError)
    assert ok[0] == 1
    with pytest.raises(ScriptError):
        await scripts.call("open_question", calls[0].keys, calls[0].args)


_ARG = st.one_of(
    st.text(max_size=8),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False),
    st.binary(max_size=8),
    st.sampled_from([1, 1.0, "1", b"1", 0, 0.0, "0"]),  # equal in Python, not on the wire
)


@given(
    calls=st.lists(
        st.tuples(
            st.lists(st.sampled_from(["k:{c}:a", "k:{c}:é", "k:{c}:b"]), max_size=3),
            st.lists(_ARG, max_size=5),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_packed_calls_are_what_redis_py_sends(
    calls: list[tuple[list[str], list[str | int | float | bytes], bool]],
) -> None:
    """The batch path's own RESP encoding (with its caches, or without them for calls
    whose arguments do not repeat) matches redis-py's, call after call, whatever mix of
    argument types repeats."""
    connection = redis.asyncio.Connection()
    for keys, args, repeats in calls:
        call = ScriptCall("accept_answer", tuple(keys), args, repeats=repeats)
        expected = b"".join(
            connection.pack_command(
                "EVALSHA", scripts_module._sha(call.name), len(keys), *keys, *args
            )
        )
        assert scripts_module._pack(call) == expected


def test_equal_but_differently_typed_arguments_are_packed_apart() -> None:
    connection = redis.asyncio.Connection()
    for tail in ([1, "a"], [1.0, "a"], ["1", "a"], [b"1", "a"], [1, "a"], [-0.0], [0.0]):
        call = ScriptCall("accept_answer", ("k",), ["m", *tail])
        assert scripts_module._pack(call) == b"".join(
            connection.pack_command("EVALSHA", scripts_module._sha(call.name), 1, "k", "m", *tail)
        )


async def test_batches_keep_their_connection_and_drop_a_closed_one(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    """Batches one after another reuse one connection (not checked out of the pool each
    time); one the server closed meanwhile is dropped, and the next batch runs on a new
    connection; the kept connections go back to the pool when asked."""
    scripts = Scripts(redis_client)
    pool = redis_client.connection_pool
    call = ScriptCall("member_join", (f"{key_prefix}:p", f"{key_prefix}:n"), ["m", "{}"])

    def kept_socket() -> object:
        assert list(scripts._kept) == [pool] and len(scripts._kept[pool]) == 1
        return scripts._kept[pool][0]._writer.get_extra_info("sockname")

    sockets = set()
    for _ in range(5):
        assert await scripts.run_batch([call, call]) == [0, 0]
        sockets.add(kept_socket())
    assert len(sockets) == 1
    await redis_client.client_kill_filter(_type="normal", skipme=True)
    async with asyncio.timeout(timeout()):  # the server's close reaches the kept connection
        while not scripts._kept[pool][0]._reader.at_eof():
            await asyncio.sleep(0.01)
    assert await scripts.run_batch([call]) == [0]
    assert kept_socket() not in sockets
    await scripts.release_kept()
    assert scripts._kept == {} and not pool._in_use_connections


async def test_a_batch_redis_does_not_answer_in_time_fails_unavailable_and_the_next_runs(
    redis_url: str, redis_sync: object, key_prefix: str
) -> None:
    """The batch's timeout (the client's ``socket_timeout``): a batch Redis holds past it
    fails with RedisUnavailable, its connection is dropped (not kept with a late reply on
    it), and the next batch runs on another connection once Redis answers again."""
    from scoring.errors import RedisUnavailable

    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=0.3)
    scripts = Scripts(client)
    pool = client.connection_pool
    call = ScriptCall("member_join", (f"{key_prefix}:p", f"{key_prefix}:n"), ["m", "{}"])
    try:
        assert await scripts.run_batch([call]) == [0]
        first = scripts._kept[pool][0]
        redis_sync.execute_command("CLIENT", "PAUSE", "1200", "ALL")  # type: ignore[attr-defined]
        started = asyncio.get_running_loop().time()
        with pytest.raises(RedisUnavailable, match="timeout reading a batch"):
            await scripts.run_batch([call])
        assert 0.25 < asyncio.get_running_loop().time() - started < 1.0
        assert scripts._kept.get(pool, []) == [] and not first.is_connected
        await asyncio.sleep(1.2)  # the pause ends
        assert await scripts.run_batch([call]) == [0]
        assert scripts._kept[pool][0] is not first or first.is_connected
        await scripts.release_kept()
        assert not pool._in_use_connections
    finally:
        await client.aclose()
