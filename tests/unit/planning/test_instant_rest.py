"""How long instant answers rest between passes."""

from __future__ import annotations

import pytest

from maas.planning import instant


def test_a_pass_is_followed_by_twice_its_time_of_rest() -> None:
    assert instant.rest_after(0.015) == pytest.approx(0.03)


def test_the_rest_after_a_long_pass_is_bounded() -> None:
    assert instant.rest_after(30.0) == instant.PASS_REST_MAX_S


def test_a_clock_step_backwards_means_no_rest() -> None:
    assert instant.rest_after(-0.5) == 0.0
