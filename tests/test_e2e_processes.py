"""End to end over several ``contest serve`` processes sharing one Redis.

* Two gateway processes with the members split between them see the same show: the same
  questions with the same deadlines, the same reveals, consistent results.
* Killing the process that conducts the show (SIGKILL, mid-question): the other process
  takes the conductor's lease over and the show goes on from its state in Redis, with no
  question skipped or released twice; the killed process's members reconnect to the other
  one and get their state back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("question_bank.draws")  # contests need it (being written)

import redis.asyncio

from engine.core import messages
from engine.core.show import Phase
from engine.live.conductor import conductor_lease_key, read_show
from question_bank.ids import ContestId
from tests.e2e import Member, ServerProcess, settings_for
from tests.test_e2e_live import create_show, right, wrong

pytestmark = pytest.mark.slow


def broadcasts(member: Member) -> list[tuple[str, int, str, int]]:
    """The show as a member saw it: (kind, index, question, deadline or answered count)."""
    out: list[tuple[str, int, str, int]] = []
    for m in member.received:
        if isinstance(m, messages.Question):
            out.append(("question", m.index, m.id, m.deadline))
        elif isinstance(m, messages.Reveal):
            out.append(("reveal", m.index, m.question, m.answered))
    return out


async def test_two_processes_members_split_see_the_same_show(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    contest = "split-show"
    servers = [
        ServerProcess(settings_for(redis_url, key_prefix), log=str(tmp_path / f"s{i}.log"))
        for i in range(2)
    ]
    members: list[Member] = []
    try:
        for server in servers:
            server.start()
        # Created once the servers listen, so that members join before the first question
        # (a member joining at the very moment a question is released may get it twice:
        # once on joining, once broadcast; apps tell them apart by index).
        bank = await create_show(redis_client, key_prefix, contest, starts_in_ms=1500, count=2)
        by_id = {q.id: q for q in bank.questions}
        members = [
            Member(servers[i % 2].settings, contest, f"m{i}", unit=f"u{i % 2}") for i in range(4)
        ]
        for member in members:
            await member.connect()
        for index in range(2):
            for i, member in enumerate(members):
                q = await member.wait(messages.Question, lambda m, x=index: m.index == x)
                value = right(by_id[q.id]) if i < 2 + index else wrong(by_id[q.id])
                ack = await member.answer(q.id, value)
                assert ack.accepted, ack
        for member in members:
            await member.wait(messages.Closed, seconds=15)
    finally:
        for member in members:
            await member.close()
        for server in servers:
            server.stop()
    seen = [broadcasts(member) for member in members]
    assert [kind for kind, *_ in seen[0]] == ["question", "reveal"] * 2
    assert all(s == seen[0] for s in seen), seen  # same frames on both processes
    assert [answered for kind, _, _, answered in seen[0] if kind == "reveal"] == [4, 4]
    # m0 and m1 right twice (10 + 10 + a streak bonus of 2), m2 wrong then right (10), m3
    # wrong twice (0): ranks agree whichever process a member is on.
    finals = [
        (m.id, m.of(messages.Closed)[-1].score, m.of(messages.Closed)[-1].rank) for m in members
    ]
    scores = {mid: score for mid, score, _ in finals}
    assert scores == {"m0": 22, "m1": 22, "m2": 10, "m3": 0}
    ranks = {mid: rank for mid, _, rank in finals}
    assert sorted(ranks[m] for m in ("m0", "m1")) == [1, 2] and ranks["m2"] == 3
    assert ranks["m3"] == 4


async def test_killing_the_conductors_process_mid_show(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    contest = ContestId("kill-show")
    servers = [
        ServerProcess(
            settings_for(redis_url, key_prefix, conductor_lease_ms=1000),
            log=str(tmp_path / f"s{i}.log"),
        )
        for i in range(2)
    ]
    members: list[Member] = []
    try:
        for server in servers:
            server.start()
        bank = await create_show(redis_client, key_prefix, contest, starts_in_ms=1500, count=4)
        by_id = {q.id: q for q in bank.questions}
        members = [Member(servers[i % 2].settings, contest, f"m{i}") for i in range(4)]
        for member in members:
            await member.connect()
        # Question 0: everyone answers right.
        for member in members:
            q = await member.wait(messages.Question, lambda m: m.index == 0)
            assert (await member.answer(q.id, right(by_id[q.id]))).accepted
        # Question 1 released: kill the process that conducts the show, mid-question.
        q1 = await members[0].wait(messages.Question, lambda m: m.index == 1)
        holder = (await redis_client.get(conductor_lease_key(contest, key_prefix))).decode()
        pid = int(holder.split(":")[1])
        victim = next(s for s in servers if s.pid == pid)
        survivor = next(s for s in servers if s.pid != pid)
        on_survivor = [m for m in members if m.settings is survivor.settings]
        on_victim = [m for m in members if m.settings is victim.settings]
        # A member of the victim answers question 1 before the crash: it must not be lost.
        saved = on_victim[0]
        assert (await saved.answer(q1.id, right(by_id[q1.id]))).accepted
        victim.kill()
        for member in on_victim:
            with pytest.raises(ConnectionError):
                await member.wait(messages.Closed, seconds=5)
        # They reconnect, to the other process, and get their state back.
        moved = []
        for member in on_victim:
            again = Member(survivor.settings, contest, member.id)
            await again.connect()
            moved.append(again)
        for member in on_victim:
            await member.close()
        members = on_survivor + moved
        # The show goes on: every member answers the remaining questions right.
        for index in (2, 3):
            for member in members:
                q = await member.wait(messages.Question, lambda m, x=index: m.index == x, 15)
                assert (await member.answer(q.id, right(by_id[q.id]))).accepted
        for member in members:
            await member.wait(messages.Closed, seconds=15)
    finally:
        for member in members:
            await member.close()
        for server in servers:
            server.stop()
    # On the survivor all along: every question once, in order, each revealed once.
    for member in on_survivor:
        seen = [(kind, index) for kind, index, _, _ in broadcasts(member)]
        assert seen == [(k, i) for i in range(4) for k in ("question", "reveal")], seen
        deadlines = {i: d for kind, i, _, d in broadcasts(member) if kind == "question"}
        assert deadlines[1] == q1.deadline  # the taken-over question kept its deadline
    view = await read_show(redis_client, contest, key_prefix)
    assert view is not None and view.state.phase is Phase.DONE and view.state.entered
    assert view.plan.count == 4
    # Scores (10 a question, streak bonus 2 per step): the member who answered question 1
    # before the crash kept it (10 + 12 + 14 + 16); the others did not answer it, so their
    # streak restarted at question 2 (10 + 0 + 10 + 12).
    totals = {m.id: m.of(messages.Closed)[-1].score for m in members}
    assert totals == {m.id: 52 if m.id == saved.id else 32 for m in members}
