"""Weekly recurrences expand to the right UTC instants, also across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from maas.domain.recurrence import WeeklyRule, expand


def rule(**kw: object) -> WeeklyRule:
    base: dict[str, object] = {
        "weekdays": (7,),
        "local_depart_earliest": time(7, 30),
        "local_depart_latest": time(7, 45),
        "valid_from": date(2026, 1, 1),
    }
    base.update(kw)
    return WeeklyRule(**base)  # type: ignore[arg-type]


def test_sundays_around_the_spring_change_keep_local_time() -> None:
    # 2026-03-29 is the Sunday Berlin moves from CET (+1) to CEST (+2).
    occ = expand(rule(), datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 4, 6, tzinfo=UTC))
    assert [o.local_date for o in occ] == [date(2026, 3, 22), date(2026, 3, 29), date(2026, 4, 5)]
    assert [o.depart_earliest.hour for o in occ] == [6, 5, 5]
    assert all(o.depart_earliest.minute == 30 for o in occ)
    assert all((o.depart_latest - o.depart_earliest).seconds == 15 * 60 for o in occ)


def test_autumn_change() -> None:
    # 2026-10-25: back from CEST to CET.
    occ = expand(rule(), datetime(2026, 10, 17, tzinfo=UTC), datetime(2026, 10, 27, tzinfo=UTC))
    assert [(o.local_date.day, o.depart_earliest.hour) for o in occ] == [(18, 5), (25, 6)]


def test_a_skipped_local_time_moves_forward() -> None:
    occ = expand(
        rule(local_depart_earliest=time(2, 30), local_depart_latest=time(2, 45)),
        datetime(2026, 3, 28, tzinfo=UTC),
        datetime(2026, 3, 30, tzinfo=UTC),
    )
    assert len(occ) == 1
    # 02:30 does not exist that night; fold=0 reads it as CET, i.e. 01:30 UTC (03:30 CEST).
    assert occ[0].depart_earliest == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_an_ambiguous_local_time_takes_the_first_instant() -> None:
    occ = expand(
        rule(local_depart_earliest=time(2, 30), local_depart_latest=time(2, 40)),
        datetime(2026, 10, 24, tzinfo=UTC),
        datetime(2026, 10, 26, tzinfo=UTC),
    )
    assert occ[0].depart_earliest == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_validity_weekdays_and_exceptions() -> None:
    r = rule(
        weekdays=(1, 3),
        valid_from=date(2026, 6, 3),
        valid_until=date(2026, 6, 17),
        exception_dates=(date(2026, 6, 10),),
    )
    occ = expand(r, datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
    assert [o.local_date for o in occ] == [
        date(2026, 6, 3),
        date(2026, 6, 8),
        date(2026, 6, 15),
        date(2026, 6, 17),
    ]


def test_window_edges_and_horizon() -> None:
    start = datetime(2026, 6, 7, 5, 40, tzinfo=UTC)  # a Sunday, during the 07:30-07:45 window
    occ = expand(rule(), start, datetime(2030, 1, 1, tzinfo=UTC))
    assert occ[0].local_date == date(2026, 6, 7)  # overlapping the start still counts
    assert len(occ) <= 53  # never more than a year


@pytest.mark.parametrize(
    "bad",
    [
        {"weekdays": ()},
        {"weekdays": (0,)},
        {"local_depart_latest": time(7, 0)},
        {"valid_until": date(2025, 1, 1)},
    ],
)
def test_invalid_rules(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"weekdays|window|valid_until"):
        rule(**bad)


def test_naive_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        expand(rule(), datetime(2026, 1, 1), datetime(2026, 2, 1))
