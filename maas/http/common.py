"""What every API handler needs: the caller, the validated body, list parameters, rendering,
and idempotent POSTs."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, date, datetime, time
from typing import Any

import asyncpg
from aiohttp import web

from maas import appkeys
from maas.domain import cursor
from maas.domain.models import Point, Principal
from maas.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InputError,
    NotFoundError,
    UnsupportedMediaTypeError,
)
from maas.store import idempotency, people
from maas.store.common import ListFilter, Page

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_PAGE = 200


def pool(request: web.Request) -> asyncpg.Pool:
    return request.app[appkeys.DB_POOL]


async def principal(request: web.Request, conn: asyncpg.Connection | None = None) -> Principal:
    """The caller, from ``Authorization: Bearer <token>``; 401 if missing, unknown, expired,
    revoked, or the person was deleted. Looked up in the database on every request (no cache),
    so a revoked token stops working at once; a handler that holds a connection passes it."""
    if appkeys.PRINCIPAL in request:
        return request[appkeys.PRINCIPAL]
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthenticationError("send an API token as 'Authorization: Bearer <token>'")
    if conn is None:
        async with pool(request).acquire() as own:
            found = await people.principal_for_secret(own, secret.strip())
    else:
        found = await people.principal_for_secret(conn, secret.strip())
    if found is None:
        raise AuthenticationError("the token is unknown, expired or revoked")
    request[appkeys.PRINCIPAL] = found
    return found


async def read_body(request: web.Request, schema: str) -> dict[str, Any]:
    """The JSON body, validated against ``schemas/<schema>.json``: 415, 400 or 422 if not."""
    ctype = request.content_type
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"send the body as application/json, not {ctype or 'nothing'}"
        )
    raw = await request.read()  # more than client_max_size raises 413 here
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequestError("the body is nested too deeply") from None
    request.app[appkeys.SCHEMAS].validate(schema, body)
    assert isinstance(body, dict)  # every body schema is an object
    return body


def parse_time(value: str, field: str) -> datetime:
    """An RFC 3339 time with offset (checked by the schema) as an aware datetime."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(field, "is not an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        raise InputError(field, "needs a UTC offset, e.g. 2026-05-04T07:30:00+02:00")
    return parsed


def parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(field, "is not a date (YYYY-MM-DD)") from None


