"""Answer deadlines: at each scheduler tick, whoever has not answered a proposal by its
deadline (:func:`maas.domain.booking.answer_deadline`: the community's ``answer_min`` after the
proposal, at the latest its cut-off) is ``expired``, and the match settles without them.

Without this, one rider who never answers keeps the driver and the other riders of the match
from a confirmed ride and holds their own seat until departure. The status changes go through
the same tables as answers, so the outbox triggers tell everyone concerned
(``match.rider_expired``, ``match.driver_expired``, ``match.confirmed``, ``match.expired``).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import asyncpg

from maas.domain import booking
from maas.domain import params as community_params
from maas.planning import ticks
from maas.store import bookings, planning

log = logging.getLogger("maas.answers")


async def expire_community(conn: asyncpg.Connection, community_id: uuid.UUID, now: datetime) -> int:
    """Expire the community's overdue answers in one transaction; returns how many matches
    changed."""
    community = await planning.community_params(conn, community_id)
    if community is None:
        return 0
    p = community_params.effective(community.settings)
    changed = 0
    async with conn.transaction():
        await bookings.lock_community_answers(conn, community_id)
        for u in await bookings.unanswered(conn, community_id):
            deadline = booking.answer_deadline(
                u.proposed_at,
                u.departure_at,
                answer_min=int(p["answer_min"]),
                cutoff_min=int(p["cutoff_min"]),
            )
            if deadline <= now and await bookings.expire_pending(conn, u.match_id) is not None:
                changed += 1
    return changed


async def expire_unanswered(pool: asyncpg.Pool, region: str, now: datetime) -> int:
    """One tick over the region's communities; returns how many matches changed."""
    changed = await ticks.over_region(pool, region, expire_community, now)
    if changed:
        log.info("expired the overdue answers of %d match(es)", changed)
    return changed
