"""Builders shared by the contest tests: a small bank, organisations, contest specs."""

from __future__ import annotations

import redis.asyncio

from engine.core.contest import ContestSpec, Eligibility, LiveTiming, ScoringRules, WindowTiming
from engine.directory.banks import BankStore
from engine.directory.orgs import Organisation, OrgStore
from question_bank.draws import DrawRules
from question_bank.ids import BankId, OptionId, OrgId, ProvinceId, QuestionId
from question_bank.models import Bank, Option, Prediction, SingleChoice, TrueFalse

__all__ = ["live_spec", "make_bank", "now_ms", "setup_org", "window_spec"]


def make_bank(bank_id: str = "b1", questions: int = 6) -> Bank:
    """*questions* single-choice questions (correct option ``a``), a true/false and a
    prediction question ``pred``."""
    qs: list[SingleChoice | TrueFalse | Prediction] = [
        SingleChoice(
            id=QuestionId(f"q{i}"),
            text=f"Câu hỏi {i}?",
            points=10,
            options=[
                Option(id=OptionId("a"), text="Đúng", weight=1.0),
                Option(id=OptionId("b"), text="Sai"),
            ],
        )
        for i in range(1, questions + 1)
    ]
    qs.append(TrueFalse(id=QuestionId("tf"), text="Hà Nội là thủ đô?", answer=True))
    qs.append(Prediction(id=QuestionId("pred"), text="Bao nhiêu người đúng hết?", points=0))
    return Bank(id=BankId(bank_id), title="Ngân hàng thử", questions=list(qs))


async def setup_org(
    client: redis.asyncio.Redis,
    prefix: str,
    org: str,
    *,
    province: str | None = None,
    bank: Bank | None = None,
) -> str:
    """Create organisation *org* (provincial if *province*), store *bank* in it (default
    :func:`make_bank`); return a fresh API key."""
    orgs = OrgStore(client, prefix)
    await orgs.create(
        Organisation(
            id=OrgId(org),
            name=org.title(),
            kind="province" if province else "central",
            province=ProvinceId(province) if province else None,
        )
    )
    await BankStore(client, prefix).put(OrgId(org), bank or make_bank())
    return await orgs.create_key(OrgId(org))


async def now_ms(client: redis.asyncio.Redis) -> int:
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def window_spec(now: int, **overrides: object) -> ContestSpec:
    fields: dict[str, object] = {
        "title": "Vòng tuần 1",
        "mode": "window",
        "bank": BankId("b1"),
        "draw": DrawRules(count=5),
        "window": WindowTiming(
            opens_at=now - 1_000,
            closes_at=now + 3_600_000,
            attempt_seconds=600,
            attempts_allowed=2,
            prediction_question=QuestionId("pred"),
        ),
    }
    fields.update(overrides)
    return ContestSpec(**fields)  # type: ignore[arg-type]


def live_spec(now: int, **overrides: object) -> ContestSpec:
    fields: dict[str, object] = {
        "title": "Đấu trường trực tiếp",
        "mode": "live",
        "bank": BankId("b1"),
        "draw": DrawRules(count=3),
        "live": LiveTiming(starts_at=now + 60_000, question_seconds=10, elimination=True),
        "scoring": ScoringRules(speed=True, streak_step=2, streak_cap=3),
        "eligibility": Eligibility(),
    }
    fields.update(overrides)
    return ContestSpec(**fields)  # type: ignore[arg-type]
