"""Campaigns in Redis: create, read, schedule their rounds, report.

Keys (``P`` = key prefix)::

    P:campaigns   hash  campaign id -> msgpack Campaign (never removed: an id is never reused)

A campaign's rounds are contests of the contest store (``P:contests``) whose ``campaign``
names it: round *n* is ``<campaign>-r<nn>`` (a window round), the live final
``<campaign>-final``. Nothing else records them, so the rounds shown are always the contests
as they are (state and history included).
"""

from __future__ import annotations

import builtins
import secrets
from typing import Any

import msgspec

from engine.contests.store import ContestStore
from engine.core.campaign import (
    Campaign,
    CampaignReport,
    CampaignSpec,
    MemberFacts,
    RoundFacts,
    ScheduleSpec,
    build_report,
    check_campaign,
    check_schedule,
    parse_instant,
    round_id,
    schedule_problems,
    weekly_windows,
    zone_of,
)
from engine.core.contest import Contest, ContestSpec
from engine.core.errors import (
    CampaignExists,
    CampaignInvalid,
    CampaignNotFound,
    ContestInvalid,
    Forbidden,
)
from engine.core.lifecycle import State
from engine.directory.orgs import OrgStore
from engine.directory.units import load_units
from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import ContestId, MemberId, OrgId, ProvinceId, UnitId
from scoring.keys import DEFAULT_PREFIX, ContestKeys
from scoring.profiles import decode_profile

__all__ = ["CampaignStore", "campaigns_key", "final_id"]

_PLANNED_FIELDS = (
    "title",
    "mode",
    "bank",
    "draw",
    "description",
    "live",
    "window",
    "eligibility",
    "shards",
)
"""What a round planned by a dry run takes from its definition as it is."""

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Campaign)


def campaigns_key(prefix: str = DEFAULT_PREFIX) -> str:
    """hash: campaign id -> msgpack Campaign."""
    return f"{prefix}:campaigns"


def final_id(campaign: ContestId | str) -> ContestId:
    """The contest id of a campaign's live final."""
    return ContestId(f"{campaign}-final")


