"""Ride offers (drivers) and ride requests (riders).

A driver sees their own offers, a rider their own requests; operators see the rides of the
communities they operate, admins all. Anything not visible is "not found", so ids of other
people's rides reveal nothing. Operators and admins may post for someone (``person_id``), as a
phone hotline does.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from maas import appkeys, db
from maas.domain.models import Endpoint, Offer, Point, Principal, RideRequest
from maas.domain.recurrence import WeeklyRule, expand
from maas.domain.rides import (
    OfferDraft,
    RequestDraft,
    check_window,
    make_weekly_rule,
    offer_community,
)
from maas.errors import ConflictError, ForbiddenError, InputError, MaasError, NotFoundError
from maas.http.common import (
    IDEMPOTENCY_HEADER,
    idempotent,
    list_filter,
    page_json,
    parse_clock,
    parse_date,
    parse_time,
    path_id,
    point_json,
    pool,
    principal,
    read_body,
    utc,
)
from maas.http.location import located, set_location
from maas.locate import check_point
from maas.store import bookings, communities, people, rides

RIDE_STATUSES = ("open", "cancelled")
OCCURRENCE_HORIZON = timedelta(days=14)
MAX_OCCURRENCES_SHOWN = 20


def endpoint_json(e: Endpoint) -> dict[str, Any]:
    return {
        **(point_json(e.point) or {}),
        "snapped": point_json(e.snapped),
        "meeting_point_id": None if e.meeting_point_id is None else str(e.meeting_point_id),
    }


def weekly_rule(o: Offer) -> WeeklyRule | None:
    if o.weekdays is None:
        return None
    assert o.local_depart_earliest is not None
    assert o.local_depart_latest is not None
    assert o.valid_from is not None
    return WeeklyRule(
        weekdays=o.weekdays,
        local_depart_earliest=o.local_depart_earliest,
        local_depart_latest=o.local_depart_latest,
        valid_from=o.valid_from,
        valid_until=o.valid_until,
        exception_dates=o.exception_dates,
        time_zone=o.time_zone,
    )


def offer_json(o: Offer, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    rule = weekly_rule(o)
    out: dict[str, Any] = {
        "id": str(o.id),
        "person_id": str(o.person_id),
        "community_id": str(o.community_id),
        "status": o.status,
        "origin": endpoint_json(o.origin),
        "destination": endpoint_json(o.destination),
        "depart_earliest": utc(o.depart_earliest),
        "depart_latest": utc(o.depart_latest),
        "recurrence": None,
        "seats": o.seats,
        "max_detour_min": o.max_detour_min,
        "max_detour_pct": o.max_detour_pct,
        "vehicle": {"wheelchair": o.wheelchair, "child_seat": o.child_seat, "luggage": o.luggage},
        "note": o.note,
        "created_at": utc(o.created_at),
        "updated_at": utc(o.updated_at),
        "cancelled_at": utc(o.cancelled_at),
    }
    if rule is not None:
        out["recurrence"] = {
            "weekdays": list(rule.weekdays),
            "depart_earliest": rule.local_depart_earliest.strftime("%H:%M"),
            "depart_latest": rule.local_depart_latest.strftime("%H:%M"),
            "valid_from": rule.valid_from.isoformat(),
            "valid_until": None if rule.valid_until is None else rule.valid_until.isoformat(),
            "exception_dates": [d.isoformat() for d in rule.exception_dates],
            "time_zone": rule.time_zone,
        }
        occurrences = expand(rule, now, now + OCCURRENCE_HORIZON)[:MAX_OCCURRENCES_SHOWN]
        out["next_occurrences"] = [
            {
                "date": occ.local_date.isoformat(),
                "depart_earliest": utc(occ.depart_earliest),
                "depart_latest": utc(occ.depart_latest),
            }
            for occ in occurrences
        ]
    return out


def request_json(r: RideRequest) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "person_id": str(r.person_id),
        "community_id": str(r.community_id),
        "status": r.status,
        "origin": endpoint_json(r.origin),
        "destination": endpoint_json(r.destination),
        "depart_earliest": utc(r.depart_earliest),
        "arrive_latest": utc(r.arrive_latest),
        "passengers": r.passengers,
        "needs": {
            "wheelchair": r.needs_wheelchair,
            "child_seat": r.needs_child_seat,
            "help_getting_in": r.needs_help_getting_in,
        },
        "max_walk_m": r.max_walk_m,
        "note": r.note,
        "created_at": utc(r.created_at),
        "updated_at": utc(r.updated_at),
        "cancelled_at": utc(r.cancelled_at),
    }


async def resolve_endpoint(
    request: web.Request, conn: asyncpg.Connection, raw: dict[str, Any], field: str
) -> Endpoint:
    """A place from the body: a meeting point (which must exist) or a point; either must be
    in the service area and near a drivable road."""
    settings = request.app[appkeys.SETTINGS]
    meeting_point_id: uuid.UUID | None = None
    if "meeting_point_id" in raw:
        meeting_point_id = uuid.UUID(raw["meeting_point_id"])
        found = await communities.get_meeting_point(conn, meeting_point_id)
        if found is None:
            raise InputError(f"{field}.meeting_point_id", "no such meeting point")
        point = found.position
    else:
        point = Point(float(raw["lon"]), float(raw["lat"]))
    snapped = await check_point(
        conn,
        request.app[appkeys.ROAD_NETWORK],
        region=settings.region,
        point=point,
        field=field,
        max_distance_m=settings.snap_max_distance_m,
    )
    return Endpoint(point, snapped, meeting_point_id)


async def resolve_endpoints(
    request: web.Request, conn: asyncpg.Connection, body: dict[str, Any]
) -> tuple[Endpoint, Endpoint]:
    """Origin and destination. Two plain points are snapped in one call to the road network,
    which costs little more than one; if either is refused, they are resolved one by one, so
    that the error names its field as it always has."""
    network: Any = request.app[appkeys.ROAD_NETWORK]
    raw_origin, raw_destination = body["origin"], body["destination"]
    if network is not None and "lon" in raw_origin and "lon" in raw_destination:
        points = [Point(float(p["lon"]), float(p["lat"])) for p in (raw_origin, raw_destination)]
        try:
            snaps = network.snap_many(
                [(p.lon, p.lat) for p in points],
                "places",
                request.app[appkeys.SETTINGS].snap_max_distance_m,
                remember=True,
            )
        except InputError:
            pass
        else:
            origin, destination = (
                Endpoint(p, Point(float(snap.lon), float(snap.lat)), None)
                for p, snap in zip(points, snaps, strict=True)
            )
            return origin, destination
    origin = await resolve_endpoint(request, conn, raw_origin, "origin")
    destination = await resolve_endpoint(request, conn, raw_destination, "destination")
    return origin, destination


async def acting_person(
    conn: asyncpg.Connection, who: Principal, body: dict[str, Any], *, role: str
) -> tuple[uuid.UUID, uuid.UUID | None]:
    """Whose ride this is (the caller, or ``person_id`` for staff) and their home community;
    they must hold ``role``."""
    person_id = uuid.UUID(body["person_id"]) if "person_id" in body else who.person_id
    person = await people.get_person(conn, person_id)
    if person is None or person.deleted_at is not None:
        raise InputError("person_id", "no such person")
    if person_id != who.person_id and not who.operates(person.home_community_id):
        raise ForbiddenError("you may only post for people of communities you operate")
    if role not in person.roles:
        raise ForbiddenError(
            f"{'you are' if person_id == who.person_id else 'this person is'} not "
            f"registered as a {role}"
        )
    return person_id, person.home_community_id


async def ride_community(
    request: web.Request, conn: asyncpg.Connection, origin: Point, home: uuid.UUID | None
) -> uuid.UUID:
    region = request.app[appkeys.SETTINGS].region
    return offer_community(await communities.community_at(conn, origin, region=region), home)


def _same_place(a: Endpoint, b: Endpoint) -> bool:
    if a.meeting_point_id is not None and a.meeting_point_id == b.meeting_point_id:
        return True
    return abs(a.point.lon - b.point.lon) < 1e-6 and abs(a.point.lat - b.point.lat) < 1e-6


async def build_offer(
    request: web.Request,
    conn: asyncpg.Connection,
    body: dict[str, Any],
    *,
    existing: Offer | None = None,
    now: datetime,
) -> OfferDraft:
    """The offer a create or patch body describes (a patch on top of ``existing``)."""
    if "recurrence" in body and ("depart_earliest" in body or "depart_latest" in body):
        raise InputError("recurrence", "give either recurrence or depart_earliest/depart_latest")
    origin = (
        await resolve_endpoint(request, conn, body["origin"], "origin")
        if "origin" in body or existing is None
        else existing.origin
    )
    destination = (
        await resolve_endpoint(request, conn, body["destination"], "destination")
        if "destination" in body or existing is None
        else existing.destination
    )
    if _same_place(origin, destination):
        raise InputError("destination", "is the same place as origin")
    earliest = latest = None
    weekly: WeeklyRule | None = None
    if "recurrence" in body:
        rec = body["recurrence"]
        zone = rec.get("time_zone", "Europe/Berlin")
        today = now.astimezone(ZoneInfo(zone)).date()
        valid_from = parse_date(rec["valid_from"], "recurrence.valid_from")
        # A running weekly offer keeps its start date when edited; a new start is not past.
        unchanged_start = existing is not None and existing.valid_from == valid_from
        if valid_from < today and not unchanged_start:
            raise InputError("recurrence.valid_from", "lies in the past")
        weekly = make_weekly_rule(
            weekdays=list(rec["weekdays"]),
            local_earliest=parse_clock(rec["depart_earliest"], "recurrence.depart_earliest"),
            local_latest=parse_clock(rec["depart_latest"], "recurrence.depart_latest"),
            valid_from=valid_from,
            valid_until=(
                parse_date(rec["valid_until"], "recurrence.valid_until")
                if rec.get("valid_until")
                else None
            ),
            exception_dates=[
                parse_date(d, f"recurrence.exception_dates.{i}")
                for i, d in enumerate(rec.get("exception_dates", ()))
            ],
            time_zone=zone,
            today=today,
        )
        if not expand(weekly, now, now + timedelta(days=366)):
            raise InputError("recurrence", "has no departure within the next year")
    elif "depart_earliest" in body:
        earliest = parse_time(body["depart_earliest"], "depart_earliest")
        latest = parse_time(body["depart_latest"], "depart_latest")
        check_window(
            earliest,
            latest,
            now=now,
            earliest_field="depart_earliest",
            latest_field="depart_latest",
            strict=False,
        )
    elif existing is not None:
        earliest, latest, weekly = (
            existing.depart_earliest,
            existing.depart_latest,
            weekly_rule(existing),
        )
    else:
        raise InputError("depart_earliest", "is required unless recurrence is given")
    vehicle = body.get("vehicle", {})

    def pick(name: str, default: Any) -> Any:
        if name in body:
            return body[name]
        return getattr(existing, name) if existing is not None else default

    def pick_vehicle(name: str) -> bool:
        if name in vehicle:
            return bool(vehicle[name])
        return bool(getattr(existing, name)) if existing is not None else False

    return OfferDraft(
        origin=origin,
        destination=destination,
        depart_earliest=earliest,
        depart_latest=latest,
        weekly=weekly,
        seats=int(pick("seats", 1)),
        max_detour_min=int(pick("max_detour_min", 15)),
        max_detour_pct=int(pick("max_detour_pct", 50)),
        wheelchair=pick_vehicle("wheelchair"),
        child_seat=pick_vehicle("child_seat"),
        luggage=pick_vehicle("luggage"),
        note=pick("note", None),
    )


async def _visible(
    conn: asyncpg.Connection, who: Principal, owner: uuid.UUID, community: uuid.UUID
) -> bool:
    """The ride's person, staff of the community it starts in, and staff of its person's home
    community (a hotline books the way back from town too)."""
    if owner == who.person_id or who.operates(community):
        return True
    if not who.is_operator:
        return False
    person = await people.get_person(conn, owner)
    return person is not None and who.operates(person.home_community_id)


async def create_offer(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await read_body(request, "offer-create")

    async def action(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        person_id, home = await acting_person(conn, who, body, role="driver")
        draft = await build_offer(request, conn, body, now=datetime.now(UTC))
        community = await ride_community(request, conn, draft.origin.point, home)
        created = await rides.create_offer(conn, person_id, community, draft)
        return 201, offer_json(created)

    return located(await idempotent(request, who, body, action), "/v1/offers/{id}")


async def _offer_or_404(
    conn: asyncpg.Connection, who: Principal, offer_id: uuid.UUID, *, for_update: bool = False
) -> Offer:
    found = await rides.get_offer(conn, offer_id, for_update=for_update)
    if found is None or not await _visible(conn, who, found.person_id, found.community_id):
        raise NotFoundError("no such offer")
    return found


async def list_offers(request: web.Request) -> web.Response:
    who = await principal(request)
    flt = list_filter(request.query, statuses=RIDE_STATUSES)
    async with pool(request).acquire() as conn:
        page = await rides.list_offers(
            conn, flt, see_all=who.is_admin, me=who.person_id, scope=sorted(who.operator_of)
        )
    return web.json_response(page_json(page, offer_json))


async def get_offer(request: web.Request) -> web.Response:
    who = await principal(request)
    async with pool(request).acquire() as conn:
        found = await _offer_or_404(conn, who, path_id(request))
    return web.json_response(offer_json(found))


async def patch_offer(request: web.Request) -> web.Response:
    who = await principal(request)
    offer_id = path_id(request)
    body = await read_body(request, "offer-patch")
    async with pool(request).acquire() as conn, conn.transaction():
        found = await _offer_or_404(conn, who, offer_id, for_update=True)
        if found.status != "open":
            raise ConflictError("a cancelled offer cannot be changed")
        draft = await build_offer(request, conn, body, existing=found, now=datetime.now(UTC))
        owner = await people.get_person(conn, found.person_id)
        home = owner.home_community_id if owner else None
        community = await ride_community(request, conn, draft.origin.point, home)
        updated = await rides.update_offer(conn, found.id, community, draft)
    return web.json_response(offer_json(updated))


async def cancel_offer(request: web.Request) -> web.Response:
    who = await principal(request)
    offer_id = path_id(request)

    async def action(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        await _offer_or_404(conn, who, offer_id)
        offer = await rides.cancel_offer(conn, offer_id)
        # Its riders are free at once, not only after the next matching run.
        await bookings.release_offer(conn, offer_id)
        return 200, offer_json(offer)

    return await idempotent(request, who, {}, action)


def _request_window(body: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    earliest = parse_time(body["depart_earliest"], "depart_earliest")
    latest = parse_time(body["arrive_latest"], "arrive_latest")
    check_window(
        earliest,
        latest,
        now=now,
        earliest_field="depart_earliest",
        latest_field="arrive_latest",
        strict=True,
    )
    return earliest, latest


def _request_draft(
    body: dict[str, Any],
    window: tuple[datetime, datetime],
    origin: Endpoint,
    destination: Endpoint,
) -> RequestDraft:
    if _same_place(origin, destination):
        raise InputError("destination", "is the same place as origin")
    needs = body.get("needs", {})
    return RequestDraft(
        origin=origin,
        destination=destination,
        depart_earliest=window[0],
        arrive_latest=window[1],
        passengers=int(body.get("passengers", 1)),
        needs_wheelchair=bool(needs.get("wheelchair", False)),
        needs_child_seat=bool(needs.get("child_seat", False)),
        needs_help_getting_in=bool(needs.get("help_getting_in", False)),
        max_walk_m=int(body.get("max_walk_m", 500)),
        note=body.get("note"),
    )


async def create_request(request: web.Request) -> web.Response:
    # The service's hottest path (bench/load.py): one pooled connection for the whole request,
    # taken only once the body has arrived, so that a slow client holds no connection; it
    # changes no session state, so it goes back without the pool's reset query.
    await request.read()
    async with db.acquire_stateless(pool(request)) as conn:
        if IDEMPOTENCY_HEADER not in request.headers:
            created = await _create_own_request(request, conn)
            if created is not None:
                response = web.json_response(request_json(created), status=201)
                set_location(response, "/v1/requests/{id}", created.id)
                return response
        return await _create_request(request, conn)


async def _create_own_request(request: web.Request, conn: asyncpg.Connection) -> RideRequest | None:
    """The common case in one round trip to the database: a rider posting for themselves
    without an idempotency key, with a valid body. The body is checked first and the caller
    looked up in the statement that inserts the request (:func:`rides.create_own_request`).
    ``None`` if anything is amiss (an error, someone else's ride, a caller who is unknown or no
    rider, no community); nothing has been written then, and :func:`_create_request` answers
    as it always has, with the caller checked first and the errors in their usual order."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip()
    # Only what looks like one of our tokens: anything else costs no body check or snapping
    # here and is refused by the usual path.
    if scheme.lower() != "bearer" or not secret.startswith(people.TOKEN_PREFIX):
        return None
    try:
        body = await read_body(request, "request-create")
        if "person_id" in body:
            return None
        window = _request_window(body, datetime.now(UTC))
        origin, destination = await resolve_endpoints(request, conn, body)
        draft = _request_draft(body, window, origin, destination)
    except MaasError:
        return None
    return await rides.create_own_request(
        conn, people.hash_secret(secret), draft, region=request.app[appkeys.SETTINGS].region
    )


