"""End-to-end fixtures: the real service in its own process, spoken to over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.server import LiveServer, start_server

from maas.settings import Settings


@pytest.fixture(scope="session")
def live_server(
    settings: Settings, demo_region: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One running service for the whole session, on the test database with the demo region."""
    server = start_server(settings, tmp_path_factory.mktemp("server") / "server.log")
    yield server
    server.stop()
