"""Settings come from MAAS_* variables and refuse bad values with a message naming them."""

from __future__ import annotations

from pathlib import Path

import pytest

from maas.errors import ConfigError
from maas.settings import Settings


def test_reads_every_kind_of_value() -> None:
    s = Settings.from_env(
        {
            "MAAS_DATABASE_URL": "postgresql://u@h/db",
            "MAAS_PORT": "9000",
            "MAAS_DATA_DIR": "/tmp/x",
            "MAAS_SNAP_MAX_DISTANCE_M": "250.5",
            "MAAS_REGION": "gaeu",
        }
    )
    assert s.database_url == "postgresql://u@h/db"
    assert s.port == 9000
    assert s.data_dir == Path("/tmp/x")
    assert s.cache_dir == Path("/tmp/x/cache")
    assert s.snap_max_distance_m == 250.5
    assert s.region == "gaeu"


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("MAAS_PORT", "http", "MAAS_PORT='http' is not a whole number"),
        ("MAAS_PORT", "70000", "MAAS_PORT=70000 is out of range"),
        ("MAAS_SNAP_MAX_DISTANCE_M", "far", "MAAS_SNAP_MAX_DISTANCE_M='far' is not a number"),
        ("MAAS_DB_POOL_MIN", "50", "MAAS_DB_POOL_MIN must not exceed MAAS_DB_POOL_MAX"),
    ],
)
def test_bad_values_name_the_variable(var: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Settings.from_env({"MAAS_DATABASE_URL": "postgresql://u@h/db", var: value})


def test_a_small_pool_maximum_alone_lowers_the_default_minimum() -> None:
    small = Settings.from_env({"MAAS_DATABASE_URL": "postgresql://u@h/db", "MAAS_DB_POOL_MAX": "2"})
    assert (small.db_pool_min, small.db_pool_max) == (2, 2)
    default = Settings.from_env({"MAAS_DATABASE_URL": "postgresql://u@h/db"})
    assert (default.db_pool_min, default.db_pool_max) == (4, 10)


def test_missing_database_url_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("maas.settings.local_database_url", lambda: "")
    with pytest.raises(ConfigError, match="MAAS_DATABASE_URL is not set"):
        Settings.from_env({})
