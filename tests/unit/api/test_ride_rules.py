"""Rules across fields of offers and requests: windows, the clock, recurrences."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest

from maas.domain.recurrence import WeeklyRule
from maas.domain.rides import check_window, make_weekly_rule, offer_community
from maas.errors import InputError

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def window(earliest: datetime, latest: datetime, *, strict: bool = True) -> None:
    check_window(earliest, latest, now=NOW, earliest_field="from", latest_field="to", strict=strict)


def test_a_window_in_the_future_passes() -> None:
    window(NOW + timedelta(hours=1), NOW + timedelta(hours=2))
    window(NOW - timedelta(minutes=4), NOW + timedelta(hours=2))  # clock skew is tolerated
    window(NOW + timedelta(hours=1), NOW + timedelta(hours=1), strict=False)


@pytest.mark.parametrize(
    ("earliest", "latest", "field"),
    [
        (NOW - timedelta(hours=1), NOW + timedelta(hours=1), "from"),
        (NOW + timedelta(days=400), NOW + timedelta(days=401), "from"),
        (NOW + timedelta(hours=2), NOW + timedelta(hours=1), "to"),
        (NOW + timedelta(hours=2), NOW + timedelta(hours=2), "to"),
        (NOW + timedelta(hours=2), NOW + timedelta(hours=27), "to"),
    ],
)
def test_bad_windows_name_their_field(earliest: datetime, latest: datetime, field: str) -> None:
    with pytest.raises(InputError) as caught:
        window(earliest, latest)
    assert caught.value.field == field


def rule(**kw: object) -> WeeklyRule:
    args: dict[str, object] = {
        "weekdays": [1, 2],
        "local_earliest": time(7),
        "local_latest": time(8),
        "valid_from": date(2026, 12, 1),
        "valid_until": None,
        "exception_dates": [],
        "time_zone": "Europe/Berlin",
        "today": date(2026, 11, 25),
    }
    args.update(kw)
    return make_weekly_rule(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"local_latest": time(6)}, "recurrence.depart_latest"),
        ({"valid_until": date(2026, 11, 30)}, "recurrence.valid_until"),
        ({"weekdays": [1, 1]}, "recurrence.weekdays"),
        ({"time_zone": "Mars/Olympus"}, "recurrence.time_zone"),
        (
            {"valid_from": date(2026, 1, 1), "valid_until": date(2026, 2, 1)},
            "recurrence.valid_until",
        ),
    ],
)
def test_bad_recurrences(change: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as caught:
        rule(**change)
    assert caught.value.field == field


def test_exception_dates_are_sorted_and_unique() -> None:
    made = rule(exception_dates=[date(2026, 12, 8), date(2026, 12, 1), date(2026, 12, 8)])
    assert made.exception_dates == (date(2026, 12, 1), date(2026, 12, 8))


def test_a_ride_belongs_to_its_start_else_its_persons_home() -> None:
    start, home = uuid.uuid4(), uuid.uuid4()
    assert offer_community(start, home) == start
    assert offer_community(None, home) == home
    with pytest.raises(InputError):
        offer_community(None, None)
