"""engine.directory.banks.BankStore on a real Redis: versions, isolation between orgs, delete."""

import asyncio
import contextlib
import multiprocessing
import os
import signal
import uuid
from typing import Any

import msgspec
import pytest
import redis.asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.directory.banks import BankStore, BankSummary
from question_bank.errors import BankInvalid, BankNotFound
from question_bank.ids import BankId, OptionId, OrgId, QuestionId
from question_bank.models import Bank, Option, SingleChoice, TrueFalse
from scoring.redis_server import RedisServer
from tests.utils import timeout

A = OrgId("hanoi")
B = OrgId("hue")


def make_bank(bank_id: str = "geo", title: str = "Địa lý", n: int = 2) -> Bank:
    questions: list[SingleChoice | TrueFalse] = [
        SingleChoice(
            id=QuestionId(f"q{i}"),
            text=f"Câu hỏi {i}?",
            options=[
                Option(id=OptionId("a"), text="Đúng", weight=1.0),
                Option(id=OptionId("b"), text="Sai"),
            ],
        )
        for i in range(n)
    ]
    questions.append(TrueFalse(id=QuestionId("tf"), text="Hà Nội là thủ đô?", answer=True))
    return Bank(id=BankId(bank_id), title=title, questions=list(questions))


@pytest.fixture
def store(redis_client: redis.asyncio.Redis, key_prefix: str) -> BankStore:
    return BankStore(redis_client, key_prefix)


async def test_put_get_roundtrip_sets_version(store: BankStore) -> None:
    bank = make_bank()
    assert await store.put(A, bank) == 1
    got = await store.get(A, BankId("geo"))
    assert got == msgspec.structs.replace(bank, version=1)
    assert got.questions[0].text == "Câu hỏi 0?"


async def test_replace_makes_new_version_and_keeps_old(store: BankStore) -> None:
    await store.put(A, make_bank(n=2))
    # A bank arriving with any version number gets the store's next number.
    v2 = await store.put(A, msgspec.structs.replace(make_bank(n=5, title="Mới"), version=7))
    assert v2 == 2
    latest = await store.get(A, BankId("geo"))
    assert (latest.version, latest.title, len(latest.questions)) == (2, "Mới", 6)
    old = await store.get(A, BankId("geo"), version=1)
    assert (old.version, old.title, len(old.questions)) == (1, "Địa lý", 3)
    assert await store.versions(A, BankId("geo")) == [1, 2]
    with pytest.raises(BankNotFound):
        await store.get(A, BankId("geo"), version=3)


async def test_concurrent_puts_get_distinct_versions(store: BankStore) -> None:
    versions = await asyncio.gather(*(store.put(A, make_bank(title=f"t{i}")) for i in range(8)))
    assert sorted(versions) == list(range(1, 9))
    assert await store.latest_version(A, BankId("geo")) == 8
    for version in versions:
        assert (await store.get(A, BankId("geo"), version)).version == version


async def test_orgs_are_isolated(store: BankStore) -> None:
    await store.put(A, make_bank("geo", "A's bank"))
    await store.put(B, make_bank("hist", "B's bank"))
    assert [s.id for s in await store.list(A)] == ["geo"]
    assert [s.id for s in await store.list(B)] == ["hist"]
    with pytest.raises(BankNotFound):
        await store.get(B, BankId("geo"))
    with pytest.raises(BankNotFound):
        await store.get(B, BankId("geo"), version=1)
    with pytest.raises(BankNotFound):
        await store.delete(B, BankId("geo"))
    # Same id in two orgs: two independent banks.
    assert await store.put(B, make_bank("geo", "B's geo")) == 1
    assert (await store.get(A, BankId("geo"))).title == "A's bank"
    assert (await store.get(B, BankId("geo"))).title == "B's geo"


async def test_list_summaries_sorted(store: BankStore) -> None:
    await store.put(A, make_bank("zeta", "Z", n=1))
    await store.put(A, make_bank("alpha", "A", n=3))
    await store.put(A, make_bank("alpha", "A2", n=4))
    assert await store.list(A) == [
        BankSummary(id=BankId("alpha"), title="A2", language="vi", version=2, questions=5),
        BankSummary(id=BankId("zeta"), title="Z", language="vi", version=1, questions=2),
    ]
    assert await store.list(OrgId("nobody")) == []


async def test_delete_hides_but_keeps_versions(store: BankStore) -> None:
    await store.put(A, make_bank())
    await store.put(A, make_bank(title="v2"))
    await store.delete(A, BankId("geo"))
    assert await store.list(A) == []
    with pytest.raises(BankNotFound):
        await store.get(A, BankId("geo"))
    with pytest.raises(BankNotFound):
        await store.versions(A, BankId("geo"))
    with pytest.raises(BankNotFound):
        await store.delete(A, BankId("geo"))
    assert not await store.exists(A, BankId("geo"))
    # A contest pinned to version 2 still reads it.
    assert (await store.get(A, BankId("geo"), version=2)).title == "v2"
    assert await store.exists(A, BankId("geo"), 2)
    # Re-creating continues the numbering: version 2 never means another bank.
    assert await store.put(A, make_bank(title="again")) == 3
    assert await store.versions(A, BankId("geo")) == [1, 2, 3]


