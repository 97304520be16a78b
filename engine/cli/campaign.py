"""``contest campaign``: campaigns (many rounds of one contest) from the command line.

::

    contest campaign create --org ORG --title TITLE [--id ID] [--zone ZONE]
                            [--province P ...] [--unit U ...] [--description TEXT]
                            [--rules TEXT] [--prize-top N [--prize-scope global|province|unit]]
    contest campaign list [--org ORG]
    contest campaign show CAMPAIGN
    contest campaign schedule CAMPAIGN --bank BANK --count N --weeks W --starting DATE
                              [--opens-on monday] [--opens-at 08:00]
                              [--closes-on sunday] [--closes-at 22:00]
                              [--attempt-seconds S] [--attempts-allowed A]
                              [--prediction-question Q] [--counts best|last|first]
                              [--tie-break earliest_start|fewest_attempts ...]
                              [--min-seconds-between-attempts S]
                              [--board-updates answer|attempt]
                              [--final-at TIME [--final-shards N] [--final-question-seconds S]
                               [--final-speed] [--final-streak-step P --final-streak-cap C]]
                              [--draft] [--dry-run]
    contest campaign report CAMPAIGN [--csv [--members] | --json | --format xlsx --out FILE]

Times are the campaign's local time (its zone, by default Asia/Ho_Chi_Minh): ``--starting``
is a local date (``2027-01-04``), an ISO 8601 time with a zone, or epoch ms; the rounds open
on the first ``--opens-on`` on or after it. Every window round takes the same round rules,
a window contest's (docs/api.md, ``window``): ``--prediction-question`` (a prediction
question of the bank version the rounds pin: the prediction tie-break), ``--counts`` (the
attempt that counts), ``--tie-break`` (further keys, in the order given, each once),
``--min-seconds-between-attempts`` (needs ``--attempts-allowed`` other than 1) and
``--board-updates``; the schedule prints them under the rounds. ``--final-shards``
spreads the live final's members over 1-32 shards (a live contest's ``shards``; default 1);
``--final-question-seconds``, ``--final-speed`` and ``--final-streak-step``/``-cap`` are the
final's seconds per question and scoring (a live contest's ``live.question_seconds`` and
``scoring``); each needs ``--final-at``.
``--dry-run`` checks everything and prints the rounds it would create, creating nothing.
A new campaign's zone is its organisation's (``contest org set ORG --zone``) unless
``--zone`` names another.
Every command takes the Redis options ``--redis-url``, ``--data-dir``, ``--key-prefix``;
the organisation is named with ``--org`` (the HTTP API takes it from the API key). Errors
list every problem and change nothing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, get_args

import msgspec

from engine.campaigns.export import report_csv, report_xlsx
from engine.campaigns.store import CampaignStore
from engine.cli._common import add_redis_options, print_table, run_with_redis
from engine.core.campaign import (
    WEEKDAYS,
    CampaignSpec,
    PrizeRule,
    ScheduleSpec,
    campaign_view,
)
from engine.core.contest import (
    BoardUpdates,
    CountedAttempt,
    Eligibility,
    TieBreakKey,
    WindowTiming,
    located,
)
from engine.core.errors import CampaignInvalid
from engine.core.settings import Settings
from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import ContestId, OrgId, ProvinceId, UnitId

__all__ = ["register"]


def _instant(text: str) -> int | str:
    return int(text) if text.isdecimal() else text


def register(subparsers: Any) -> None:
    campaign = subparsers.add_parser(
        "campaign",
        help="campaigns: a contest run as many rounds",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = campaign.add_subparsers(dest="campaign_command", required=True, metavar="COMMAND")
    p = commands.add_parser("create", help="create a campaign")
    p.add_argument("--org", required=True)
    p.add_argument("--title", required=True)
    p.add_argument("--id")
    p.add_argument("--zone", help="IANA time zone (default: the organisation's)")
    p.add_argument("--province", action="append", default=[], help="eligible province")
    p.add_argument("--unit", action="append", default=[], help="eligible unit")
    p.add_argument("--description", default="")
    p.add_argument("--rules", default="", help="the rules text")
    p.add_argument("--prize-top", type=int, help="prize rule: the top N of each round win")
    p.add_argument("--prize-scope", choices=("global", "province", "unit"), default="global")
    p.add_argument("--prize", default="", help="what the prize rule's winners get")
    add_redis_options(p)
    p.set_defaults(func=lambda a: run_with_redis(a, lambda c, s: _create(c, s, a)))

    p = commands.add_parser("list", help="list campaigns")
    p.add_argument("--org")
    add_redis_options(p)
    p.set_defaults(func=lambda a: run_with_redis(a, lambda c, s: _list(c, s, a)))

    p = commands.add_parser("show", help="a campaign and its rounds (times in its zone)")
    p.add_argument("campaign")
    add_redis_options(p)
    p.set_defaults(func=lambda a: run_with_redis(a, lambda c, s: _show(c, s, a)))

    p = commands.add_parser("schedule", help="create every round of a weekly rule")
    p.add_argument("campaign")
    p.add_argument("--bank", required=True)
    p.add_argument("--bank-version", type=int)
    p.add_argument("--count", type=int, required=True, help="questions per attempt")
    p.add_argument("--weeks", type=int, required=True)
    p.add_argument("--starting", required=True, help="local date, ISO time with zone, or ms")
    p.add_argument("--opens-on", choices=WEEKDAYS, default="monday")
    p.add_argument("--opens-at", default="08:00", help="local HH:MM")
    p.add_argument("--closes-on", choices=WEEKDAYS, default="sunday")
    p.add_argument("--closes-at", default="22:00", help="local HH:MM")
    p.add_argument("--attempt-seconds", type=int, default=600)
    p.add_argument("--attempts-allowed", type=int, default=1, help="0: no limit")
    p.add_argument("--prediction-question", help="a prediction question of the bank: the tie-break")
    p.add_argument("--counts", choices=get_args(CountedAttempt), default="best")
    p.add_argument(
        "--tie-break",
        action="append",
        default=[],
        choices=get_args(TieBreakKey),
        help="a further tie-break key after submission time (repeatable, in order)",
    )
    p.add_argument(
        "--min-seconds-between-attempts",
        type=int,
        default=0,
        help="least time from the end of an attempt to the next start (0: none)",
    )
    p.add_argument(
        "--board-updates",
        choices=get_args(BoardUpdates),
        default="answer",
        help="write the boards after every answer (default), or when an attempt ends",
    )
    p.add_argument("--final-at", help="a live final at this time (ISO with zone, or ms)")
    p.add_argument("--final-shards", type=int, help="member shards of the live final, 1-32")
    p.add_argument(
        "--final-question-seconds", type=int, help="seconds per question of the final (10)"
    )
    p.add_argument(
        "--final-speed",
        action="store_true",
        help="speed points in the final: full at once, half at the deadline",
    )
    p.add_argument("--final-streak-step", type=int, help="bonus points per correct answer in a row")
    p.add_argument("--final-streak-cap", type=int, help="most steps of bonus a streak earns")
    p.add_argument("--draft", action="store_true", help="leave the rounds as drafts")
    p.add_argument("--dry-run", action="store_true", help="show the rounds, create nothing")
    add_redis_options(p)
    p.set_defaults(func=lambda a: run_with_redis(a, lambda c, s: _schedule(c, s, a)))

    p = commands.add_parser("report", help="participation per province and unit")
    p.add_argument("campaign")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="CSV (areas; --members: members)")
    output.add_argument("--json", action="store_true")
    output.add_argument(
        "--format",
        choices=("table", "json", "csv", "xlsx"),
        help="table (default), json, csv, or xlsx (both tables in one workbook; needs --out)",
    )
    p.add_argument("--members", action="store_true", help="with --csv: the members table")
    p.add_argument("--out", help="write the report to this file instead of standard output")
    add_redis_options(p)
    p.set_defaults(func=lambda a: run_with_redis(a, lambda c, s: _report(c, s, a)))


async def _create(client: AsyncRedis, settings: Settings, args: argparse.Namespace) -> int:
    prizes = []
    if args.prize_top is not None:
        prizes = [PrizeRule(top=args.prize_top, scope=args.prize_scope, prize=args.prize)]
    spec = CampaignSpec(
        title=args.title,
        id=args.id,
        zone=args.zone,
        description=args.description,
        rules=args.rules,
        prizes=prizes,
        eligibility=Eligibility(
            provinces=[ProvinceId(p) for p in args.province], units=[UnitId(u) for u in args.unit]
        ),
    )
    campaign = await CampaignStore(client, settings.key_prefix).create(OrgId(args.org), spec)
    print(f"created campaign {campaign.id} ({campaign.zone})")
    return 0


async def _list(client: AsyncRedis, settings: Settings, args: argparse.Namespace) -> int:
    campaigns = await CampaignStore(client, settings.key_prefix).list(
        OrgId(args.org) if args.org else None
    )
    print_table(["id", "org", "zone", "title"], [[c.id, c.org, c.zone, c.title] for c in campaigns])
    return 0


async def _show(client: AsyncRedis, settings: Settings, args: argparse.Namespace) -> int:
    store = CampaignStore(client, settings.key_prefix)
    campaign = await store.get(ContestId(args.campaign))
    view = campaign_view(campaign, await store.rounds(campaign))
    print(f"{campaign.title} ({campaign.id}, {campaign.org}, {campaign.zone})")
    print_table(
        ["round", "mode", "state", "opens", "closes"],
        [[r.id, r.mode, r.state, r.opens_local, r.closes_local or ""] for r in view.rounds],
    )
    return 0


async def _schedule(client: AsyncRedis, settings: Settings, args: argparse.Namespace) -> int:
    store = CampaignStore(client, settings.key_prefix)
    campaign = await store.get(ContestId(args.campaign))
    timing = {"question_seconds": args.final_question_seconds, "shards": args.final_shards}
    scoring = {
        "speed": args.final_speed or None,
        "streak_step": args.final_streak_step,
        "streak_cap": args.final_streak_cap,
    }
    timing = {name: value for name, value in timing.items() if value is not None}
    scoring = {name: value for name, value in scoring.items() if value is not None}
    final: dict[str, Any] | None = None
    if args.final_at is not None:
        final = {"starts_at": _instant(args.final_at), **timing}
        if scoring:
            final["scoring"] = scoring
    elif timing or scoring:
        fields = [*timing, *(f"scoring.{name}" for name in scoring)]
        raise CampaignInvalid(
            [{"field": f"final.{field}", "message": "needs --final-at"} for field in fields]
        )
    try:
        spec = msgspec.convert(
            {
                "rule": {
                    "weeks": args.weeks,
                    "starting": _instant(args.starting),
                    "opens_on": args.opens_on,
                    "opens_at": args.opens_at,
                    "closes_on": args.closes_on,
                    "closes_at": args.closes_at,
                },
                "bank": args.bank,
                "bank_version": args.bank_version,
                "draw": {"count": args.count},
                "attempt_seconds": args.attempt_seconds,
                "attempts_allowed": args.attempts_allowed,
                "prediction_question": args.prediction_question,
                "ranking": {"counts": args.counts, "tie_break": args.tie_break},
                "min_seconds_between_attempts": args.min_seconds_between_attempts,
                "board_updates": args.board_updates,
                "final": final,
                "schedule": not args.draft,
            },
            ScheduleSpec,
        )
    except msgspec.ValidationError as exc:
        raise CampaignInvalid([located(exc)]) from None
    created = await store.schedule(campaign.org, campaign.id, spec, dry_run=args.dry_run)
    view = campaign_view(campaign, created)
    would = "would be created (dry run)" if args.dry_run else f"of {campaign.id}"
    print(f"{len(created)} round(s) {would} ({campaign.zone}):")
    print_table(
        ["round", "state", "opens", "closes"],
        [[r.id, r.state, r.opens_local, r.closes_local or ""] for r in view.rounds],
    )
    window = next((r.window for r in view.rounds if r.window is not None), None)
    if window is not None:
        print(f"each round: {_round_rules(window)}")
    return 0


def _round_rules(window: WindowTiming) -> str:
    """A window round's attempts and rules, as ``name=value`` with the API's names."""
    rules = {
        "attempt_seconds": window.attempt_seconds,
        "attempts_allowed": window.attempts_allowed,
        "prediction_question": window.prediction_question or "-",
        "counts": window.ranking.counts,
        "tie_break": ",".join(window.ranking.tie_break) or "-",
        "min_seconds_between_attempts": window.min_seconds_between_attempts,
        "board_updates": window.board_updates,
    }
    return " ".join(f"{name}={value}" for name, value in rules.items())


def _report_format(args: argparse.Namespace) -> str:
    """The report's format from ``--format``, ``--csv`` or ``--json``; xlsx needs ``--out``
    (a workbook is not text for a terminal), and ``--out`` a file format."""
    fmt: str = args.format or ("csv" if args.csv else "json" if args.json else "table")
    if fmt == "xlsx" and not args.out:
        raise ValueError("--format xlsx writes a workbook: name the file with --out FILE")
    if fmt == "table" and args.out:
        raise ValueError("--out needs --format json, csv or xlsx")
    return fmt


async def _report(client: AsyncRedis, settings: Settings, args: argparse.Namespace) -> int:
    fmt = _report_format(args)
    store = CampaignStore(client, settings.key_prefix)
    report = await store.report(await store.get(ContestId(args.campaign)))
    if fmt != "table":
        if fmt == "xlsx":
            data = report_xlsx(report)
        elif fmt == "csv":
            data = report_csv(report, "members" if args.members else "areas")
        else:
            data = msgspec.json.encode(report) + b"\n"
        if args.out:
            with open(args.out, "wb") as out:
                out.write(data)
            print(f"wrote {args.out}")
        else:
            sys.stdout.write(data.decode("utf-8-sig"))
        return 0
    for part in [*report.rounds, report.total]:
        print(f"{part.round}: {part.participants} participant(s), {part.attempts} attempt(s)")
        print_table(
            ["province", "unit", "registered", "participants", "attempts", "rate"],
            [
                [
                    a.province,
                    a.unit,
                    a.registered,
                    a.participants,
                    a.attempts,
                    "" if a.participation_rate is None else f"{a.participation_rate:.2%}",
                ]
                for a in part.provinces + part.units
            ],
        )
    return 0
