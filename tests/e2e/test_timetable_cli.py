"""``python -m maas import-timetable`` as an operator runs it: a report on success, one plain
line naming the file and the field on a broken feed, and nothing stored then."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.gtfs_feeds import BUS_751, BUS_781, altered_feed
from support.server import run_cli

from maas import db
from maas.settings import Settings

pytestmark = pytest.mark.db

NAME = "e2e-cli-781"
SQL_TRIPS = """
SELECT count(*) FROM gtfs_trip t JOIN gtfs_feed f ON f.id = t.feed_id WHERE f.name = $1
"""


@pytest.fixture
async def cleanup(settings: Settings, demo_region: str) -> AsyncIterator[None]:
    yield
    async with db.connection(settings) as conn:
        await conn.execute("DELETE FROM gtfs_feed WHERE name = $1", NAME)


async def test_import_timetable_on_the_command_line(
    settings: Settings, demo_region: str, cleanup: None, tmp_path: Path
) -> None:
    args = ("--region", demo_region, "--name", NAME)
    done = run_cli(settings, "import-timetable", str(BUS_781), *args)
    assert done.returncode == 0, done.stderr
    assert f"timetable '{NAME}' of region '{demo_region}' imported: 1 route(s), 18 trip(s)" in (
        done.stdout
    )
    assert "service 2020-04-27 to 2020-12-12 (Europe/Berlin)" in done.stdout

    broken = altered_feed(
        tmp_path / "broken.zip",
        append={"stop_times.txt": "1.T0.31-781-j20-1.1.H,de:08115:4738:0:3,9:7x:00,,1,11\n"},
    )
    done = run_cli(settings, "import-timetable", str(broken), *args)
    assert done.returncode == 1
    assert done.stderr == (
        f"maas: error: {broken}: stop_times.txt line 182: arrival_time: '9:7x:00' is not a GTFS "
        "time (H:MM:SS, hours may pass 24)\n"
    )
    done = run_cli(settings, "import-timetable", str(BUS_751), *args)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "none of the 47 stops lies in the service area" in done.stderr
    async with db.connection(settings) as conn:
        assert await conn.fetchval(SQL_TRIPS, NAME) == 18  # the first import, untouched
