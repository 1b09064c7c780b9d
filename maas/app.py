"""The app factory: the one place where the service is assembled from its parts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from maas import appkeys, db, notify
from maas.errors import MaasError
from maas.http import (
    communities,
    dashboard,
    events,
    health,
    matches,
    matching,
    openapi,
    operator,
    people,
    rides,
)
from maas.http.common import RIDE_LIST_PARAMETERS
from maas.http.openapi import ApiRoute
from maas.http.problems import request_context_middleware
from maas.schemas import SchemaRegistry
from maas.settings import Settings

log = logging.getLogger("maas.app")


async def _db_pool_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = await db.create_pool(app[appkeys.SETTINGS])
    app[appkeys.DB_POOL] = pool
    yield
    await pool.close()


async def _road_network_ctx(app: web.Application) -> AsyncIterator[None]:
    # Imported here so that the web layer can be tested without building a graph.
    from maas.roads import load_network

    settings = app[appkeys.SETTINGS]
    app[appkeys.ROAD_NETWORK] = None
    app[appkeys.ROAD_NETWORK_ERROR] = "not loaded yet"
    try:
        async with app[appkeys.DB_POOL].acquire() as conn:
            network = await load_network(
                conn,
                settings.region,
                settings.cache_dir,
                snap_max_distance_m=settings.snap_max_distance_m,
            )
    except MaasError as error:
        # The service still answers /healthz, and /readyz says why it is not ready.
        log.warning("road network not loaded: %s", error)
        app[appkeys.ROAD_NETWORK_ERROR] = str(error)
    else:
        app[appkeys.ROAD_NETWORK] = network
        app[appkeys.ROAD_NETWORK_ERROR] = ""
        log.info("road network '%s' loaded", settings.region)
    yield


def api_routes() -> list[ApiRoute]:
    """The documented API: each operation, who may call it and what it takes. The OpenAPI
    document is built from this table (and the JSON Schemas), never written by hand."""
    lst = RIDE_LIST_PARAMETERS
    staff = "operators (of their communities) and admins"
    ride_statuses = rides.RIDE_STATUSES
    return [
        ApiRoute(
            "GET",
            "/openapi.json",
            openapi.openapi_json,
            "This document",
            "meta",
            roles="everyone",
            public=True,
        ),
        ApiRoute(
            "GET",
            "/docs",
            openapi.docs_page,
            "This document as a web page",
            "meta",
            roles="everyone",
            public=True,
            media_type="text/html",
        ),
        # Communities and meeting points
        ApiRoute(
            "GET",
            "/v1/communities",
            communities.list_communities,
            "List communities",
            "communities",
            query=communities.COMMUNITY_LIST_PARAMETERS,
            response="community",
            page=True,
        ),
        ApiRoute(
            "POST",
            "/v1/communities",
            communities.create_community,
            "Create a community",
            "communities",
            roles="admins",
            body="community-create",
            ok="201",
            response="community",
            idempotent=True,
            location="/v1/communities/{id}",
        ),
        ApiRoute(
            "GET",
            "/v1/communities/{id}",
            communities.get_community,
            "Get a community",
            "communities",
            response="community",
        ),
        ApiRoute(
            "PATCH",
            "/v1/communities/{id}",
            communities.patch_community,
            "Change a community (name, area, settings)",
            "communities",
            roles=staff,
            body="community-patch",
            response="community",
        ),
        ApiRoute(
            "GET",
            "/v1/meeting-points",
            communities.list_meeting_points,
            "List meeting points",
            "meeting points",
            query=communities.MEETING_POINT_LIST_PARAMETERS,
            response="meeting-point",
            page=True,
        ),
        ApiRoute(
            "POST",
            "/v1/meeting-points",
            communities.create_meeting_point,
            "Add a meeting point",
            "meeting points",
            roles=staff,
            body="meeting-point-create",
            ok="201",
            response="meeting-point",
            idempotent=True,
            location="/v1/meeting-points/{id}",
        ),
        ApiRoute(
            "GET",
            "/v1/meeting-points/{id}",
            communities.get_meeting_point,
            "Get a meeting point",
            "meeting points",
            response="meeting-point",
        ),
        ApiRoute(
            "PATCH",
            "/v1/meeting-points/{id}",
            communities.patch_meeting_point,
            "Change a meeting point",
            "meeting points",
            roles=staff,
            body="meeting-point-patch",
            response="meeting-point",
        ),
        ApiRoute(
            "DELETE",
            "/v1/meeting-points/{id}",
            communities.delete_meeting_point,
            "Remove a meeting point",
            "meeting points",
            roles=staff,
            ok="204",
        ),
        # People, roles and tokens
        ApiRoute("GET", "/v1/me", people.me, "The caller", "people", response="person"),
        ApiRoute(
            "GET",
            "/v1/me/export",
            people.export_me,
            "Export all of the caller's data",
            "people",
            response="export",
        ),
        ApiRoute(
            "DELETE",
            "/v1/me",
            people.delete_me,
            "Delete the caller's account (anonymises their data)",
            "people",
            ok="204",
        ),
        ApiRoute(
            "GET",
            "/v1/people",
            people.list_people,
            "List people",
            "people",
            roles=staff,
            query=people.PEOPLE_LIST_PARAMETERS,
            response="person",
            page=True,
        ),
        ApiRoute(
            "POST",
            "/v1/people",
            people.create_person,
            "Register a person",
            "people",
            roles=staff + "; only admins grant admin or operator rights",
            body="person-create",
            ok="201",
            response="person",
            idempotent=True,
            location="/v1/people/{id}",
        ),
        ApiRoute(
            "GET",
            "/v1/people/{id}",
            people.get_person,
            "Get a person",
            "people",
            roles="the person, " + staff,
            response="person",
        ),
        ApiRoute(
            "PATCH",
            "/v1/people/{id}",
            people.patch_person,
            "Change a person",
            "people",
            roles="the person, " + staff,
            body="person-patch",
            response="person",
        ),
        ApiRoute(
            "GET",
            "/v1/people/{id}/tokens",
            people.list_tokens,
            "List a person's tokens",
            "tokens",
            roles="the person, " + staff,
            response="token",
            page=True,
        ),
        ApiRoute(
            "POST",
            "/v1/people/{id}/tokens",
            people.create_token,
            "Create a token (the secret is shown once)",
            "tokens",
            roles="the person, " + staff,
            body="token-create",
            ok="201",
            response="token",
            idempotent=True,
            location="/v1/tokens/{id}",
        ),
        ApiRoute(
            "DELETE",
            "/v1/tokens/{id}",
            people.revoke_token,
            "Revoke a token",
            "tokens",
            roles="the token's person, " + staff,
            ok="204",
        ),
        # Rides
        ApiRoute(
            "GET",
            "/v1/offers",
            rides.list_offers,
            "List ride offers",
            "offers",
            roles="drivers (own), " + staff,
            query=lst,
            statuses=ride_statuses,
            response="offer",
            page=True,
        ),
        ApiRoute(
            "POST",
            "/v1/offers",
            rides.create_offer,
            "Offer a ride",
            "offers",
            roles="drivers; " + staff + " for someone (person_id)",
            body="offer-create",
            ok="201",
            response="offer",
            location="/v1/offers/{id}",
            idempotent=True,
            needs_roads=True,
        ),
        ApiRoute(
            "GET",
            "/v1/offers/{id}",
            rides.get_offer,
            "Get a ride offer",
            "offers",
            roles="its driver, " + staff,
            response="offer",
        ),
        ApiRoute(
            "PATCH",
            "/v1/offers/{id}",
            rides.patch_offer,
            "Change a ride offer",
            "offers",
            roles="its driver, " + staff,
            body="offer-patch",
            response="offer",
            needs_roads=True,
        ),
        ApiRoute(
            "POST",
            "/v1/offers/{id}/cancel",
            rides.cancel_offer,
            "Cancel a ride offer",
            "offers",
            roles="its driver, " + staff,
            response="offer",
            idempotent=True,
        ),
        ApiRoute(
            "GET",
            "/v1/requests",
            rides.list_requests,
            "List ride requests",
            "requests",
            roles="riders (own), " + staff,
            query=lst,
            statuses=ride_statuses,
            response="request",
            page=True,
        ),
        ApiRoute(
            "POST",
            "/v1/requests",
            rides.create_request,
            "Request a ride",
            "requests",
            roles="riders; " + staff + " for someone (person_id)",
            body="request-create",
            ok="201",
            response="request",
            location="/v1/requests/{id}",
            idempotent=True,
            needs_roads=True,
        ),
        ApiRoute(
            "GET",
            "/v1/requests/{id}",
            rides.get_request,
            "Get a ride request",
            "requests",
            roles="its rider, " + staff,
            response="request",
        ),
        ApiRoute(
            "POST",
            "/v1/requests/{id}/cancel",
            rides.cancel_request,
            "Cancel a ride request",
            "requests",
            roles="its rider, " + staff,
            response="request",
            idempotent=True,
        ),
        # Matches (read side)
        ApiRoute(
            "GET",
            "/v1/matches",
            matches.list_matches,
            "List matches",
            "matches",
            roles="the driver and riders of each, " + staff,
            query=lst,
            statuses=matches.MATCH_STATUSES,
            response="match",
            page=True,
        ),
        ApiRoute(
            "GET",
            "/v1/matches/{id}",
            matches.get_match,
            "Get a match",
            "matches",
            roles="its driver and riders, " + staff,
            response="match",
        ),
        # Matching runs and the booking lifecycle
        *matching.api_routes(),
        # Live events and webhooks
        ApiRoute(
            "GET",
            "/v1/me/events",
            events.stream_events,
            "The caller's events as a Server-Sent Events stream (resumable with Last-Event-ID)",
            "events",
            params=events.STREAM_PARAMETERS,
            media_type="text/event-stream",
            response="event",
            unavailable="Live events are not available yet (the service has just started); retry",
        ),
        ApiRoute(
            "POST",
            "/v1/webhooks",
            events.create_webhook,
            "Subscribe an app back end to a community's or a person's events",
            "events",
            roles=staff + "; only admins subscribe to one person's events",
            body="webhook-create",
            ok="201",
            response="webhook",
            idempotent=True,
            location="/v1/webhooks/{id}",
        ),
        ApiRoute(
            "GET",
            "/v1/webhooks",
            events.list_webhooks,
            "List webhook subscriptions",
            "events",
            roles=staff + " (admins also see subscriptions to one person's events)",
            query=events.WEBHOOK_LIST_QUERY,
            params=events.WEBHOOK_LIST_PARAMETERS,
            response="webhook",
            page=True,
        ),
        ApiRoute(
            "GET",
            "/v1/webhooks/{id}",
            events.get_webhook,
            "Get a webhook subscription (never its secret)",
            "events",
            roles=staff + " (of the subscription's community; a person's: admins)",
            response="webhook",
        ),
        ApiRoute(
            "PATCH",
            "/v1/webhooks/{id}",
            events.patch_webhook,
            "Change a subscription's URL or secret (the replaced secret may keep signing a while)",
            "events",
            roles=staff + " (of the subscription's community; a person's: admins)",
            body="webhook-patch",
            response="webhook",
        ),
        ApiRoute(
            "DELETE",
            "/v1/webhooks/{id}",
            events.delete_webhook,
            "Unsubscribe: pending deliveries are dropped; dead ones stay listed, not replayable",
            "events",
            roles=staff + " (of the subscription's community; a person's: admins)",
            ok="204",
        ),
        ApiRoute(
            "GET",
            "/v1/webhook-deliveries",
            events.list_deliveries,
            "Webhook deliveries by status: dead (the default), pending or delivered",
            "events",
            roles=staff + " (admins see every subscription's)",
            params=events.DELIVERY_LIST_PARAMETERS,
            response="webhook-delivery",
            page=True,
        ),
        ApiRoute(
            "POST",
            "/v1/webhook-deliveries/{id}/replay",
            events.replay_delivery,
            "Send a dead delivery again (202; it is pending until sent)",
            "events",
            roles=staff + " (of the subscription's community)",
            params=events.DELIVERY_ID_PARAMETERS,
            ok="202",
            response="webhook-delivery",
        ),
        # Operator tools: parameters, KPIs, map layers, what-if replays
        *operator.api_routes(),
        # The dashboard and its map's GeoJSON
        ApiRoute(
            "GET",
            "/dashboard",
            dashboard.dashboard_page,
            "The operator dashboard (it asks for an API token)",
            "dashboard",
            roles="everyone (its data needs an operator's token)",
            public=True,
            media_type="text/html",
        ),
        ApiRoute(
            "GET",
            "/v1/regions/{name}/roads.geojson",
            dashboard.roads_geojson,
            "The region's roads for a map (cached per import)",
            "dashboard",
            params=dashboard.ROADS_PARAMETERS,
            media_type="application/geo+json",
            response="roads-geojson",
        ),
        ApiRoute(
            "GET",
            "/v1/communities.geojson",
            dashboard.communities_geojson,
            "The service region's communities (their areas) for a map",
            "dashboard",
            media_type="application/geo+json",
            response="communities-geojson",
        ),
    ]


def setup_routes(app: web.Application) -> None:
    """Every route of the service, in one place."""
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    for route in api_routes():
        app.router.add_route(route.method, route.path, route.handler)
    dashboard.setup_routes(app)
    events.setup_routes(app)


def create_app(settings: Settings, *, load_roads: bool = True) -> web.Application:
    """Build the service. Nothing is connected until the app starts."""
    app = web.Application(
        middlewares=[request_context_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[appkeys.SETTINGS] = settings
    app[appkeys.SCHEMAS] = SchemaRegistry()
    app[appkeys.OPENAPI] = openapi.build_document(api_routes(), app[appkeys.SCHEMAS])
    app.cleanup_ctx.append(_db_pool_ctx)
    app.cleanup_ctx.append(notify.events_ctx)
    if load_roads:
        app.cleanup_ctx.append(_road_network_ctx)
    else:
        app[appkeys.ROAD_NETWORK] = None
        app[appkeys.ROAD_NETWORK_ERROR] = "road network loading is switched off"
    app.cleanup_ctx.append(matching.matching_ctx)
    app.cleanup_ctx.append(notify.instant_ctx)
    app.cleanup_ctx.append(operator.whatif_ctx)
    app[appkeys.GEOJSON_CACHE] = {}
    setup_routes(app)
    return app
