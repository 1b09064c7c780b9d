"""Which days a worker keeps for instant answers: all that fit the cell budget and the count,
the least recently used dropped first."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import pytest

from maas.planning import instant


@pytest.fixture(autouse=True)
def no_days_kept() -> Iterator[None]:
    saved = dict(instant._days)
    instant._days.clear()
    yield
    instant._days.clear()
    instant._days.update(saved)


def keep(key: str, points: int) -> None:
    day = SimpleNamespace(matrix=np.zeros((points, points), dtype=np.int64))
    instant._days[key] = day  # type: ignore[assignment]
    instant._evict()


def test_many_small_days_are_all_kept() -> None:
    """A county's communities over the days ahead: more than a handful of days at once."""
    for n in range(100):
        keep(f"community-{n}/2026-11-26", 300)
    assert len(instant._days) == 100


def test_the_least_recently_used_go_first_when_the_cells_run_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(instant, "MAX_CACHED_CELLS", 250)
    keep("a", 10)  # 100 cells
    keep("b", 10)
    instant._days["a"] = instant._days.pop("a")  # used again: now the most recent
    keep("c", 10)
    assert list(instant._days) == ["a", "c"]


def test_the_count_is_bounded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instant, "MAX_CACHED_DAYS", 3)
    for key in "abcde":
        keep(key, 2)
    assert list(instant._days) == ["c", "d", "e"]


def test_a_day_larger_than_the_budget_is_still_kept_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(instant, "MAX_CACHED_CELLS", 50)
    keep("a", 5)
    keep("huge", 100)
    assert list(instant._days) == ["huge"]
