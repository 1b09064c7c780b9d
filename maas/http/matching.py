"""Matching runs and the booking lifecycle of matches.

* ``POST /v1/communities/{id}/matching-runs`` starts a run and answers **202** at once with the
  run (status ``running``) and its ``Location``; ``GET /v1/matching-runs/{id}`` shows it
  finished. Runs take seconds to minutes, longer than an HTTP request should wait. A second
  run of the same community while one is in progress is refused with **409** naming nothing
  else to do but retry later (the running one is in ``GET …/matching-runs``). Operators of
  the community and admins only.
* ``POST /v1/matches/{id}/accept|decline|cancel`` — the driver answers for the whole match,
  a rider for their own part (see :mod:`maas.domain.booking`); operators answer on someone's
  behalf (``request_id`` for a rider, none for the driver). ``complete`` and ``no-show`` are
  the operator's, for confirmed matches. A move the lifecycle forbids is a **409** problem; a
  seat that is gone is a **409** with ``reason: no_free_seat``.
* ``GET /v1/requests/{id}/outcome`` — why a request got no ride in the latest run (or which
  match proposes one), and the fallback the rider was told at the cut-off (phone, bus).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import asyncpg
from aiohttp import web

from maas import appkeys
from maas.domain import booking
from maas.domain.booking import Action
from maas.domain.models import Principal
from maas.errors import ConflictError, ForbiddenError, NotFoundError
from maas.http.common import parse_date, parse_time, path_id, pool, principal, read_body, utc
from maas.http.matches import match_json
from maas.http.openapi import ApiRoute
from maas.planning import fallback, worker
from maas.planning.service import MatchingRunner, RunRequest, check_horizon, day_horizon
from maas.store import bookings, planning, rides
from maas.store import fallback as fallback_store
from maas.store import matches as match_store
from maas.store.common import ListFilter
from maas.store.planning import MatchingRun

RUN_LIST_LIMIT = 20


def run_json(run: MatchingRun) -> dict[str, Any]:
    return {
        "id": str(run.id),
        "community_id": str(run.community_id),
        "horizon": {"from": utc(run.horizon_start), "to": utc(run.horizon_end)},
        "trigger": run.trigger,
        "status": run.status,
        "started_at": utc(run.started_at),
        "finished_at": utc(run.finished_at),
        "params_version": run.params_version,
        "params": run.params,
        "counts": {
            "requests": run.requests_count,
            "occurrences": run.occurrences_count,
            "served": run.served_count,
            "unserved": run.unserved_count,
            "matches": run.matches_count,
        },
        "objective": run.objective,
        "solver_status": run.solver_status,
        "timings_s": run.timings,
        "error": run.error,
    }


def _runner(request: web.Request) -> Any:
    return request.app[appkeys.MATCHING]


async def _staff_community(request: web.Request, who: Principal) -> uuid.UUID:
    community_id = path_id(request)
    async with pool(request).acquire() as conn:
        found = await planning.community_params(conn, community_id)
    if found is None:
        raise NotFoundError("no such community")
    if not who.operates(community_id):
        raise ForbiddenError("only the community's operators and admins run matching")
    return community_id


async def create_run(request: web.Request) -> web.Response:
    who = await principal(request)
    community_id = await _staff_community(request, who)
    body: dict[str, Any] = {}
    if request.can_read_body:
        body = await read_body(request, "matching-run-create")
    horizon = None
    if "date" in body:
        horizon = day_horizon(parse_date(body["date"], "date"))
    elif "from" in body:
        horizon = check_horizon(parse_time(body["from"], "from"), parse_time(body["to"], "to"))
    run, _ = await _runner(request).start(
        RunRequest(
            community_id,
            horizon=horizon,
            trigger="operator",
            requested_by=who.person_id,
            time_limit_s=body.get("time_limit_s"),
        )
    )
    return web.json_response(
        run_json(run), status=202, headers={"Location": f"/v1/matching-runs/{run.id}"}
    )


async def list_runs(request: web.Request) -> web.Response:
    who = await principal(request)
    community_id = await _staff_community(request, who)
    async with pool(request).acquire() as conn:
        runs = await planning.list_runs(conn, community_id, limit=RUN_LIST_LIMIT)
    return web.json_response({"items": [run_json(r) for r in runs], "next_cursor": None})


async def get_run(request: web.Request) -> web.Response:
    who = await principal(request)
    async with pool(request).acquire() as conn:
        run = await planning.get_run(conn, path_id(request))
    if run is None or not who.operates(run.community_id):
        raise NotFoundError("no such matching run")
    return web.json_response(run_json(run))


async def request_outcome(request: web.Request) -> web.Response:
    who = await principal(request)
    request_id = path_id(request)
    async with pool(request).acquire() as conn:
        found = await rides.get_request(conn, request_id)
        if found is None or not (
            found.person_id == who.person_id or who.operates(found.community_id)
        ):
            raise NotFoundError("no such request")
        outcome = await planning.latest_outcome(conn, request_id)
        told = fallback.told_json(await fallback_store.told(conn, request_id))
    if outcome is None:
        return web.json_response({"request_id": str(request_id), "outcome": None, "fallback": told})
    return web.json_response(
        {
            "request_id": str(request_id),
            "outcome": {
                "run_id": str(outcome.run_id),
                "served": outcome.served,
                "match_id": None if outcome.match_id is None else str(outcome.match_id),
                "reason": outcome.reason,
                "decided_at": utc(outcome.created_at),
            },
            "fallback": told,
        }
    )


# ---- the booking lifecycle ---------------------------------------------------------------


async def _answer(request: web.Request, action: Action) -> web.Response:
    who = await principal(request)
    match_id = path_id(request)
    body: dict[str, Any] = {}
    if request.can_read_body:
        body = await read_body(request, "match-action")
    on_behalf = uuid.UUID(body["request_id"]) if "request_id" in body else None
    try:
        async with pool(request).acquire() as conn, conn.transaction():
            await answer(conn, who, match_id, action, on_behalf)
    except asyncpg.UniqueViolationError:
        raise ConflictError("this request is already accepted in another match") from None
    except asyncpg.DeadlockDetectedError:
        raise ConflictError("another answer to this trip came at the same moment; retry") from None
    async with pool(request).acquire() as conn:
        page = await match_store.list_matches(
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


async def answer(
    conn: asyncpg.Connection,
    who: Principal,
    match_id: uuid.UUID,
    action: Action,
    on_behalf: uuid.UUID | None = None,
) -> str:
    """Apply one answer inside the caller's transaction; returns the match's new status."""
    community_id = await bookings.match_community(conn, match_id)
    if community_id is None:
        raise NotFoundError("no such match")
    await planning.write_lock(conn, community_id, shared=True)
    m = await bookings.lock_match(conn, match_id)
    if m is None:
        raise NotFoundError("no such match")  # replaced by a run a moment ago
    staff = who.operates(m.community_id)
    mine = [r for r in m.riders if r.person_id == who.person_id]
    is_driver = m.driver_id == who.person_id
    if not (staff or is_driver or mine):
        raise NotFoundError("no such match")
    if action in booking.OPERATOR_ACTIONS:
        if not staff:
            raise ForbiddenError("only the community's operators mark trips completed or no-show")
        status = booking.operator_transition(action, m.status)
        if status != m.status:
            await bookings.set_status(conn, m.id, status)
        return status
    if on_behalf is not None:
        riders = [r for r in m.riders if r.request_id == on_behalf]
        if not riders:
            raise NotFoundError("no such rider in this match")
        if not (staff or riders[0].person_id == who.person_id):
            raise ForbiddenError("you may only answer for your own ride")
        await _rider_answer(conn, m, riders, action)
    elif is_driver or (staff and not mine):
        new = booking.party_transition(action, m.status, m.driver_status)
        if new != m.driver_status:
            await bookings.set_driver(conn, m.id, new)
    else:
        await _rider_answer(conn, m, mine, action)
    return await bookings.settle(conn, m.id)


async def _rider_answer(
    conn: asyncpg.Connection,
    m: bookings.LockedMatch,
    riders: list[bookings.RiderAnswer],
    action: Action,
) -> None:
    for rider in riders:
        new = booking.party_transition(action, m.status, rider.status)
        if new == rider.status:
            continue
        if new == "accepted":
            if await bookings.accepted_elsewhere(conn, rider.request_id, m.id):
                raise ConflictError("you already accepted another ride for this request")
            seats = await bookings.lock_offer_seats(conn, m.offer_id)
            stops = await bookings.accepted_stops(conn, m.offer_id, m.occurrence_date)
            stops += await bookings.rider_stops(conn, m.id, rider.request_id)
            booking.require_seats(stops, seats)
        await bookings.set_rider(conn, m.id, rider.request_id, new)


async def accept_match(request: web.Request) -> web.Response:
    return await _answer(request, Action.ACCEPT)


async def decline_match(request: web.Request) -> web.Response:
    return await _answer(request, Action.DECLINE)


async def cancel_match(request: web.Request) -> web.Response:
    return await _answer(request, Action.CANCEL)


async def complete_match(request: web.Request) -> web.Response:
    return await _answer(request, Action.COMPLETE)


async def no_show_match(request: web.Request) -> web.Response:
    return await _answer(request, Action.NO_SHOW)


# ---- assembly ----------------------------------------------------------------------------


async def matching_ctx(app: web.Application) -> AsyncIterator[None]:
    """The worker pool (warmed with the road network) and the runner, with its scheduler when
    ``matching_interval_s`` > 0. Workers are started by ``forkserver``, never ``fork``: the
    service has threads (asyncpg, the executor's own) that a forked child would inherit
    half-way."""
    settings = app[appkeys.SETTINGS]
    network = app[appkeys.ROAD_NETWORK]

    def make_executor() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=settings.worker_processes,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=worker.warm,
            initargs=(getattr(network, "path", None), settings.log_level),
        )

    executor = make_executor()
    app[appkeys.WORKERS] = executor
    runner = MatchingRunner(
        settings,
        app[appkeys.DB_POOL],
        executor,
        lambda: app[appkeys.ROAD_NETWORK],
        make_executor=make_executor,
    )
    app[appkeys.MATCHING] = runner
    path = getattr(network, "path", None)
    if path is not None:
        # Start one worker now, so that the first run does not wait for it to map the graph.
        warming = asyncio.get_running_loop().run_in_executor(executor, worker.warm, path)
        warming.add_done_callback(lambda f: f.cancelled() or f.exception())
    runner.start_scheduler()
    try:
        yield
    finally:
        await runner.close()
        if runner.executor is not None:
            await asyncio.to_thread(runner.executor.shutdown, wait=True, cancel_futures=True)


def api_routes() -> list[ApiRoute]:
    """This module's operations, for :func:`maas.app.api_routes`."""
    staff = "operators (of the community) and admins"
    return [
        ApiRoute(
            "POST",
            "/v1/communities/{id}/matching-runs",
            create_run,
            "Start a matching run (202; poll the run)",
            "matching",
            roles=staff,
            body="matching-run-create",
            body_required=False,
            ok="202",
            response="matching-run",
            location="/v1/matching-runs/{id}",
            needs_roads=True,
        ),
        ApiRoute(
            "GET",
            "/v1/communities/{id}/matching-runs",
            list_runs,
            "The community's latest matching runs",
            "matching",
            roles=staff,
            response="matching-run",
            page=True,
        ),
        ApiRoute(
            "GET",
            "/v1/matching-runs/{id}",
            get_run,
            "Get a matching run",
            "matching",
            roles=staff,
            response="matching-run",
        ),
        ApiRoute(
            "GET",
            "/v1/requests/{id}/outcome",
            request_outcome,
            "What the latest matching run decided for a request, and why",
            "requests",
            roles="its rider, " + staff,
            response="request-outcome",
        ),
        ApiRoute(
            "POST",
            "/v1/matches/{id}/accept",
            accept_match,
            "Accept a proposed ride (driver: the whole match; rider: their own part)",
            "matches",
            roles="its driver and riders; " + staff + " on their behalf",
            body="match-action",
            response="match",
        ),
        ApiRoute(
            "POST",
            "/v1/matches/{id}/decline",
            decline_match,
            "Decline a proposed ride",
            "matches",
            roles="its driver and riders; " + staff + " on their behalf",
            body="match-action",
            response="match",
        ),
        ApiRoute(
            "POST",
            "/v1/matches/{id}/cancel",
            cancel_match,
            "Cancel an accepted or confirmed ride",
            "matches",
            roles="its driver and riders; " + staff + " on their behalf",
            body="match-action",
            response="match",
        ),
        ApiRoute(
            "POST",
            "/v1/matches/{id}/complete",
            complete_match,
            "Mark a confirmed ride as completed",
            "matches",
            roles=staff,
            response="match",
        ),
        ApiRoute(
            "POST",
            "/v1/matches/{id}/no-show",
            no_show_match,
            "Mark a confirmed ride as a no-show",
            "matches",
            roles=staff,
            response="match",
        ),
    ]
