"""``contest demo``: the engine with a sample bank, a window round and a live show, at once.

::

    contest demo [--members N] [--bank FILE] [serve options: --workers, --redis-url, ...]

Serves like ``contest serve`` (with no ``--redis-url``, on an embedded redis-server keeping
its AOF in ``--data-dir``), then, once everything listens:

* registers the central organisation and prints a new organiser API key for it;
* stores the Vietnamese sample bank (``question_bank/samples/vi-sample.yaml``) as a new
  version;
* creates and schedules a **window round** open now for a week (10 questions, 10 minutes an
  attempt, 3 attempts, the bank's prediction question) and a **live show** starting a minute
  later (5 questions of 10 seconds, speed points and a streak bonus); the scheduler opens
  and starts them on time;
* prints, for a few members, a player link for each contest (the member player in a
  browser, ``/play``, with the member's join token: docs/player.md) and the WebSocket URL
  with the token for any other client, and the organiser console's address (``/console``).

It keeps serving until Ctrl-C, which stops the engine (and the embedded Redis). Contest ids
carry the time they were made, so running the demo again on the same data folder adds new
contests beside the old ones.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import redis.asyncio

import question_bank
from engine.cli._common import fail, load_settings, log_to_stderr, say
from engine.cli.bank import input_format
from engine.cli.serve import ServeInfo, add_serve_options, serve
from engine.core.settings import Settings
from engine.http import play
from question_bank.draws import DrawRules, check_rules
from question_bank.errors import QuestionBankError
from question_bank.formats import load_file
from question_bank.ids import ContestId, OrgId, QuestionId
from question_bank.models import Bank, Prediction

__all__ = ["SAMPLE_BANK", "DemoInfo", "DemoMember", "register", "render", "set_up"]

SAMPLE_BANK = Path(question_bank.__file__).resolve().parent / "samples" / "vi-sample.yaml"
"""The sample bank the demo loads (package data of ``question_bank``)."""

ORG = OrgId("central")
LIVE_DELAY_MS = 60_000
WINDOW_QUESTIONS = 10
LIVE_QUESTIONS = 5
TOKEN_TTL_SECONDS = 24 * 3600

_MEMBERS = (
    ("Nguyễn Văn An", "hanoi", "hn-bach-khoa"),
    ("Trần Thị Bình", "hcm", "hcm-quan-1"),
    ("Lê Minh Châu", "danang", "dn-hai-chau"),
    ("Phạm Quốc Dũng", "hanoi", "hn-cau-giay"),
    ("Hoàng Thu Hà", "haiphong", "hp-le-chan"),
)


class DemoMember(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    province: str
    unit: str
    window_url: str
    live_url: str
    window_play: str = ""
    """The window round in the member player (``/play`` with the token in the fragment)."""
    live_play: str = ""


class DemoInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`set_up` created."""

    http_url: str
    api_key: str
    bank: str
    bank_version: int
    questions: int
    window: ContestId
    closes_at: int
    live: ContestId
    starts_at: int
    members: list[DemoMember]


def _prediction_question(bank: Bank) -> QuestionId | None:
    return next((q.id for q in bank.questions if isinstance(q, Prediction)), None)


