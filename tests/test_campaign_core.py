"""engine.core.campaign: the weekly rule (properties over zones and dates, DST included),
reading and showing times, the campaign checks and the report, every figure by hand."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.campaign import (
    WEEKDAYS,
    CampaignSpec,
    MemberFacts,
    RoundFacts,
    ScheduleSpec,
    WeeklyRule,
    build_report,
    check_campaign,
    check_schedule,
    local_iso,
    parse_instant,
    schedule_problems,
    weekly_windows,
)
from engine.core.contest import ContestSpec, WindowRanking, check_spec
from question_bank.draws import DrawRules
from question_bank.ids import BankId, ContestId, MemberId, ProvinceId, QuestionId, UnitId
from tests.contest_helpers import make_bank

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
ZONES = ["Asia/Ho_Chi_Minh", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "UTC"]


def _local(ms: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=zone)


def test_23_mondays_8_to_sundays_22_in_ho_chi_minh() -> None:
    rule = WeeklyRule(weeks=23, starting="2027-01-01")  # a Friday
    windows = weekly_windows(rule, HCM)
    assert len(windows) == 23
    assert local_iso(windows[0][0], HCM) == "2027-01-04T08:00:00+07:00"
    assert local_iso(windows[0][1], HCM) == "2027-01-10T22:00:00+07:00"
    assert local_iso(windows[22][0], HCM) == "2027-06-07T08:00:00+07:00"
    assert windows[0][0] == 1_799_024_400_000  # 2027-01-04T01:00Z, worked out by hand


def test_a_dst_change_keeps_the_local_time() -> None:
    paris = ZoneInfo("Europe/Paris")  # summer time from 2027-03-28 02:00
    rule = WeeklyRule(weeks=2, starting="2027-03-22", opens_on="monday", closes_on="monday")
    (o1, c1), (o2, c2) = weekly_windows(rule, paris)
    assert local_iso(o1, paris) == "2027-03-22T08:00:00+01:00"
    assert local_iso(o2, paris) == "2027-03-29T08:00:00+02:00"
    assert o2 - o1 == 7 * 86_400_000 - 3_600_000
    assert local_iso(c1, paris) == "2027-03-22T22:00:00+01:00"  # the first monday 22:00 after
    assert local_iso(c2, paris) == "2027-03-29T22:00:00+02:00"


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2035, 12, 31)),
    weeks=st.integers(1, 60),
    opens_on=st.sampled_from(WEEKDAYS),
    opens=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    days=st.integers(0, 6),
    closes=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
)
def test_weekly_windows_properties(
    zone: str,
    start: dt.date,
    weeks: int,
    opens_on: str,
    opens: dt.time,
    days: int,
    closes: dt.time,
) -> None:
    tz = ZoneInfo(zone)
    closes_on = WEEKDAYS[(WEEKDAYS.index(opens_on) + days) % 7]
    rule = WeeklyRule(
        weeks=weeks,
        starting=start.isoformat(),
        opens_on=opens_on,  # type: ignore[arg-type]
        opens_at=opens.strftime("%H:%M"),
        closes_on=closes_on,  # type: ignore[arg-type]
        closes_at=closes.strftime("%H:%M"),
    )
    assert check_schedule(rule, tz) == []
    windows = weekly_windows(rule, tz)
    assert len(windows) == weeks
    for n, (opens_at, closes_at) in enumerate(windows):
        assert opens_at < closes_at
        local = _local(opens_at, tz)
        assert local.date() == start + dt.timedelta(
            days=(WEEKDAYS.index(opens_on) - start.weekday()) % 7 + 7 * n
        )
        assert WEEKDAYS[local.weekday()] == opens_on
        exists = dt.datetime.combine(local.date(), opens, tzinfo=tz)
        if exists.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) == exists.replace(
            tzinfo=None
        ):  # the local time exists that day (not in a DST gap): it opens exactly then
            assert (local.hour, local.minute) == (opens.hour, opens.minute)
        closing = _local(closes_at, tz)
        assert WEEKDAYS[closing.weekday()] == closes_on or closing.minute != closes.minute
        assert closes_at - opens_at <= 7 * 86_400_000 + 3_600_000
        if n + 1 < weeks:  # non-overlapping (a DST gap may move an instant by its change)
            assert closes_at <= windows[n + 1][0] + 3_600_000


def test_times_in() -> None:
    assert parse_instant(1_799_024_400_000, HCM, field="t") == 1_799_024_400_000
    assert parse_instant("2027-01-04T08:00+07:00", HCM, field="t") == 1_799_024_400_000
    assert parse_instant("2027-01-04T01:00:00Z", HCM, field="t") == 1_799_024_400_000
    assert parse_instant("2027-01-04", HCM, field="t") == 1_799_024_400_000 - 8 * 3_600_000
    assert parse_instant("2027-01-04T08:00", HCM, field="t") == {
        "field": "t",
        "message": "'2027-01-04T08:00' has no zone: add one (+07:00, Z)",
    }
    bad = parse_instant("next monday", HCM, field="t")
    assert isinstance(bad, dict) and bad["field"] == "t"
    assert isinstance(parse_instant(-1, HCM, field="t"), dict)


def test_campaign_and_rule_problems() -> None:
    assert check_campaign(CampaignSpec(title="Tuần", zone="Asia/Ho_Chi_Minh")) == []
    problems = check_campaign(CampaignSpec(title="T", id="a:b", zone="Mars/Olympus"))
    assert [p["field"] for p in problems] == ["id", "zone"]
    assert check_campaign(CampaignSpec(title="T", zone="../../etc/passwd"))[0]["field"] == "zone"
    rule = WeeklyRule(weeks=2, starting="soon", opens_at="8:00", closes_at="24:00")
    fields = [p["field"] for p in check_schedule(rule, HCM)]
    assert fields == ["rule.opens_at", "rule.closes_at", "rule.starting"]


def _m(member: str, province: str, unit: str, attempts: int) -> MemberFacts:
    return MemberFacts(
        member=MemberId(member),
        name=member.upper(),
        province=ProvinceId(province),
        unit=UnitId(unit),
        attempts=attempts,
    )


UNITS = {
    UnitId("hn-1"): (ProvinceId("hanoi"), 10),
    UnitId("hn-2"): (ProvinceId("hanoi"), 5),
    UnitId("hue-1"): (ProvinceId("hue"), 4),
}
ROUNDS = [
    RoundFacts(
        round=ContestId("k-r01"),
        members=[
            _m("a", "hanoi", "hn-1", 2),
            _m("b", "hanoi", "hn-1", 1),
            _m("c", "hanoi", "hn-2", 1),
            _m("d", "hue", "hue-1", 3),
        ],
    ),
    RoundFacts(
        round=ContestId("k-r02"),
        members=[
            _m("a", "hanoi", "hn-1", 1),
            _m("d", "hue", "hue-1", 1),
            _m("e", "hue", "hue-1", 2),
        ],
    ),
]


def test_report_by_hand() -> None:
    report = build_report(ContestId("k"), ROUNDS, UNITS)
    r1, r2 = report.rounds
    assert (r1.participants, r1.attempts, r2.participants, r2.attempts) == (4, 7, 3, 4)
    assert [
        (p.province, p.registered, p.participants, p.attempts, p.participation_rate)
        for p in r1.provinces
    ] == [("hanoi", 15, 3, 4, 0.2), ("hue", 4, 1, 3, 0.25)]
    assert [
        (u.unit, u.registered, u.participants, u.attempts, u.participation_rate) for u in r1.units
    ] == [
        ("hn-1", 10, 2, 3, 0.2),
        ("hn-2", 5, 1, 1, 0.2),
        ("hue-1", 4, 1, 3, 0.25),
    ]
    assert [(u.unit, u.participants, u.attempts) for u in r2.units] == [
        ("hn-1", 1, 1),
        ("hue-1", 2, 3),
    ]
    total = report.total
    assert (total.round, total.participants, total.attempts) == ("total", 5, 11)
    assert [
        (p.province, p.participants, p.attempts, p.participation_rate) for p in total.provinces
    ] == [("hanoi", 3, 5, 0.2), ("hue", 2, 6, 0.5)]
    assert [(u.unit, u.participants, u.attempts, u.participation_rate) for u in total.units] == [
        ("hn-1", 2, 4, 0.2),
        ("hn-2", 1, 1, 0.2),
        ("hue-1", 2, 6, 0.5),
    ]
    assert [(m.member, m.rounds, m.attempts) for m in report.members] == [
        ("a", ["k-r01", "k-r02"], 3),
        ("b", ["k-r01"], 1),
        ("c", ["k-r01"], 1),
        ("d", ["k-r01", "k-r02"], 4),
        ("e", ["k-r02"], 2),
    ]


def test_a_provinces_slice() -> None:
    report = build_report(ContestId("k"), ROUNDS, UNITS, province=ProvinceId("hue"))
    assert [(r.participants, r.attempts) for r in report.rounds] == [(1, 3), (2, 3)]
    assert [p.province for p in report.total.provinces] == ["hue"]
    assert [m.member for m in report.members] == ["d", "e"]


def test_an_unknown_unit_has_no_rate() -> None:
    report = build_report(
        ContestId("k"),
        [RoundFacts(round=ContestId("r"), members=[_m("x", "hue", "nowhere", 1)])],
        UNITS,
    )
    assert report.total.units[0].registered == 0
    assert report.total.units[0].participation_rate is None
    assert report.total.provinces[0].registered == 4


def test_a_round_s_problems_are_located_in_the_schedule() -> None:
    """The contest checks of a round made from a schedule, located in the ``ScheduleSpec``:
    ``window.X`` is ``X``; the final's ``draw`` is ``final_draw`` when it has its own."""
    spec = ScheduleSpec(
        rule=WeeklyRule(weeks=1, starting="2031-01-06"),
        bank=BankId("b1"),
        draw=DrawRules(count=3),
        prediction_question=QuestionId("q1"),
        ranking=WindowRanking(tie_break=["fewest_attempts", "fewest_attempts"]),
    )
    opens = 1_925_000_000_000
    contest = ContestSpec(
        title="r",
        mode="window",
        bank=spec.bank,
        draw=spec.draw,
        window=spec.window(opens, opens + 86_400_000),
    )
    problems = check_spec(contest, make_bank(), now_ms=0)
    assert [p["field"] for p in schedule_problems(problems, spec, final=False)] == [
        "ranking.tie_break[1]",
        "prediction_question",
    ]
    final = [{"field": "draw", "message": "x"}, {"field": "live.question_seconds", "message": "y"}]
    assert [p["field"] for p in schedule_problems(final, spec, final=True)] == [
        "draw",
        "final.question_seconds",
    ]
    own = ScheduleSpec(rule=spec.rule, bank=spec.bank, draw=spec.draw, final_draw=spec.draw)
    assert schedule_problems(final, own, final=True)[0] == {"field": "final_draw", "message": "x"}
