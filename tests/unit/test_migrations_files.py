"""The migration files are well-formed and numbered without gaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from maas.errors import ConfigError
from maas.migrate import load_migrations


def test_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))


def test_misnamed_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_init.sql").write_text("SELECT 1")
    with pytest.raises(ConfigError, match=r"1_init\.sql: migration files are named NNNN_name\.sql"):
        load_migrations(tmp_path)


def test_duplicate_number_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1")
    (tmp_path / "0001_b.sql").write_text("SELECT 2")
    with pytest.raises(ConfigError, match="migration number 1 is used twice"):
        load_migrations(tmp_path)
