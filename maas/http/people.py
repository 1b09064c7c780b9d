"""People, roles and tokens, and each person's own data (export, deletion).

Admins manage everyone. An operator manages the riders and drivers whose home community they
operate, but never grants staff rights nor acts for other staff (no privilege escalation).
Everyone manages themself: name and contact, becoming a rider or driver, their tokens.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from maas.domain.models import Person, Principal, Token
from maas.errors import ForbiddenError, InputError, NotFoundError
from maas.http.common import (
    idempotent,
    list_filter,
    page_json,
    path_id,
    pool,
    principal,
    read_body,
    utc,
)
from maas.http.location import located
from maas.http.matches import match_json
from maas.http.rides import offer_json, request_json
from maas.store import communities, matches, people, rides
from maas.store.common import ListFilter

PEOPLE_LIST_PARAMETERS = ("limit", "cursor", "community_id")


def person_json(p: Person) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "name": p.name,
        "phone": p.phone,
        "email": p.email,
        "home_community_id": None if p.home_community_id is None else str(p.home_community_id),
        "roles": p.roles,
        "operator_of": [str(c) for c in p.operator_of],
        "created_at": utc(p.created_at),
        "deleted": p.deleted_at is not None,
    }


def token_json(t: Token) -> dict[str, Any]:
    return {
        "id": str(t.id),
        "person_id": str(t.person_id),
        "label": t.label,
        "created_at": utc(t.created_at),
        "expires_at": utc(t.expires_at),
        "revoked_at": utc(t.revoked_at),
    }


def _is_staff(p: Person) -> bool:
    return p.is_admin or bool(p.operator_of)


def may_act_for(who: Principal, target: Person) -> bool:
    """Self, an admin, or an operator of the target's home community if the target is no
    staff member (an operator must not take over an admin's or another operator's account)."""
    if target.id == who.person_id or who.is_admin:
        return True
    return who.operates(target.home_community_id) and not _is_staff(target)


async def visible_person(conn: asyncpg.Connection, who: Principal, person_id: uuid.UUID) -> Person:
    """The person if the caller may see them; otherwise not found (existence is not leaked)."""
    found = await people.get_person(conn, person_id)
    if found is None or not (found.id == who.person_id or who.operates(found.home_community_id)):
        raise NotFoundError("no such person")
    return found


async def _check_grants(
    conn: asyncpg.Connection,
    who: Principal,
    body: dict[str, Any],
    *,
    target: Person | None,
) -> None:
    """Only admins grant admin or operator rights; the home community must exist and, for an
    operator, be one they operate."""
    if "admin" in body.get("roles", ()) and not who.is_admin:
        raise ForbiddenError("only admins make admins", field="roles")
    if target is not None and target.is_admin and "roles" in body and not who.is_admin:
        raise ForbiddenError("only admins change an admin's roles", field="roles")
    if "operator_of" in body and not who.is_admin:
        raise ForbiddenError("only admins make operators", field="operator_of")
    for i, cid in enumerate(body.get("operator_of", ())):
        if not await communities.get_community(conn, uuid.UUID(cid)):
            raise InputError(f"operator_of.{i}", "no such community")
    if "home_community_id" in body:
        home = uuid.UUID(body["home_community_id"])
        if not await communities.get_community(conn, home):
            raise InputError("home_community_id", "no such community")
        if not who.operates(home):
            raise ForbiddenError(
                "you may only place people in communities you operate", field="home_community_id"
            )


async def create_person(request: web.Request) -> web.Response:
    who = await principal(request)
    if not (who.is_admin or who.is_operator):
        raise ForbiddenError("only operators and admins register people")
    body = await read_body(request, "person-create")

    async def action(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        await _check_grants(conn, who, body, target=None)
        roles = set(body.get("roles", ()))
        created = await people.create_person(
            conn,
            name=body["name"],
            phone=body.get("phone"),
            email=body.get("email"),
            home_community_id=uuid.UUID(body["home_community_id"]),
            is_rider="rider" in roles,
            is_driver="driver" in roles,
            is_admin="admin" in roles,
            operator_of=[uuid.UUID(c) for c in body.get("operator_of", ())],
        )
        return 201, person_json(created)

    return located(await idempotent(request, who, body, action), "/v1/people/{id}")


async def list_people(request: web.Request) -> web.Response:
    who = await principal(request)
    if not (who.is_admin or who.is_operator):
        raise ForbiddenError("only operators and admins list people; see /v1/me")
    flt = list_filter(request.query, accepted=PEOPLE_LIST_PARAMETERS)
    async with pool(request).acquire() as conn:
        page = await people.list_people(
            conn, flt, all_communities=who.is_admin, scope=sorted(who.operator_of)
        )
    return web.json_response(page_json(page, person_json))


async def get_person(request: web.Request) -> web.Response:
    who = await principal(request)
    async with pool(request).acquire() as conn:
        found = await visible_person(conn, who, path_id(request))
    return web.json_response(person_json(found))


async def patch_person(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await read_body(request, "person-patch")
    async with pool(request).acquire() as conn, conn.transaction():
        target = await visible_person(conn, who, path_id(request))
        if not may_act_for(who, target) or target.deleted_at is not None:
            raise ForbiddenError("you may not change this person")
        await _check_grants(conn, who, body, target=target)
        roles = set(body["roles"]) if "roles" in body else None
        updated = await people.update_person(
            conn,
            target.id,
            name=body.get("name"),
            phone=(body["phone"],) if "phone" in body else None,
            email=(body["email"],) if "email" in body else None,
            home_community_id=(
                uuid.UUID(body["home_community_id"]) if "home_community_id" in body else None
            ),
            is_rider=None if roles is None else "rider" in roles,
            is_driver=None if roles is None else "driver" in roles,
            is_admin=None if roles is None or not who.is_admin else "admin" in roles,
            operator_of=(
                [uuid.UUID(c) for c in body["operator_of"]] if "operator_of" in body else None
            ),
        )
    assert updated is not None
    return web.json_response(person_json(updated))


async def create_token(request: web.Request) -> web.Response:
    who = await principal(request)
    person_id = path_id(request)
    body = await read_body(request, "token-create")

    async def action(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        target = await visible_person(conn, who, person_id)
        if not may_act_for(who, target):
            raise ForbiddenError("you may not create tokens for this person")
        days = int(body.get("expires_in_days", 90))
        token, secret = await people.create_token(
            conn,
            target.id,
            label=body.get("label", ""),
            expires_at=datetime.now(UTC) + timedelta(days=days),
        )
        return 201, {**token_json(token), "secret": secret}

    # The secret is never stored, not even in the idempotency record: a replay omits it.
    answer = await idempotent(
        request, who, body, action, stored_form=lambda payload: {**payload, "secret": None}
    )
    return located(answer, "/v1/tokens/{id}")


async def list_tokens(request: web.Request) -> web.Response:
    who = await principal(request)
    async with pool(request).acquire() as conn:
        target = await visible_person(conn, who, path_id(request))
        if not may_act_for(who, target):
            raise ForbiddenError("you may not see this person's tokens")
        tokens = await people.list_tokens(conn, target.id)
    return web.json_response({"items": [token_json(t) for t in tokens], "next_cursor": None})


async def revoke_token(request: web.Request) -> web.Response:
    who = await principal(request)
    async with pool(request).acquire() as conn, conn.transaction():
        token = await people.get_token(conn, path_id(request))
        if token is None:
            raise NotFoundError("no such token")
        owner = await people.get_person(conn, token.person_id)
        if owner is None or not (
            owner.id == who.person_id or who.operates(owner.home_community_id)
        ):
            raise NotFoundError("no such token")
        if not may_act_for(who, owner):
            raise ForbiddenError("you may not revoke this person's tokens")
        await people.revoke_token(conn, token.id)
    return web.Response(status=204)


async def me(request: web.Request) -> web.Response:
    who = await principal(request)
    async with pool(request).acquire() as conn:
        found = await people.get_person(conn, who.person_id)
    assert found is not None
    return web.json_response(person_json(found))


async def export_me(request: web.Request) -> web.Response:
    """Everything stored about the caller, in one JSON document (GDPR Art. 15 and 20)."""
    who = await principal(request)
    own = ListFilter(limit=10_000)
    async with pool(request).acquire() as conn, conn.transaction(readonly=True):
        person = await people.get_person(conn, who.person_id)
        assert person is not None
        tokens = await people.list_tokens(conn, who.person_id)
        offers = await rides.list_offers(
            conn, own, see_all=False, me=who.person_id, scope=(), person_id=who.person_id
        )
        requests = await rides.list_requests(
            conn, own, see_all=False, me=who.person_id, scope=(), person_id=who.person_id
        )
        rides_of = await matches.matches_of_person(conn, who.person_id)
    body = {
        "exported_at": utc(datetime.now(UTC)),
        "person": person_json(person),
        "tokens": [token_json(t) for t in tokens],
        "offers": [offer_json(o) for o in offers.items],
        "requests": [request_json(r) for r in requests.items],
        "matches": [match_json(m, who) for m in rides_of],
    }
    return web.json_response(
        body, headers={"Content-Disposition": 'attachment; filename="maas-export.json"'}
    )


async def delete_me(request: web.Request) -> web.Response:
    """Delete the caller's account: personal fields go, exact places of past rides become
    approximate, open rides are cancelled, tokens revoked; anonymous statistics remain."""
    who = await principal(request)
    async with pool(request).acquire() as conn, conn.transaction():
        await rides.anonymise_rides(conn, who.person_id)
        await people.anonymise_person(conn, who.person_id)
    return web.Response(status=204)