def parse_clock(value: str, field: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise InputError(field, "is not a local time (HH:MM)") from None


def parse_uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise InputError(field, "is not a UUID") from None


def path_id(request: web.Request, name: str = "id") -> uuid.UUID:
    """A path id; a malformed one is simply not found (ids are UUIDs)."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFoundError(f"nothing has the id {request.match_info[name][:40]!r}") from None


def utc(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def point_json(point: Point | None) -> dict[str, float] | None:
    return None if point is None else {"lon": round(point.lon, 7), "lat": round(point.lat, 7)}


RIDE_LIST_PARAMETERS = ("limit", "cursor", "community_id", "status", "from", "to", "bbox")
"""What the lists of offers, requests and matches take; other lists take a subset."""


def list_filter(
    query: Mapping[str, str],
    *,
    accepted: Collection[str] = RIDE_LIST_PARAMETERS,
    statuses: tuple[str, ...] = (),
) -> ListFilter:
    """The list parameters (limit, cursor, community_id, status, from, to, bbox); a parameter
    this list does not take is an error rather than silently ignored."""
    for name in query:
        if name not in accepted:
            raise InputError(name, "is not a parameter of this list")
    limit = 50
    if "limit" in query:
        try:
            limit = int(query["limit"])
        except ValueError:
            raise InputError("limit", "is not a whole number") from None
        if not 1 <= limit <= MAX_PAGE:
            raise InputError("limit", f"must be 1 to {MAX_PAGE}")
    after = cursor.decode(query["cursor"]) if "cursor" in query else None
    community = (
        parse_uuid(query["community_id"], "community_id") if "community_id" in query else None
    )
    status = query.get("status")
    if status is not None and status not in statuses:
        raise InputError("status", f"must be one of {', '.join(statuses)}")
    # An unencoded "+01:00" in a query string arrives as " 01:00".
    time_from = parse_time(query["from"].replace(" ", "+"), "from") if "from" in query else None
    time_to = parse_time(query["to"].replace(" ", "+"), "to") if "to" in query else None
    if time_from and time_to and time_to <= time_from:
        raise InputError("to", "must be after 'from'")
    bbox = parse_bbox(query["bbox"]) if "bbox" in query else None
    return ListFilter(limit, after, community, status, time_from, time_to, bbox)


def parse_bbox(raw: str) -> tuple[float, float, float, float]:
    parts = raw.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InputError("bbox", "is minlon,minlat,maxlon,maxlat (four numbers)") from None
    if len(values) != 4 or any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise InputError("bbox", "is minlon,minlat,maxlon,maxlat (four numbers)")
    minlon, minlat, maxlon, maxlat = values
    if not (-180 <= minlon <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90):
        raise InputError("bbox", "must be ordered min before max, within -180..180, -90..90")
    return minlon, minlat, maxlon, maxlat


def page_json(page: Page[Any], render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    items = [render(item) for item in page.items]
    next_cursor = None
    if page.has_more and page.items:
        last = page.items[-1]
        next_cursor = cursor.encode(last.created_at, last.id)
    return {"items": items, "next_cursor": next_cursor}


def body_sha256(request: web.Request, body: Any) -> bytes:
    """Method, path and the canonical body: a retry with reordered keys is still a retry."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).digest()


async def idempotent(
    request: web.Request,
    who: Principal,
    body: Any,
    action: Callable[[asyncpg.Connection], Awaitable[tuple[int, dict[str, Any]]]],
    *,
    stored_form: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    conn: asyncpg.Connection | None = None,
    single_write: bool = False,
) -> web.Response:
    """Run ``action`` in one transaction; with an ``Idempotency-Key`` header, a retry returns
    the stored answer and a reuse of the key for another request is a 409. ``stored_form``
    removes what must not be kept (a token's secret) from the stored copy.

    ``conn``: the handler's connection (else one from the pool). ``single_write``: the action
    changes the database with one statement only, which is atomic by itself, so without a key
    it runs without a transaction of its own (two round trips fewer)."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not 1 <= len(key) <= 200:
        raise InputError(IDEMPOTENCY_HEADER, "must be 1 to 200 characters")
    if conn is None:
        async with pool(request).acquire() as own:
            return await _idempotent(
                request, who, body, action, stored_form, own, key, single_write
            )
    return await _idempotent(request, who, body, action, stored_form, conn, key, single_write)


async def _idempotent(
    request: web.Request,
    who: Principal,
    body: Any,
    action: Callable[[asyncpg.Connection], Awaitable[tuple[int, dict[str, Any]]]],
    stored_form: Callable[[dict[str, Any]], dict[str, Any]] | None,
    conn: asyncpg.Connection,
    key: str | None,
    single_write: bool,
) -> web.Response:
    if key is None and single_write:
        status, payload = await action(conn)
        return web.json_response(payload, status=status)
    async with conn.transaction():
        if key is not None:
            digest = body_sha256(request, body)
            stored = await idempotency.claim(conn, who.person_id, key, digest)
            if stored is not None:
                if stored.request_sha256 != digest:
                    raise ConflictError(
                        "this Idempotency-Key was used for a different request",
                        field=IDEMPOTENCY_HEADER,
                    )
                return web.json_response(
                    stored.body,
                    status=stored.status_code,
                    headers={"Idempotent-Replayed": "true"},
                )
        status, payload = await action(conn)
        if key is not None:
            kept = payload if stored_form is None else stored_form(payload)
            await idempotency.save(conn, who.person_id, key, status, kept)
    return web.json_response(payload, status=status)
