"""How many server processes ``serve`` starts, and which of them runs the singleton tasks."""

from __future__ import annotations

import dataclasses
import os

import pytest

from maas.errors import ConfigError
from maas.serve import has_background, worker_count, worker_settings
from maas.settings import Settings


def test_workers_come_from_the_option_then_the_setting_then_the_cpus() -> None:
    settings = Settings(database_url="postgresql://x/y")
    assert worker_count(settings) == len(os.sched_getaffinity(0))
    assert worker_count(Settings(database_url="postgresql://x/y", workers=3)) == 3
    assert worker_count(Settings(database_url="postgresql://x/y", workers=3), 1) == 1
    with pytest.raises(ConfigError, match="--workers=0 is out of range"):
        worker_count(settings, 0)


def test_maas_workers_is_read_and_checked() -> None:
    assert Settings.from_env({"MAAS_DATABASE_URL": "postgresql://x/y"}).workers is None
    env = {"MAAS_DATABASE_URL": "postgresql://x/y", "MAAS_WORKERS": "4"}
    assert Settings.from_env(env).workers == 4
    with pytest.raises(ConfigError, match="MAAS_WORKERS=0 is out of range"):
        Settings.from_env({**env, "MAAS_WORKERS": "0"})


def test_server_processes_leave_the_background_tasks_to_the_background_process() -> None:
    settings = Settings(
        database_url="postgresql://x/y",
        matching_interval_s=60.0,
        webhook_interval_s=5.0,
        instant_answers=True,
    )
    assert has_background(settings)
    other = worker_settings(settings)
    assert not has_background(other)
    assert (other.matching_interval_s, other.webhook_interval_s, other.instant_answers) == (
        0.0,
        0.0,
        False,
    )
    # Everything else is the same service.
    assert other.port == settings.port
    assert other.worker_processes == settings.worker_processes
    for one_on in (
        {"matching_interval_s": 60.0},
        {"webhook_interval_s": 5.0},
        {"instant_answers": True},
    ):
        assert has_background(dataclasses.replace(other, **one_on))
