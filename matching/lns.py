"""Compiled ruin and recreate (SISR-style) for the general matching :class:`~matching.Problem`.

:func:`solve_lns` converts a problem into flat arrays and searches with
slack-induced string removals and greedy insertion with blinks (Christiaens &
Vanden Berghe 2020, "Slack induction by string removals for vehicle routing
problems"), accepted by simulated annealing; the core loop is compiled with
numba (:mod:`matching._lns_kernel`, ``cache=True``).

Search
------
* **Ruin**: a random served rider and the riders related to it (pickup and
  drop-off places, then times) pick up to ``k`` routes; from each, a string
  of consecutive stops (or a string with a kept middle part, "split
  string") around the related rider's stop is taken; every rider with a
  stop in it leaves the route (pickup and drop-off).  The mean number of
  removed riders is ``LnsParams.avg_remove``; confirmed riders never move.
* **Recreate**: removed riders (plus riders currently out of the plan) are
  sorted by one random criterion (random, passengers, trip length, window
  width; confirmed riders first) and each is inserted at its cheapest
  feasible place over all its allowed drivers and all its pickup and
  drop-off candidates (meeting points are chosen here), skipping each
  position with probability ``blink``.  Windows and seats are tested in
  O(1) per position pair with forward earliest / backward latest arrival
  times and loads; ride-time and trip-duration (detour) limits are verified
  exactly for the best candidate.
* **Acceptance**: simulated annealing on the objective, temperature falling
  geometrically from ``t0`` to ``tf`` (both in multiples of the mean arc of
  the first plan).
* **Fleet minimisation** (``vehicles_first``, Li & Lim's hierarchical
  objective): after annealing on all drivers for ``free_share`` of the
  budget, for ``fleet_share`` the smallest route of every complete plan is
  taken away and its riders wait in an ejection pool; a plan is accepted if
  fewer riders are out or the sum of their absence counters (how long each
  has been out) is smaller.  Only complete plans become the best.  The rest
  of the budget anneals on the drivers of the best plan - the fleet phase's
  if it has fewer drivers, else the first phase's (whose routes are better:
  fleet minimisation accepts plans regardless of their driving time).

Objective (as :func:`matching.solve`): penalties of unserved riders
(``drop_penalty * priority``, ``confirmed_drop_penalty``) first, then
``arc_cost_weight`` x driving time of every driver that drives (empty routes
of drivers whose start differs from their end count their direct trip),
``vehicle_fixed_cost`` per such driver, and a per-driver ``ride_cost`` table
(convex cost of the number of riders a driver carries; by default the
fairness term of :mod:`matching.fairness`).

Determinism: with ``LnsParams.iterations`` set and the time limit not
reached, the result depends only on the problem, the parameters and the
seed.  The first call in a process compiles the kernel (about 10-20 s) or
loads it from numba's cache (about 1 s); call :func:`warm_up` before timing
(e.g. in a process pool's initializer).  numba keeps that cache in
``NUMBA_CACHE_DIR`` if set, else in ``matching/__pycache__`` or, if that is
read-only, a per-user cache directory - the only files this module causes
to be written.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching import _lns_kernel as K
from matching._schedule import SeqStop
from matching.check import check
from matching.fairness import effective_fairness_weight, fairness_table
from matching.model import Candidate, Driver, Problem, Rider
from matching.params import SolveParams
from matching.prune import Pruning, prune
from matching.result import Result, SolveStatus, StopKind, UnservedReason
from matching.solver import _active_reasons, _outside_cost, _plan_cost, build_result

__all__ = ["LnsParams", "LnsStats", "solve_lns", "warm_up"]

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class LnsParams:
    """Parameters of :func:`solve_lns` (the time limit comes from :class:`SolveParams`).

    Parameters
    ----------
    iterations
        Ruin-and-recreate iterations; ``None`` = until the time limit.  With a
        budget that finishes before the time limit the result is
        deterministic per seed.
    vehicles_first
        Minimise the number of used drivers before the driving time (fleet
        minimisation phase); for benchmarks with a hierarchical objective.
    free_share, fleet_share
        With ``vehicles_first``: shares of the budget (time or iterations)
        for annealing on all drivers first and for fleet minimisation next;
        the rest anneals on the drivers of the best plan (the fleet phase's
        if it has fewer drivers, else the first phase's).
    avg_remove
        Mean number of riders removed per ruin (SISR's ``c``).
    max_string
        Longest string of stops removed from one route (SISR's ``L_max``).
    blink
        Probability of skipping a position during insertion.
    t0, tf
        Start and final temperature in multiples of the mean arc length
        (driving time per stop) of the first plan.
    neighbours
        Length of each rider's list of related riders.
    time_weight
        Weight of the time difference (earliest pickups, latest drop-offs)
        against the place difference in relatedness.
    """

    iterations: int | None = None
    vehicles_first: bool = False
    free_share: float = 0.2
    fleet_share: float = 0.35
    avg_remove: float = 10.0
    max_string: int = 10
    blink: float = 0.01
    t0: float = 0.5
    tf: float = 0.005
    neighbours: int = 100
    time_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.iterations is not None and self.iterations < 0:
            raise ValueError("iterations: must be >= 0 or None")
        if not 0.0 <= self.fleet_share <= 1.0:
            raise ValueError("fleet_share: must be in [0, 1]")
        if not 0.0 <= self.free_share <= 1.0 - self.fleet_share:
            raise ValueError("free_share: must be in [0, 1 - fleet_share]")
        if not self.avg_remove >= 1.0:
            raise ValueError("avg_remove: must be >= 1")
        if self.max_string < 1:
            raise ValueError("max_string: must be >= 1")
        if not 0.0 <= self.blink < 1.0:
            raise ValueError("blink: must be in [0, 1)")
        if not (self.t0 > 0 and self.tf > 0 and math.isfinite(self.t0 + self.tf)):
            raise ValueError("t0, tf: must be finite numbers > 0")
        if self.neighbours < 1:
            raise ValueError("neighbours: must be >= 1")
        if not self.time_weight >= 0.0:
            raise ValueError("time_weight: must be >= 0")


@dataclass(frozen=True, slots=True)
class LnsStats:
    """What a :func:`solve_lns` run did.

    Parameters
    ----------
    iterations
        Ruin-and-recreate iterations run.
    fleet_successes
        Times fleet minimisation emptied its pool (one driver fewer each).
    setup_s
        Pruning, arrays and the first plan; on the first call in a process
        this includes numba's compilation or cache load.
    search_s
        Time spent in the search loop.
    """

    iterations: int
    fleet_successes: int
    setup_s: float
    search_s: float


@dataclass(frozen=True, eq=False)
class _Built:
    data: K.Data
    #: node -> (rider index, kind, candidate)
    nodes: list[tuple[int, StopKind, Candidate]]
    node_of: dict[tuple[int, StopKind, int], int]
    active: list[int]


def _build(
    problem: Problem,
    params: SolveParams,
    allowed_lists: tuple[tuple[int, ...], ...],
    lns: LnsParams,
    ride_cost: I64 | None,
) -> _Built:
    m = problem.travel_time_s
    nv = len(problem.drivers)
    nr = len(problem.riders)
    nodes: list[tuple[int, StopKind, Candidate]] = []
    node_of: dict[tuple[int, StopKind, int], int] = {}
    loc: list[int] = []
    lo: list[int] = []
    hi: list[int] = []
    svc: list[int] = []
    rider_of: list[int] = []
    pick: list[bool] = []
    r_pick0 = np.zeros(nr, dtype=np.int64)
    r_npick = np.zeros(nr, dtype=np.int64)
    r_drop0 = np.zeros(nr, dtype=np.int64)
    r_ndrop = np.zeros(nr, dtype=np.int64)
    for ri, r in enumerate(problem.riders):
        r_pick0[ri] = len(loc)
        r_npick[ri] = len(r.pickups)
        for c in r.pickups:
            node_of[(ri, StopKind.PICKUP, c.location)] = len(loc)
            nodes.append((ri, StopKind.PICKUP, c))
            loc.append(c.location)
            e, late = r.pickup_window(c)
            lo.append(e)
            hi.append(K.INF if late is None else late)
            svc.append(r.board_s)
            rider_of.append(ri)
            pick.append(True)
        r_drop0[ri] = len(loc)
        r_ndrop[ri] = len(r.dropoffs)
        for c in r.dropoffs:
            node_of[(ri, StopKind.DROPOFF, c.location)] = len(loc)
            nodes.append((ri, StopKind.DROPOFF, c))
            loc.append(c.location)
            early, late2 = r.dropoff_window(c)
            lo.append(-K.INF if early is None else early)
            hi.append(late2)
            svc.append(r.alight_s)
            rider_of.append(ri)
            pick.append(False)
    allowed = np.zeros((nr, nv), dtype=np.bool_)
    for ri, vs in enumerate(allowed_lists):
        allowed[ri, list(vs)] = True
    active_mask = allowed.any(axis=1)
    active = [int(i) for i in np.flatnonzero(active_mask)]

    def penalty(ri: int) -> int:
        r = problem.riders[ri]
        if problem.locked_driver(r.id) is not None:
            return params.confirmed_drop_penalty
        return params.drop_penalty * r.priority

    maxride = np.asarray(
        [K.INF if r.max_ride_s is None else r.max_ride_s for r in problem.riders], dtype=np.int64
    ).reshape(nr)
    maxdur = np.asarray(
        [K.INF if (x := problem.max_duration_s(d)) is None else x for d in problem.drivers],
        dtype=np.int64,
    ).reshape(nv)
    exact = bool((maxride[active_mask] < K.INF).any() or (maxdur < K.INF).any())
    if ride_cost is None:
        ride_cost = np.zeros((nv, 1), dtype=np.int64)
    ride_cost = np.ascontiguousarray(ride_cost, dtype=np.int64)
    if ride_cost.ndim != 2 or ride_cost.shape[0] != nv or ride_cost.shape[1] < 1:
        raise ValueError("ride_cost: must have shape (number of drivers, k >= 1)")
    data = K.Data(
        tt=np.ascontiguousarray(m, dtype=np.int64),
        node_loc=np.asarray(loc, dtype=np.int64),
        node_lo=np.asarray(lo, dtype=np.int64),
        node_hi=np.asarray(hi, dtype=np.int64),
        node_svc=np.asarray(svc, dtype=np.int64),
        node_rider=np.asarray(rider_of, dtype=np.int64),
        node_pick=np.asarray(pick, dtype=np.bool_),
        r_pick0=r_pick0,
        r_npick=r_npick,
        r_drop0=r_drop0,
        r_ndrop=r_ndrop,
        r_dem=np.asarray([r.passengers for r in problem.riders], dtype=np.int64).reshape(nr),
        r_maxride=maxride,
        r_penalty=np.asarray([penalty(i) for i in range(nr)], dtype=np.int64).reshape(nr),
        r_locked=np.asarray(
            [-1 if (x := problem.locked_driver(r.id)) is None else x for r in problem.riders],
            dtype=np.int64,
        ).reshape(nr),
        r_active=active_mask,
        r_tw=np.asarray(
            [
                (K.INF if r.latest_pickup_s is None else r.latest_pickup_s) - r.earliest_pickup_s
                for r in problem.riders
            ],
            dtype=np.int64,
        ).reshape(nr),
        r_len=np.asarray([r.direct_s(m) for r in problem.riders], dtype=np.int64).reshape(nr),
        allowed=allowed,
        neigh=_neighbours(problem, lns),
        d_start=np.asarray([d.start for d in problem.drivers], dtype=np.int64).reshape(nv),
        d_end=np.asarray([d.end for d in problem.drivers], dtype=np.int64).reshape(nv),
        d_ed=np.asarray([d.earliest_departure_s for d in problem.drivers], dtype=np.int64).reshape(
            nv
        ),
        d_ld=np.asarray([d.latest_departure_s for d in problem.drivers], dtype=np.int64).reshape(
            nv
        ),
        d_la=np.asarray([d.latest_arrival_s for d in problem.drivers], dtype=np.int64).reshape(nv),
        d_cap=np.asarray([d.seats for d in problem.drivers], dtype=np.int64).reshape(nv),
        d_maxdur=maxdur,
        d_always=np.asarray(
            [problem.direct_s(d) > 0 for d in problem.drivers], dtype=np.bool_
        ).reshape(nv),
        ride_cost=ride_cost,
        arc_w=int(params.arc_cost_weight),
        fixed=int(params.vehicle_fixed_cost),
        exact=exact,
    )
    return _Built(data, nodes, node_of, active)


def _neighbours(problem: Problem, lns: LnsParams) -> I64:
    """Per rider the most related riders (itself first), computed in row blocks."""
    nr = len(problem.riders)
    k = min(nr, lns.neighbours)
    out = np.full((nr, max(k, 1)), -1, dtype=np.int64)
    if nr == 0:
        return out
    m = problem.travel_time_s
    pick = np.asarray([r.pickups[0].location for r in problem.riders], dtype=np.int64)
    drop = np.asarray([r.dropoffs[0].location for r in problem.riders], dtype=np.int64)
    ep = np.asarray([r.earliest_pickup_s for r in problem.riders], dtype=np.float64)
    ld = np.asarray([r.latest_dropoff_s for r in problem.riders], dtype=np.float64)
    for b in range(0, nr, 256):
        rows = np.arange(b, min(nr, b + 256))
        rel = (
            m[np.ix_(pick[rows], pick)].astype(np.float64)
            + m[np.ix_(drop[rows], drop)]
            + lns.time_weight * (np.abs(ep[rows, None] - ep) + np.abs(ld[rows, None] - ld))
        )
        rel[np.arange(rows.size), rows] = -1.0
        if k < nr:
            part = np.argpartition(rel, k - 1, axis=1)[:, :k]
        else:
            part = np.tile(np.arange(nr), (rows.size, 1))
        order = np.argsort(np.take_along_axis(rel, part, axis=1), axis=1, kind="stable")
        out[rows, :k] = np.take_along_axis(part, order, axis=1)
    return out


def _empty_state(nv: int, nr: int, cap: int) -> K.State:
    return K.State(
        route=np.zeros((nv, cap), dtype=np.int64),
        rlen=np.zeros(nv, dtype=np.int64),
        ea=np.zeros((nv, cap + 2), dtype=np.int64),
        zl=np.zeros((nv, cap + 2), dtype=np.int64),
        load=np.zeros((nv, cap + 2), dtype=np.int64),
        ploc=np.zeros((nv, cap + 2), dtype=np.int64),
        psvc=np.zeros((nv, cap + 2), dtype=np.int64),
        dist=np.zeros(nv, dtype=np.int64),
        nride=np.zeros(nv, dtype=np.int64),
        rcost=np.zeros(nv, dtype=np.int64),
        r_route=np.full(nr, -1, dtype=np.int64),
        enabled=np.ones(nv, dtype=np.bool_),
    )


def _load_initial(b: _Built, problem: Problem, st: K.State, initial: Result) -> None:
    """Warm start: keep each route of ``initial`` whose riders may stay and which is feasible."""
    d = b.data
    for route in initial.routes:
        if route.driver_id not in {dr.id for dr in problem.drivers}:
            continue
        v = problem.driver_index(route.driver_id)
        seq: list[int] = []
        for s in route.stops:
            if not problem.has_rider(s.rider_id):
                seq = []
                break
            ri = problem.rider_index(s.rider_id)
            node = b.node_of.get((ri, s.kind, s.location))
            if node is None or not d.allowed[ri, v] or st.r_route[ri] >= 0:
                seq = []
                break
            seq.append(node)
        if not seq or len(seq) > st.route.shape[1]:
            continue
        st.route[v, : len(seq)] = seq
        st.rlen[v] = len(seq)
        K.update_route(d, st, v)
        if not K.route_ok(d, st, v):
            st.rlen[v] = 0
            K.update_route(d, st, v)
            continue
        for node in seq:
            st.r_route[b.nodes[node][0]] = v


def _to_result(
    problem: Problem, b: _Built, st: K.State, params: SolveParams, pr: Pruning
) -> Result:
    sequences: list[list[SeqStop]] = []
    for v in range(len(problem.drivers)):
        seq: list[SeqStop] = []
        for k in range(int(st.rlen[v])):
            ri, kind, cand = b.nodes[int(st.route[v, k])]
            seq.append((problem.riders[ri], kind, cand))
        sequences.append(seq)
    res = build_result(
        problem, sequences, {}, objective=0, wall_time_s=0.0, status=SolveStatus.FEASIBLE
    )
    out = [i for i in b.active if problem.riders[i].id not in res.assignments]
    unserved: dict[str, UnservedReason] = dict(pr.reasons)
    if out:
        unserved.update(_active_reasons(problem, pr, out))
    objective = _plan_cost(problem, params, res, b.active) + _outside_cost(
        problem, params, list(pr.reasons)
    )
    return dataclasses.replace(res, unserved=unserved, objective=objective)


def warm_up() -> float:
    """Compile (or load from numba's cache) the kernel; return the seconds it took."""
    t0 = time.perf_counter()
    m = np.asarray([[0, 5, 7], [5, 0, 4], [7, 4, 0]], dtype=np.int64)
    drivers = (Driver("d", "pd", 0, 0, 0, 100, 200, 2, max_detour_s=None, max_detour_pct=None),)
    riders = (
        Rider("r", "pr", (Candidate(1),), (Candidate(2),), 0, 100, max_ride_s=50),
        Rider("s", "ps", (Candidate(2),), (Candidate(1),), 0, 150),
    )
    p = Problem(m, drivers, riders)
    solve_lns(p, SolveParams(time_limit_s=5.0), lns=LnsParams(iterations=20, vehicles_first=True))
    return time.perf_counter() - t0


def _restart(
    d: K.Data, src: K.State, cur: K.State, backup: K.State, best: K.State, st_arr: I64
) -> None:
    """Continue from ``src`` on the drivers it uses (``src`` may be ``best``)."""
    K.copy_state(src, cur)
    K.restrict_to_used(cur)
    K.copy_state(cur, backup)
    K.copy_state(cur, best)
    st_arr[0] = st_arr[1] = int(K.total_cost(d, cur))


def solve_lns(
    problem: Problem,
    params: SolveParams | None = None,
    *,
    seed: int = 0,
    lns: LnsParams | None = None,
    initial: Result | None = None,
    ride_cost: I64 | None = None,
    pruning: Pruning | None = None,
    stats: list[LnsStats] | None = None,
) -> Result:
    """Match riders to drivers by compiled ruin and recreate.

    Parameters
    ----------
    problem
        The instance (any number of pickup / drop-off candidates per rider).
    params
        Objective weights and ``time_limit_s`` (the whole call stays within
        it, apart from the first compilation in a process); OR-Tools options
        are ignored.
    seed
        Seed of the search.
    lns
        Search parameters (:class:`LnsParams`).
    initial
        Optional plan to start from (routes that are not valid any more are
        dropped); its riders keep their drivers unless the search moves them.
    ride_cost
        Optional ``(number of drivers, k)`` integer table: cost of a driver
        carrying ``0..k-1`` riders, extended linearly beyond, that the search
        adds to the objective (convex per driver, e.g. a fairness term).
        Default: :func:`matching.fairness.fairness_table` of ``params``
        (all zeros when ``fairness_weight`` is 0), the term
        :func:`matching.solve` optimises and reports.
    pruning
        ``prune(problem, hard_only=not params.prune)`` if the caller has it
        already (computed here otherwise).
    stats
        If given, a :class:`LnsStats` is appended.

    Returns
    -------
    Result
        A plan that :func:`matching.check` accepts; ``objective`` is
        :func:`matching.solve`'s (including its fairness term; a custom
        ``ride_cost`` table is searched but not reported in it).

    Raises
    ------
    AssertionError
        If the plan fails :func:`matching.check` (a bug in the kernel; the
        plan is verified before it is returned).
    ValueError
        If ``ride_cost`` has the wrong shape.
    """
    t_start = time.perf_counter()
    params = params if params is not None else SolveParams()
    lns = lns if lns is not None else LnsParams()
    deadline = t_start + params.time_limit_s
    pr = pruning if pruning is not None else prune(problem, hard_only=not params.prune)
    if ride_cost is None and effective_fairness_weight(problem, params) > 0:
        ride_cost = fairness_table(problem, params)
    nv, nr = len(problem.drivers), len(problem.riders)
    b = _build(problem, params, pr.allowed, lns, ride_cost)
    d = b.data
    per_driver = d.allowed.sum(axis=0) if nr else np.zeros(nv, dtype=np.int64)
    cap = max(2, 2 * int(per_driver.max(initial=0)))
    cur = _empty_state(nv, nr, cap)
    for v in range(nv):
        K.update_route(d, cur, v)
    if initial is not None:
        _load_initial(b, problem, cur, initial)
    rng0 = np.random.default_rng(seed)
    order = np.asarray(b.active, dtype=np.int64)[rng0.permutation(len(b.active))]
    order = order[np.argsort(-d.r_penalty[order], kind="stable")]
    K.construct(d, cur, order)
    setup_s = time.perf_counter() - t_start
    best = _empty_state(nv, nr, cap)
    backup = _empty_state(nv, nr, cap)
    K.copy_state(cur, best)
    K.copy_state(cur, backup)
    cost0 = int(K.total_cost(d, cur))
    st_arr = np.asarray([cost0, cost0, 0, 0, 0, 0], dtype=np.int64)
    # Temperatures scale with the mean arc of the routes that take riders
    # (empty routes of drivers who drive anyway would inflate it).
    used = cur.rlen > 0
    mean_arc = float(cur.dist[used].sum()) / max(1, int(cur.rlen.sum()) + int(used.sum()))
    mean_arc = max(mean_arc, 1.0)
    t0, tf = lns.t0 * mean_arc, lns.tf * mean_arc
    mixed = (0x9E3779B97F4A7C15 ^ (seed * 0x100000001B3 + 1)) & 0xFFFFFFFFFFFFFFFF
    rng = np.asarray([mixed], dtype=np.uint64)
    if rng[0] == 0:
        rng[0] = 1
    absence = np.zeros(nr, dtype=np.float64)
    t_search = time.perf_counter()
    # Leave time for the result (exact schedules, reasons) after the search.
    reserve = min(0.1 * params.time_limit_s, 0.05 + 2e-4 * (nr + nv))
    stop_at = deadline - reserve
    total = lns.iterations
    fleet = lns.vehicles_first and nv > 1 and len(b.active) > 0
    # Phases: (kind, share of the budget).  "free" anneals the objective on
    # every driver; "fleet" takes routes away; "fixed" anneals on the drivers
    # the best plan uses.
    phases: list[tuple[str, float]] = [("free", 1.0)]
    if fleet:
        phases = [
            ("free", lns.free_share),
            ("fleet", lns.fleet_share),
            ("fixed", 1.0 - lns.free_share - lns.fleet_share),
        ]
    done_total = 0
    fleet_ok = 0
    before_fleet = _empty_state(nv, nr, cap)
    can_search = len(b.active) > 0 and nv > 0
    for kind, share in phases if can_search else []:
        if kind == "fleet":
            K.copy_state(best, before_fleet)
            _restart(d, best, cur, backup, best, st_arr)
        elif kind == "fixed" and fleet:
            # Keep the fleet plan only if it has fewer drivers: otherwise the
            # plan of the free phase is the better start for the distance.
            used_fleet = int((best.rlen > 0).sum())
            src = best if used_fleet < int((before_fleet.rlen > 0).sum()) else before_fleet
            _restart(d, src, cur, backup, best, st_arr)
        last = kind == phases[-1][0]
        phase_iters = None if total is None else round(total * share)
        phase_start = time.perf_counter()
        phase_end = (
            stop_at if last else min(stop_at, phase_start + share * max(0.0, stop_at - t_search))
        )
        fleet_mode = kind == "fleet"
        done = 0
        chunk = 16
        st_arr[5] = 1 if fleet_mode else 0
        while True:
            now = time.perf_counter()
            if now >= phase_end or (phase_iters is not None and done >= phase_iters):
                break
            if fleet_mode and st_arr[5] == 0:
                break
            n = chunk if phase_iters is None else min(chunk, phase_iters - done)
            # Progress of iteration ``it`` of this call is ``(pa + it) * pb``.
            if phase_iters is not None:
                pa, pb = float(done), 1.0 / max(1, phase_iters)
            elif done:
                span = max(1e-9, phase_end - phase_start)
                p0 = (now - phase_start) / span
                pb = (now - phase_start) / done / span  # seconds per iteration / span
                pa = p0 / pb
            else:
                pa, pb = 0.0, 0.0
            t_call = time.perf_counter()
            K.search(
                d,
                cur,
                best,
                backup,
                rng,
                st_arr,
                absence,
                n,
                pa,
                pb,
                t0,
                tf,
                fleet_mode,
                lns.avg_remove,
                lns.max_string,
                lns.blink,
            )
            took = time.perf_counter() - t_call
            done += n
            # Aim at ~20 ms per call: the deadline is checked between calls.
            if took < 0.01:
                chunk = min(chunk * 2, 1 << 20)
            elif took > 0.04:
                chunk = max(1, chunk // 2)
        done_total += done
        if fleet_mode:
            fleet_ok = int(st_arr[3])
    search_s = time.perf_counter() - t_search
    res = _to_result(problem, b, best, params, pr)
    if check(problem, res):  # pragma: no cover - the kernel keeps every route feasible
        raise AssertionError("solve_lns produced an invalid plan")
    if stats is not None:
        stats.append(LnsStats(done_total, fleet_ok, setup_s, search_s))
    return dataclasses.replace(res, wall_time_s=time.perf_counter() - t_start)