async def set_up(
    redis_url: str,
    settings: Settings,
    ws_url: str,
    http_url: str,
    members: int = 3,
    bank: Bank | Path = SAMPLE_BANK,
) -> DemoInfo:
    """Store *bank* (a file to load, or a loaded bank; default the sample) and create the
    two contests and the tokens (see the module)."""
    from engine.core.contest import ContestSpec, LiveTiming, ScoringRules, WindowTiming
    from engine.directory import tokens
    from engine.directory.banks import BankStore
    from engine.directory.orgs import OrgStore
    from question_bank.draws import DrawRules

    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        from engine.contests.store import ContestStore

        orgs = OrgStore(client, settings.key_prefix)
        await orgs.ensure(ORG)
        api_key = await orgs.create_key(ORG)
        if not isinstance(bank, Bank):
            bank = load_file(bank)
        version = await BankStore(client, settings.key_prefix).put(ORG, bank)
        store = ContestStore(client, settings.key_prefix)
        now = await store.now_ms()
        stamp = datetime.fromtimestamp(now / 1000, UTC).strftime("%Y%m%d-%H%M%S")
        window = await store.create(
            ORG,
            ContestSpec(
                id=ContestId(f"demo-window-{stamp}"),
                title="Vòng thi tuần (demo)",
                mode="window",
                bank=bank.id,
                bank_version=version,
                draw=DrawRules(count=WINDOW_QUESTIONS),
                window=WindowTiming(
                    opens_at=now,
                    closes_at=now + 7 * 24 * 3600 * 1000,
                    attempt_seconds=600,
                    attempts_allowed=3,
                    prediction_question=_prediction_question(bank),
                ),
            ),
        )
        live = await store.create(
            ORG,
            ContestSpec(
                id=ContestId(f"demo-live-{stamp}"),
                title="Đấu trường trực tiếp (demo)",
                mode="live",
                bank=bank.id,
                bank_version=version,
                draw=DrawRules(count=LIVE_QUESTIONS),
                live=LiveTiming(
                    starts_at=now + LIVE_DELAY_MS,
                    question_seconds=10,
                    reveal_seconds=5,
                    leaderboard_seconds=3,
                ),
                scoring=ScoringRules(speed=True, streak_step=10, streak_cap=5),
            ),
        )
        for contest in (window, live):
            await store.apply(contest.id, "schedule")  # the scheduler opens/starts them
        people: list[DemoMember] = []
        for i in range(members):
            name, province, unit = _MEMBERS[i % len(_MEMBERS)]
            member = f"member-{i + 1}"
            urls = {}
            plays = {}
            for contest in (window, live):
                token = tokens.issue(
                    settings.token_secret,
                    contest=contest.id,
                    member=member,
                    name=name,
                    province=province,
                    unit=unit,
                    ttl_seconds=TOKEN_TTL_SECONDS,
                )
                urls[contest.mode] = f"{ws_url}{contest.id}?token={token}"
                plays[contest.mode] = play.link(http_url, f"{ws_url}{contest.id}", token)
            people.append(
                DemoMember(
                    id=member,
                    name=name,
                    province=province,
                    unit=unit,
                    window_url=urls["window"],
                    live_url=urls["live"],
                    window_play=plays["window"],
                    live_play=plays["live"],
                )
            )
        return DemoInfo(
            http_url=http_url,
            api_key=api_key,
            bank=bank.id,
            bank_version=version,
            questions=len(bank.questions),
            window=window.id,
            closes_at=window.window.closes_at if window.window else 0,
            live=live.id,
            starts_at=live.starts_at,
            members=people,
        )
    finally:
        await client.aclose()


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render(info: DemoInfo) -> str:
    """The demo's printout."""
    lines = [
        "",
        "=== contest demo ===",
        f"HTTP API       {info.http_url}",
        f"Organiser key  {info.api_key}",
        '               (organisation "central"; header "Authorization: Bearer <key>")',
        f"Sample bank    {info.bank} version {info.bank_version} ({info.questions} questions)",
        f"Window round   {info.window}: open now until {_when(info.closes_at)}",
        f"Live show      {info.live}: starts {_when(info.starts_at)} (in a minute)",
        f"Console        {info.http_url}/console (sign in with the organiser key)",
        "",
        "Members (join tokens valid 24 h): open a player link in a browser tab, or a WebSocket",
        "URL with any WebSocket client:",
    ]
    for member in info.members:
        lines += [
            f"  {member.id}: {member.name} ({member.province}, {member.unit})",
            f"    play window  {member.window_play}",
            f"    play live    {member.live_play}",
            f"    window  {member.window_url}",
            f"    live    {member.live_url}",
        ]
    lines += [
        "",
        'Window round: send {"type": "start_attempt"}, then '
        '{"type": "answer", "question": "<id>", "answer": "<option id>"}, then '
        '{"type": "submit", "prediction": 3}.',
        "Live show: wait for each question, answer it before its deadline.",
        "The player: docs/player.md; the protocol: docs/protocol.md. Ctrl-C stops the engine.",
        "",
    ]
    return "\n".join(lines)


def _demo_command(args: argparse.Namespace) -> int:
    # Read the bank before anything starts: a missing or invalid file is a message, not a
    # traceback from a server that is already listening.
    try:
        bank = load_file(args.bank, input_format(args.bank, None))
    except (QuestionBankError, OSError) as exc:
        return fail(exc)
    short = check_rules(bank, DrawRules(count=max(WINDOW_QUESTIONS, LIVE_QUESTIONS)))
    if short:
        return fail(f"{args.bank}: the demo draws {WINDOW_QUESTIONS} questions: {short[0]}")
    log_to_stderr()
    settings = load_settings(
        workers=args.workers,
        redis_url=args.redis_url,
        host=args.host,
        ws_port=args.ws_port,
        http_port=args.http_port,
        data_dir=args.data_dir,
    )

    async def ready(info: ServeInfo) -> None:
        demo = await set_up(
            info.redis_url,
            info.settings,
            info.ws_url,
            info.http_url,
            members=args.members,
            bank=bank,
        )
        say(render(demo))

    return serve(settings, on_ready=ready, demo=True)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="serve with a sample bank, a window round open now and a live show soon"
    )
    add_serve_options(parser)
    parser.add_argument("--members", type=int, default=3, help="member tokens to print (default 3)")
    parser.add_argument(
        "--bank",
        default=str(SAMPLE_BANK),
        help="bank file to load instead of the sample (any format `contest bank` reads)",
    )
    parser.set_defaults(func=_demo_command)
