"""Matches (read side): the proposed and confirmed rides a person drives or rides in.

Privacy: before a ride is confirmed, each party sees the other's places only approximately
(the meeting point, else the centre of the 300 m grid cell) and no route; after confirmation
the people in the ride see exact places, each other's names and phone numbers, and the
riders' notes. Operators of the ride's community and admins see
exact places: they run the service and book for riders on the phone. Operators of a rider's or
driver's home community see the match too, with approximate places.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from shapely.geometry import mapping

from maas.domain.models import Match, MatchStop, Point, Principal
from maas.domain.privacy import approximate
from maas.errors import NotFoundError
from maas.http.common import list_filter, page_json, path_id, point_json, pool, principal, utc
from maas.store import matches
from maas.store.common import ListFilter

MATCH_STATUSES = (
    "proposed",
    "accepted",
    "confirmed",
    "completed",
    "declined",
    "cancelled",
    "no_show",
)
EXACT_AFTER = frozenset({"confirmed", "completed", "no_show"})
"""Statuses in which the people of a ride see each other's exact places."""


def _stop_position(stop: MatchStop, *, exact: bool) -> tuple[Point, bool]:
    """The position to show and whether it is approximate."""
    if exact:
        return stop.position, False
    if stop.meeting_point_position is not None:
        return stop.meeting_point_position, False
    lon, lat = approximate(stop.position.lon, stop.position.lat)
    return Point(lon, lat), True


def match_json(m: Match, who: Principal) -> dict[str, Any]:
    staff = who.operates(m.community_id)
    participant = who.person_id in m.participants()
    everything_exact = staff or (participant and m.status in EXACT_AFTER)
    stops = []
    for s in m.stops:
        own = s.rider_id == who.person_id
        position, approximate_ = _stop_position(s, exact=everything_exact or own)
        stops.append(
            {
                "seq": s.seq,
                "kind": s.kind,
                "request_id": str(s.request_id),
                "position": point_json(position),
                "approximate": approximate_,
                "meeting_point_id": None if s.meeting_point_id is None else str(s.meeting_point_id),
                "planned_at": utc(s.planned_at),
            }
        )
    return {
        "id": str(m.id),
        "offer_id": str(m.offer_id),
        "community_id": str(m.community_id),
        "occurrence_date": m.occurrence_date.isoformat(),
        "departure_at": utc(m.departure_at),
        "status": m.status,
        "driver_status": m.driver_status,
        "is_driver": who.person_id == m.driver_id,
        "params_version": m.params_version,
        # Names and phone numbers, like exact places, only once the ride is confirmed.
        "driver": (
            {"name": m.driver_name, "phone": m.driver_phone}
            if everything_exact or who.person_id == m.driver_id
            else None
        ),
        "vehicle": {
            "wheelchair": m.vehicle_wheelchair,
            "child_seat": m.vehicle_child_seat,
            "luggage": m.vehicle_luggage,
        },
        "riders": [
            {
                "request_id": str(r.request_id),
                "status": r.status,
                "is_me": r.person_id == who.person_id,
                # What the driver needs to decide: how many, and which help.
                "passengers": r.passengers,
                "needs": {
                    "wheelchair": r.needs_wheelchair,
                    "child_seat": r.needs_child_seat,
                    "help_getting_in": r.needs_help_getting_in,
                },
                # Free text can identify a home, so it follows the exact places' rule.
                "note": r.note if everything_exact or r.person_id == who.person_id else None,
                "contact": (
                    {"name": r.name, "phone": r.phone}
                    if everything_exact or r.person_id == who.person_id
                    else None
                ),
            }
            for r in m.riders
        ],
        "stops": stops,
        "route": mapping(m.route) if everything_exact and m.route is not None else None,
        "created_at": utc(m.created_at),
        "updated_at": utc(m.updated_at),
    }


async def list_matches(request: web.Request) -> web.Response:
    who = await principal(request)
    flt = list_filter(request.query, statuses=MATCH_STATUSES)
    async with pool(request).acquire() as conn:
        page = await matches.list_matches(
            conn, flt, see_all=who.is_admin, me=who.person_id, scope=sorted(who.operator_of)
        )
    return web.json_response(page_json(page, lambda m: match_json(m, who)))


async def get_match(request: web.Request) -> web.Response:
    who = await principal(request)
    match_id = path_id(request)
    async with pool(request).acquire() as conn:
        page = await matches.list_matches(
            conn,
            ListFilter(limit=1),
            see_all=who.is_admin,
            me=who.person_id,
            scope=sorted(who.operator_of),
            match_id=match_id,
        )
    if not page.items:
        raise NotFoundError("no such match")
    return web.json_response(match_json(page.items[0], who))
