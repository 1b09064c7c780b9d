"""Typed application state: every long-lived resource the app holds, by key."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import asyncpg
from aiohttp import web

from maas.domain.models import Principal
from maas.schemas import SchemaRegistry
from maas.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
ROAD_NETWORK = web.AppKey("road_network", object)
ROAD_NETWORK_ERROR = web.AppKey("road_network_error", str)
WORKERS = web.AppKey("workers", ProcessPoolExecutor)
MATCHING = web.AppKey("matching", object)
"""The :class:`maas.planning.service.MatchingRunner` (typed loosely: appkeys imports nothing
heavy)."""
WHATIF = web.AppKey("whatif", object)
"""The :class:`maas.whatif.WhatIfRunner`."""
GEOJSON_CACHE = web.AppKey("geojson_cache", dict)
"""Rendered GeoJSON of the region's roads, by region, import and detail."""
EVENT_HUB = web.AppKey("event_hub", object)
"""The :class:`maas.notify.EventHub` (the process's poll of new events and its streams)."""
BACKGROUND = web.AppKey("background", bool)
"""Set in the background process (maas.serve), which serves no HTTP."""
SCHEMAS = web.AppKey("schemas", SchemaRegistry)
OPENAPI = web.AppKey("openapi", dict)
PRINCIPAL = web.RequestKey("principal", Principal)