class CampaignStore:
    """Every organisation's campaigns in one Redis, under key prefix *prefix*."""

    def __init__(self, redis_client: AsyncRedis, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis_client
        self.prefix = prefix
        self.contests = ContestStore(redis_client, prefix)

    async def create(self, org: OrgId, spec: CampaignSpec) -> Campaign:
        """Store a new campaign of *org*; :class:`CampaignInvalid` lists every problem,
        :class:`CampaignExists` if the id was ever used."""
        problems = check_campaign(spec)
        if problems:
            raise CampaignInvalid(problems)
        campaign = Campaign(
            id=spec.id or ContestId(f"k-{secrets.token_hex(6)}"),
            org=org,
            title=spec.title,
            description=spec.description,
            rules=spec.rules,
            prizes=spec.prizes,
            eligibility=spec.eligibility,
            zone=spec.zone or (await OrgStore(self.redis, self.prefix).zone(org)).key,
            created_at=await self.contests.now_ms(),
        )
        created = await self.redis.hsetnx(
            campaigns_key(self.prefix), campaign.id, _ENCODER.encode(campaign)
        )
        if not created:
            raise CampaignExists(f"campaign id {campaign.id!r} is taken")
        return campaign

    async def get(self, campaign_id: ContestId | str) -> Campaign:
        raw: Any = await self.redis.hget(campaigns_key(self.prefix), campaign_id)
        if raw is None:
            raise CampaignNotFound(f"no campaign {campaign_id!r}")
        return _DECODER.decode(raw)

    async def get_owned(self, org: OrgId, campaign_id: ContestId | str) -> Campaign:
        """A campaign of *org*; :class:`Forbidden` if it belongs to another organisation."""
        campaign = await self.get(campaign_id)
        if not campaign.owned_by(org):
            raise Forbidden(f"campaign {campaign_id!r} belongs to another organisation")
        return campaign

    async def list(self, org: OrgId | None = None) -> builtins.list[Campaign]:
        """Campaigns (of *org*, or all), oldest first."""
        raw: dict[Any, Any] = await self.redis.hgetall(campaigns_key(self.prefix))
        found = [_DECODER.decode(blob) for blob in raw.values()]
        return sorted(
            (c for c in found if org is None or c.org == org), key=lambda c: (c.created_at, c.id)
        )

    async def rounds(self, campaign: Campaign) -> builtins.list[Contest]:
        """The campaign's contests: its window rounds by opening time, then its final."""
        contests = [c for c in await self.contests.list(campaign.org) if c.campaign == campaign.id]
        return sorted(contests, key=lambda c: (c.mode == "live", c.starts_at, c.id))

    async def schedule(
        self,
        org: OrgId,
        campaign_id: ContestId | str,
        spec: ScheduleSpec,
        *,
        dry_run: bool = False,
    ) -> builtins.list[Contest]:
        """Create every round of *spec*'s weekly rule (numbered after the rounds the campaign
        already has) and its final, each scheduled when *spec* says so. Everything is checked
        first (the rule, the times, every id free; the bank, draw and round rules as a
        window contest's on the shortest round, the final as a live contest): with a problem
        nothing is created, and a round's problem is located in *spec*
        (:func:`~engine.core.campaign.schedule_problems`). With *dry_run*, the same checks,
        and the rounds come back as they would be created (their ids, titles, times, state
        and window rules) without being stored: what the console shows the organiser to
        confirm."""
        campaign = await self.get_owned(org, campaign_id)
        zone = zone_of(campaign.zone)
        assert zone is not None  # checked at creation
        problems = check_schedule(spec.rule, zone)
        final_at = None
        if spec.final is not None:
            final_at = parse_instant(spec.final.starts_at, zone, field="final.starts_at")
            if isinstance(final_at, dict):
                problems.append(final_at)
        if problems:
            raise CampaignInvalid(problems)
        now = await self.contests.now_ms()
        windows = weekly_windows(spec.rule, zone)
        past = [n for n, (_, closes) in enumerate(windows, 1) if closes <= now]
        if past:
            message = f"round(s) {', '.join(map(str, past[:5]))} would close in the past"
            raise CampaignInvalid([{"field": "rule.starting", "message": message}])
        if isinstance(final_at, int) and final_at <= windows[-1][1]:
            raise CampaignInvalid(
                [{"field": "final.starts_at", "message": "must be after the last round closes"}]
            )
        existing = await self.rounds(campaign)
        numbered = len([c for c in existing if c.mode == "window"])
        title = spec.title or campaign.title
        specs: builtins.list[ContestSpec] = [
            ContestSpec(
                id=round_id(campaign.id, numbered + n),
                title=f"{title} — {numbered + n}",
                mode="window",
                bank=spec.bank,
                bank_version=spec.bank_version,
                draw=spec.draw,
                description=campaign.description,
                window=spec.window(opens, closes),
                eligibility=campaign.eligibility,
            )
            for n, (opens, closes) in enumerate(windows, 1)
        ]
        if spec.final is not None and isinstance(final_at, int):
            specs.append(
                ContestSpec(
                    id=final_id(campaign.id),
                    title=f"{title} — final",
                    mode="live",
                    bank=spec.bank,
                    bank_version=spec.bank_version,
                    draw=spec.final_draw or spec.draw,
                    description=campaign.description,
                    live=spec.final.timing(final_at),
                    eligibility=campaign.eligibility,
                    shards=spec.final.shards,
                    scoring=spec.final.scoring,
                )
            )
        ids = [str(s.id) for s in specs]
        taken: builtins.list[Any] = await self.redis.hmget(self.contests.keys.contests, ids)
        clash = [i for i, blob in zip(ids, taken, strict=True) if blob is not None]
        if clash:
            message = f"contest id(s) taken: {', '.join(map(str, clash[:5]))}"
            raise CampaignInvalid([{"field": "rule", "message": message}])
        # The rounds differ only in their ids, titles and times, all checked above but for
        # the window's length (the delay between attempts must be shorter): the shortest
        # round (a DST change moves a close by an hour) is checked as a contest, and the
        # final; their problems are located in *spec*.
        shortest = specs[min(range(len(windows)), key=lambda n: windows[n][1] - windows[n][0])]
        try:
            version, _ = await self.contests._checked(org, shortest, now)
        except ContestInvalid as exc:
            raise CampaignInvalid(schedule_problems(exc.problems, spec, final=False)) from exc
        if spec.final is not None:
            try:
                await self.contests._checked(org, specs[-1], now)
            except ContestInvalid as exc:
                raise CampaignInvalid(schedule_problems(exc.problems, spec, final=True)) from exc
        if dry_run:
            state: State = "scheduled" if spec.schedule else "draft"
            return [
                Contest(
                    **{f: getattr(s, f) for f in _PLANNED_FIELDS},
                    id=ContestId(str(s.id)),
                    org=org,
                    bank_version=version,
                    state=state,
                    campaign=campaign.id,
                )
                for s in specs
            ]
        created = []
        for contest_spec in specs:
            contest = await self.contests.create(org, contest_spec, campaign=campaign.id)
            if spec.schedule:
                contest = await self.contests.apply(contest.id, "schedule", org=org)
            created.append(contest)
        return created

    async def report(
        self, campaign: Campaign, *, province: ProvinceId | None = None
    ) -> CampaignReport:
        """The campaign's report (:func:`engine.core.campaign.build_report`) from each
        round's participants (``P:{C}:profiles``) and started attempts (``P:{C}:attn``; a
        live final's participant counts one attempt)."""
        rounds = await self.rounds(campaign)
        async with self.redis.pipeline(transaction=False) as pipe:
            for contest in rounds:
                keys = ContestKeys(contest.id, self.prefix)
                pipe.hgetall(keys.profiles)
                pipe.hgetall(keys.attempt_counts)
            replies: builtins.list[Any] = await pipe.execute()
        facts = []
        for i, contest in enumerate(rounds):
            profiles, counts = replies[2 * i], replies[2 * i + 1]
            members = []
            for member, blob in profiles.items():
                profile = decode_profile(blob)
                count = counts.get(member)
                members.append(
                    MemberFacts(
                        member=MemberId(member.decode()),
                        name=profile.name,
                        province=profile.province,
                        unit=profile.unit,
                        attempts=1 if contest.mode == "live" else int(count or 0),
                    )
                )
            facts.append(RoundFacts(round=contest.id, members=members))
        units = {
            UnitId(u.id): (u.province, u.members)
            for u in (await load_units(self.redis, prefix=self.prefix)).values()
        }
        return build_report(campaign.id, facts, units, province=province)