async def test_missing_bank(store: BankStore) -> None:
    with pytest.raises(BankNotFound, match="nope"):
        await store.get(A, BankId("nope"))
    with pytest.raises(BankNotFound):
        await store.versions(A, BankId("nope"))


@pytest.mark.parametrize("bad", ["", "a:b", "-x", "a b", "x" * 65, "ngân-hàng"])
async def test_bad_ids_refused(store: BankStore, bad: str) -> None:
    with pytest.raises(BankInvalid) as info:
        await store.put(A, make_bank(bad))
    assert info.value.problems[0].code == "bad_bank_id"


async def test_keys_use_prefix_and_msgpack(
    store: BankStore, redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    await store.put(A, make_bank())
    keys = sorted(k.decode() for k in await redis_client.keys("*"))  # type: ignore[union-attr]
    assert keys == [f"{key_prefix}:bank:hanoi:geo:versions", f"{key_prefix}:banks:hanoi"]
    blob = await redis_client.hget(f"{key_prefix}:bank:hanoi:geo:versions", "1")
    assert isinstance(blob, bytes)
    assert msgspec.msgpack.decode(blob, type=Bank).version == 1


Op = tuple[str, str, str]  # (action, org, bank id)

ops = st.lists(
    st.tuples(
        st.sampled_from(["put", "delete"]),
        st.sampled_from(["hanoi", "hue"]),
        st.sampled_from(["geo", "hist"]),
    ),
    max_size=12,
)


@settings(max_examples=25, deadline=None)
@given(ops)
def test_store_matches_a_model(redis_server: RedisServer, sequence: list[Op]) -> None:
    """Any sequence of puts and deletes: versions count up per (org, id) and never change,
    deleted banks are hidden, every stored version stays readable."""

    async def scenario() -> None:
        # The session's server, a fresh prefix per example (nothing to flush between them).
        client = redis.asyncio.Redis.from_url(redis_server.url)
        store = BankStore(client, f"p{uuid.uuid4().hex[:8]}")
        stored: dict[tuple[str, str], list[str]] = {}  # title of each version
        live: set[tuple[str, str]] = set()
        try:
            for n, (action, org, bank_id) in enumerate(sequence):
                key = (org, bank_id)
                if action == "put":
                    version = await store.put(OrgId(org), make_bank(bank_id, title=f"t{n}"))
                    stored.setdefault(key, []).append(f"t{n}")
                    live.add(key)
                    assert version == len(stored[key])
                elif key in live:
                    await store.delete(OrgId(org), BankId(bank_id))
                    live.discard(key)
                else:
                    with pytest.raises(BankNotFound):
                        await store.delete(OrgId(org), BankId(bank_id))
            for org in ("hanoi", "hue"):
                listed = {s.id: s.version for s in await store.list(OrgId(org))}
                expected = {b: len(stored[(o, b)]) for (o, b) in live if o == org}
                assert listed == expected
            for (org, bank_id), titles in stored.items():
                for version, title in enumerate(titles, start=1):
                    bank = await store.get(OrgId(org), BankId(bank_id), version)
                    assert (bank.title, bank.version) == (title, version)
        finally:
            await client.aclose()

    asyncio.run(scenario())


def _parse_in_a_child(pids: Any) -> None:
    """A spawned process (as a gateway worker is) that parses a bank off its loop."""
    from engine.directory import banks

    async def parse() -> None:
        data = "text,option_a,option_b,correct\nThủ đô?,Hà Nội,Huế,a\n".encode()
        prepared = await banks.BankWorkers().prepare(data, "csv", bank_id="b")
        assert prepared.summary.questions == 1

    asyncio.run(parse())
    assert banks._pool is not None
    pids.put([p.pid for p in banks._pool._processes.values()])


def test_a_worker_process_that_parsed_a_bank_exits() -> None:
    """multiprocessing joins a child's children before concurrent.futures stops its pool:
    without a finalizer, a gateway worker that parsed an upload never exited."""
    context = multiprocessing.get_context("spawn")
    pids = context.Queue()
    child = context.Process(target=_parse_in_a_child, args=(pids,))
    child.start()
    pool_pids = pids.get(timeout=timeout(60))
    child.join(timeout(30))
    hung = child.is_alive()
    if hung:  # free it: stop the pool workers it waits for, then it
        for pid in pool_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        child.join(timeout(30))
    assert not hung, "the process did not exit after parsing a bank in its pool"
    assert child.exitcode == 0
