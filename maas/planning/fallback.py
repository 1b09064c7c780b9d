"""Cut-off and fallback: at each scheduler tick, every open request of the region that still has
no confirmed ride at its community's cut-off (``cutoff_min`` before departure) is told "no
driver found" once, with the community's fallback (text and phone number) and, where the
region's imported GTFS timetables have one, the next direct bus connection
(:mod:`maas.gtfs.connections`; ``connection`` is null otherwise).

The notice is an event (``request.no_driver_found``) written with its claim in one
transaction, so it reaches the rider's stream and webhooks like every other change, and a
repeated or concurrent tick tells no one twice. What was sent is kept with the claim
(``fallback_notice.fallback``), so ``GET /v1/requests/{id}/outcome`` shows the rider the same.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from maas.domain import params as community_params
from maas.gtfs.connections import Connection, next_connection
from maas.planning import ticks
from maas.store import events, fallback, planning

log = logging.getLogger("maas.fallback")

KIND = "request.no_driver_found"


def notice(
    p: dict[str, Any], unmatched: fallback.Unmatched, connection: Connection | None = None
) -> dict[str, Any]:
    """The event's payload: the request, the community's fallback and the bus connection."""
    phone = p["fallback_phone"] or None
    text = p["fallback_text"].replace("{phone}", phone or "") or None
    return {
        "community_id": str(unmatched.community_id),
        "request_id": str(unmatched.request_id),
        "depart_earliest": unmatched.depart_earliest.isoformat(),
        "cutoff_min": p["cutoff_min"],
        "fallback": {
            "text": text,
            "phone": phone,
            "connection": None if connection is None else connection.to_json(),
        },
    }


async def tell_community(conn: asyncpg.Connection, community_id: uuid.UUID, now: datetime) -> int:
    """Tell the community's riders at their cut-off, in one transaction; returns how many."""
    community = await planning.community_params(conn, community_id)
    if community is None:
        return 0
    p = community_params.effective(community.settings)
    async with conn.transaction():
        due = await fallback.claim_unmatched(
            conn, community_id, now=now, cutoff_min=p["cutoff_min"]
        )
        for unmatched in due:
            connection = await next_connection(
                conn,
                community_id,
                origin=unmatched.origin,
                destination=unmatched.destination,
                depart_earliest=unmatched.depart_earliest,
                arrive_latest=unmatched.arrive_latest,
                max_walk_m=min(unmatched.max_walk_m, p["max_walk_m"]),
            )
            payload = notice(p, unmatched, connection)
            await fallback.record_fallback(conn, unmatched.request_id, payload["fallback"])
            await events.record(conn, unmatched.person_id, KIND, payload)
    return len(due)


async def tell_unmatched(pool: asyncpg.Pool, region: str, now: datetime) -> int:
    """One tick over the region's communities; returns how many riders were told."""
    told = await ticks.over_region(pool, region, tell_community, now)
    if told:
        log.info("told %d riders that no driver was found", told)
    return told


def told_json(told: fallback.Told | None) -> dict[str, Any] | None:
    """The rider's view of the notice (``fallback`` of ``GET /v1/requests/{id}/outcome``):
    null until told; then when, and the fallback exactly as the event carried it."""
    if told is None:
        return None
    sent = told.fallback or {}
    return {
        "told_at": told.told_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "text": sent.get("text"),
        "phone": sent.get("phone"),
        "connection": sent.get("connection"),
    }