async def _create_request(request: web.Request, conn: asyncpg.Connection) -> web.Response:
    """Any request: the caller first (401), then the body, who the ride is for, the times and
    places; with an ``Idempotency-Key`` in a transaction with the key."""
    who = await principal(request, conn)
    body = await read_body(request, "request-create")

    async def action(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        if "person_id" in body:
            person_id, home = await acting_person(conn, who, body, role="rider")
        else:
            # The caller's own ride: the token lookup just read their person and roles.
            if not who.is_rider:
                raise ForbiddenError("you are not registered as a rider")
            person_id, home = who.person_id, who.home_community_id
        window = _request_window(body, datetime.now(UTC))
        origin, destination = await resolve_endpoints(request, conn, body)
        draft = _request_draft(body, window, origin, destination)
        created = await rides.create_request_where(
            conn,
            person_id,
            draft,
            region=request.app[appkeys.SETTINGS].region,
            home_community_id=home,
        )
        if created is None:
            raise InputError("origin", "lies in no community and the person has no home community")
        return 201, request_json(created)

    return located(
        await idempotent(request, who, body, action, conn=conn, single_write=True),
        "/v1/requests/{id}",
    )


async def _request_or_404(
    conn: asyncpg.Connection, who: Principal, request_id: uuid.UUID
) -> RideRequest:
    found = await rides.get_request(conn, request_id)
    if found is None or not await _visible(conn, who, found.person_id, found.community_id):
        raise NotFoundError("no such request")
    return found


async def list_requests(request: web.Request) -> web.Response:
    who = await principal(request)
    flt = list_filter(request.query, statuses=RIDE_STATUSES)
    async with pool(request).acquire() as conn:
        page = await rides.list_requests(
            conn, flt, see_all=who.is_admin, me=who.person_id, scope=sorted(who.operator_of)
        )
    return web.json_response(page_json(page, request_json))


async def get_request(request: web.Request) -> web.Response:
    who = await principal(request)
    async with pool(request).acquire() as conn:
        found = await _request_or_404(conn, who, path_id(request))
    return web.json_response(request_json(found))


async def cancel_request(request: web.Request) -> web.Response:
    who = await principal(request)
    request_id = path_id(request)

    async def action(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        await _request_or_404(conn, who, request_id)
        ride_request = await rides.cancel_request(conn, request_id)
        # The seats it held are free at once, not only after the next matching run.
        await bookings.release_request(conn, request_id)
        return 200, request_json(ride_request)

    return await idempotent(request, who, {}, action)
