"""Matching riders to drivers with OR-Tools routing (pickup and delivery with time windows).

Model
-----
* One vehicle per driver, starting at the driver's start and ending at its end.
* Every rider who survives pruning contributes one node per pickup candidate
  and one node per drop-off candidate.  The pickup nodes form one disjunction
  (at most one active, penalty ``drop_penalty * priority``), the drop-off nodes
  another (penalty 0), and the two disjunctions are linked with
  ``AddPickupAndDeliverySets``: an active pickup alternative requires an active
  drop-off alternative later on the same vehicle.  This needs ``P + Q`` nodes
  per rider instead of ``2 * P * Q`` for one explicit pair per combination,
  and the ride-time limit is still exact per combination through
  ``SetPickupToDeliveryLimitFunctionForPair``.
* Dimension ``time``: transit = travel + dwell of the origin node, slack
  allowed (waiting), windows as cumul ranges, the driver's trip duration
  limit as a span upper bound, the rider's ride limit as a pickup-to-delivery
  limit.
* Dimension ``seats``: unary demand vector (+passengers at pickup,
  -passengers at drop-off), capacity = seats.
* Needs/features, self-match and pruning are expressed with
  ``SetAllowedVehiclesForIndex``; confirmed riders are only allowed on their
  driver and carry ``confirmed_drop_penalty``.
* Dimension ``rides`` (only with a fairness weight): +1 at every pickup
  node, the start cumul fixed to the driver's ``rides_before``, so the cumul
  at a pickup is the rides the driver has before that rider; a soft upper
  bound 0 with coefficient ``w`` on every pickup node charges ``w * (rides
  before + riders picked up earlier)`` per rider, i.e. exactly the convex
  fairness cost of :mod:`matching.fairness` (the OR-Tools 9.15 Python
  bindings lack piecewise-linear cumul costs; soft bounds work).
* Cost: ``arc_cost_weight * travel`` for every driver - empty routes count
  their direct drive too, so the driving part of the objective equals total
  added driving plus a constant - plus ``vehicle_fixed_cost`` per driver,
  the fairness cost and penalties for unserved riders.

Determinism: the OR-Tools routing search is single-threaded and deterministic
for identical inputs and parameters when it is stopped by ``solution_limit``;
a search that is stopped by ``time_limit_s`` depends on machine speed.  The
``seed`` permutes the order in which riders enter the model, which changes
tie-breaking (useful for restarts); ``seed=0`` keeps the input order.

Known limitation (measured on a synthetic 200-driver / 500-rider day with
two meeting points per side): OR-Tools' first-solution heuristics do not
finish within the time limit, hence ``construction="auto"`` starts from a
greedy :func:`~matching.insert_cheapest` plan (about 1 s); the following local
search then overruns ``time_limit_s`` by a large factor (60-100 s for a 3-5 s
limit) without improving that plan.  The overrun shrinks to about 3x without
the per-vehicle span upper bounds (detour limits), so above the same size
threshold the detour limits are posted as plain constraints
``end - start <= limit`` instead (measured: 7 s for a 3 s limit); on small
models span bounds are kept because local search knows them (better plans
on random test instances).  Therefore :func:`solve` runs OR-Tools only on
small models and improves the greedy plan on larger ones with the compiled
ruin and recreate of :mod:`matching.lns` (SISR), which keeps to the time
limit.  :class:`Solver` itself is unchanged and keeps the behaviour
described above.

The schedule reported in the :class:`~matching.result.Result` is recomputed
from the stop order with an exact timing routine (minimum trip duration, then
earliest arrivals), so it satisfies every constraint by construction.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2, routing_parameters_pb2
from ortools.util import optional_boolean_pb2

from matching._schedule import SeqStop, route_times
from matching.check import check
from matching.fairness import effective_fairness_weight, fairness_cost
from matching.model import Candidate, Problem, Rider
from matching.params import SolveParams
from matching.prune import DriverArrays, Pruning, driver_stages, prune, stage_reason
from matching.result import (
    Assignment,
    Result,
    Route,
    SolveStatus,
    Stop,
    StopKind,
    UnservedReason,
)

__all__ = ["Solver", "build_result", "make_route", "solve"]

#: ``construction="auto"`` builds the first plan by insertion above this many
#: vehicle x node pairs.
_AUTO_INSERTION_PAIRS = 100_000


@dataclass(frozen=True, slots=True)
class _NodeInfo:
    rider: Rider
    kind: StopKind
    cand: Candidate


def _empty_route(problem: Problem, v: int) -> Route:
    d = problem.drivers[v]
    times = route_times(problem, d, [])
    start = d.earliest_departure_s if times is None else times[0]
    direct = problem.direct_s(d)
    end = start + direct if times is None else times[-1]
    return Route(d.id, start, end, (), direct, 0)


def build_result(
    problem: Problem,
    sequences: Sequence[Sequence[SeqStop]],
    unserved: dict[str, UnservedReason],
    *,
    objective: int,
    wall_time_s: float,
    status: SolveStatus,
) -> Result:
    """Assemble a :class:`Result` from stop sequences, computing the schedules.

    Parameters
    ----------
    problem
        The problem.
    sequences
        Per driver (in ``problem.drivers`` order) the stops in visiting order.
    unserved
        Reasons for riders that are not in any sequence.
    objective, wall_time_s, status
        Copied into the result.

    Returns
    -------
    Result
        The result.  A sequence that cannot be scheduled (should not happen
        for solver output) is timed greedily and will be flagged by
        :func:`matching.check`.
    """
    routes: list[Route] = []
    assignments: dict[str, Assignment] = {}
    for v, seq in enumerate(sequences):
        if not seq:
            routes.append(_empty_route(problem, v))
            continue
        times = route_times(problem, problem.drivers[v], seq)
        if times is None:
            times = _greedy_times(problem, v, seq)
        route, assigned = make_route(problem, v, seq, times)
        routes.append(route)
        assignments.update((a.rider_id, a) for a in assigned)
    return Result(
        routes=tuple(routes),
        assignments=assignments,
        unserved=dict(unserved),
        objective=objective,
        total_added_driving_s=sum(r.added_driving_s for r in routes),
        wall_time_s=wall_time_s,
        status=status,
    )


def make_route(
    problem: Problem, v: int, seq: Sequence[SeqStop], times: Sequence[int]
) -> tuple[Route, list[Assignment]]:
    """Build the :class:`Route` of driver ``v`` from its stops and their times.

    Parameters
    ----------
    problem
        The problem.
    v
        Driver index.
    seq
        The stops in order.
    times
        ``[departure, arrivals..., arrival at end]`` (``len(seq) + 2`` items).

    Returns
    -------
    tuple
        The route and the assignments of the riders it serves.
    """
    d = problem.drivers[v]
    m = problem.travel_time_s
    stops: list[Stop] = []
    assignments: list[Assignment] = []
    driving = 0
    prev = d.start
    picks: dict[str, tuple[int, int]] = {}
    for k, (rider, kind, cand) in enumerate(seq, start=1):
        driving += int(m[prev, cand.location])
        prev = cand.location
        dwell = rider.board_s if kind is StopKind.PICKUP else rider.alight_s
        stops.append(Stop(rider.id, kind, cand.location, times[k], times[k] + dwell))
        if kind is StopKind.PICKUP:
            picks[rider.id] = (cand.location, times[k])
        elif rider.id in picks:
            ploc, pt = picks[rider.id]
            assignments.append(Assignment(rider.id, d.id, ploc, cand.location, pt, times[k]))
    driving += int(m[prev, d.end])
    route = Route(d.id, times[0], times[-1], tuple(stops), driving, driving - problem.direct_s(d))
    return route, assignments


def _greedy_times(problem: Problem, v: int, seq: Sequence[SeqStop]) -> list[int]:
    d = problem.drivers[v]
    m = problem.travel_time_s
    t = d.earliest_departure_s
    times = [t]
    prev, service = d.start, 0
    for rider, kind, cand in seq:
        t += service + int(m[prev, cand.location])
        if kind is StopKind.PICKUP:
            t = max(t, rider.earliest_pickup_s + cand.walk_s)
            service = rider.board_s
        else:
            if rider.earliest_dropoff_s is not None:
                t = max(t, rider.earliest_dropoff_s)
            service = rider.alight_s
        times.append(t)
        prev = cand.location
    times.append(t + service + int(m[prev, d.end]))
    return times


def _search_parameters(params: SolveParams) -> routing_parameters_pb2.RoutingSearchParameters:
    sp = pywrapcp.DefaultRoutingSearchParameters()
    sp.first_solution_strategy = getattr(
        routing_enums_pb2.FirstSolutionStrategy, params.first_solution_strategy
    )
    sp.local_search_metaheuristic = getattr(
        routing_enums_pb2.LocalSearchMetaheuristic, params.local_search_metaheuristic
    )
    if params.guided_local_search_lambda is not None:
        sp.guided_local_search_lambda_coefficient = params.guided_local_search_lambda
    sp.time_limit.FromMilliseconds(max(1, int(params.time_limit_s * 1000)))
    if params.solution_limit is not None:
        sp.solution_limit = params.solution_limit
    sp.log_search = params.log_search
    for name in params.disabled_operators:
        setattr(sp.local_search_operators, name, optional_boolean_pb2.BOOL_FALSE)
    return sp


_STATUS = {
    routing_enums_pb2.RoutingSearchStatus.ROUTING_SUCCESS: SolveStatus.FEASIBLE,
    routing_enums_pb2.RoutingSearchStatus.ROUTING_PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED: (
        SolveStatus.FEASIBLE
    ),
    routing_enums_pb2.RoutingSearchStatus.ROUTING_OPTIMAL: SolveStatus.OPTIMAL,
    routing_enums_pb2.RoutingSearchStatus.ROUTING_INVALID: SolveStatus.INVALID,
}


def _outside_cost(problem: Problem, params: SolveParams, pruned: Sequence[str]) -> int:
    """Objective terms the solver model does not see: pruned riders' penalties.

    Adding them makes objectives comparable between runs with and without
    pruning; for a trivial result the empty routes' costs are added as well.
    """
    total = 0
    for rid in pruned:
        r = problem.riders[problem.rider_index(rid)]
        locked = problem.locked_driver(rid) is not None
        total += params.confirmed_drop_penalty if locked else params.drop_penalty * r.priority
    return total


def _empty_plan_cost(problem: Problem, params: SolveParams) -> int:
    return sum(
        params.arc_cost_weight * problem.direct_s(d) + params.vehicle_fixed_cost
        for d in problem.drivers
        if problem.direct_s(d) > 0
    )


def _alone_feasible(problem: Problem, rider: Rider, drivers: Sequence[int]) -> bool:
    for v in drivers:
        d = problem.drivers[v]
        for p in rider.pickups:
            for q in rider.dropoffs:
                seq = [(rider, StopKind.PICKUP, p), (rider, StopKind.DROPOFF, q)]
                if route_times(problem, d, seq) is not None:
                    return True
    return False


class Solver:
    """A routing model built once and searched one or more times.

    :func:`solve` is ``Solver(problem, params, seed=seed).solve(initial)``.
    Keeping the model lets callers run several searches on it (e.g. a
    ruin-and-recreate loop that repeatedly warm-starts from partial plans)
    without paying for the model construction each time.

    Parameters
    ----------
    problem
        The instance.
    params
        Solver parameters (defaults: :class:`SolveParams` ``()``).
    seed
        Permutes the order in which riders enter the model (0 = input order).
    """

    def __init__(
        self, problem: Problem, params: SolveParams | None = None, *, seed: int = 0
    ) -> None:
        t0 = time.perf_counter()
        self.problem = problem
        self.params = params if params is not None else SolveParams()
        params = self.params
        pr = prune(problem, hard_only=not params.prune)
        self._pruning = pr
        active = [i for i, allowed in enumerate(pr.allowed) if allowed]
        if seed != 0:
            rng = np.random.default_rng(seed)
            active = [active[i] for i in rng.permutation(len(active))]
        self._active = active
        nv = len(problem.drivers)
        self._trivial = not active or nv == 0
        self._searched = False
        self._build_s = 0.0
        if self._trivial:
            self._build_s = time.perf_counter() - t0
            return

        # ---- nodes ---------------------------------------------------------
        loc: list[int] = [d.start for d in problem.drivers] + [d.end for d in problem.drivers]
        service: list[int] = [0] * (2 * nv)
        demand: list[int] = [0] * (2 * nv)
        info: list[_NodeInfo | None] = [None] * (2 * nv)
        rider_nodes: list[tuple[int, list[int], list[int]]] = []  # (rider idx, picks, drops)
        for ri in active:
            r = problem.riders[ri]
            picks: list[int] = []
            drops: list[int] = []
            for c in r.pickups:
                picks.append(len(loc))
                loc.append(c.location)
                service.append(r.board_s)
                demand.append(r.passengers)
                info.append(_NodeInfo(r, StopKind.PICKUP, c))
            for c in r.dropoffs:
                drops.append(len(loc))
                loc.append(c.location)
                service.append(r.alight_s)
                demand.append(-r.passengers)
                info.append(_NodeInfo(r, StopKind.DROPOFF, c))
            rider_nodes.append((ri, picks, drops))
        self._info = info
        self._rider_nodes = rider_nodes
        n = len(loc)
        loc_a = np.asarray(loc, dtype=np.int64)
        travel = problem.travel_time_s[np.ix_(loc_a, loc_a)]
        starts = list(range(nv))
        ends = list(range(nv, 2 * nv))

        manager = pywrapcp.RoutingIndexManager(n, nv, starts, ends)
        routing = pywrapcp.RoutingModel(manager)
        self._manager = manager
        self._routing = routing
        # RegisterTransitMatrix / RegisterUnaryTransitVector are indexed by node.
        idx_of = [manager.NodeToIndex(i) for i in range(n)]
        self._idx_of = idx_of
        cost_cb = routing.RegisterTransitMatrix((travel * params.arc_cost_weight).tolist())
        service_a = np.asarray(service, dtype=np.int64)
        time_cb = routing.RegisterTransitMatrix((travel + service_a[:, None]).tolist())
        demand_cb = routing.RegisterUnaryTransitVector(demand)
        routing.SetArcCostEvaluatorOfAllVehicles(cost_cb)
        if params.vehicle_fixed_cost:
            routing.SetFixedCostOfAllVehicles(params.vehicle_fixed_cost)
        for v, d in enumerate(problem.drivers):
            if problem.direct_s(d) > 0:
                routing.SetVehicleUsedWhenEmpty(True, v)

        routing.AddDimensionWithVehicleCapacity(
            demand_cb, 0, [d.seats for d in problem.drivers], True, "seats"
        )
        horizon = max(d.latest_arrival_s for d in problem.drivers)
        horizon = max(horizon, 0) + 1
        routing.AddDimension(time_cb, horizon, horizon, False, "time")
        tdim = routing.GetDimensionOrDie("time")
        # Large models: detour limits as plain CP constraints on the cumuls;
        # span upper bounds make every propagation there very slow (see the
        # module docstring), while on small models they guide local search.
        span_as_constraint = nv * n > _AUTO_INSERTION_PAIRS
        for v, d in enumerate(problem.drivers):
            tdim.CumulVar(routing.Start(v)).SetRange(
                max(0, d.earliest_departure_s), max(0, d.latest_departure_s)
            )
            tdim.CumulVar(routing.End(v)).SetRange(0, max(0, d.latest_arrival_s))
            max_dur = problem.max_duration_s(d)
            if max_dur is not None:
                if span_as_constraint:
                    routing.solver().Add(
                        tdim.CumulVar(routing.End(v)) - tdim.CumulVar(routing.Start(v)) <= max_dur
                    )
                else:
                    tdim.SetSpanUpperBoundForVehicle(max_dur, v)

        self._keep_alive: list[Callable[[int, int], int]] = []
        for pair_index, (ri, picks, drops) in enumerate(rider_nodes):
            r = problem.riders[ri]
            allowed = list(pr.allowed[ri])
            locked = problem.locked_driver(r.id) is not None
            penalty = params.confirmed_drop_penalty if locked else params.drop_penalty * r.priority
            for node, c in zip(picks, r.pickups, strict=True):
                lo, hi = r.pickup_window(c)
                lo_p = max(0, lo)
                hi_p = horizon if hi is None else max(0, min(hi, horizon))
                tdim.CumulVar(idx_of[node]).SetRange(min(lo_p, hi_p), hi_p)
                if lo_p > hi_p:  # e.g. walking takes too long: never usable
                    routing.solver().Add(routing.ActiveVar(idx_of[node]) == 0)
            for node, c in zip(drops, r.dropoffs, strict=True):
                lo2, hi2 = r.dropoff_window(c)
                lo_v = 0 if lo2 is None else max(0, lo2)
                hi_v = max(0, min(hi2, horizon))
                tdim.CumulVar(idx_of[node]).SetRange(min(lo_v, hi_v), hi_v)
                if lo_v > hi_v:  # empty window: never usable
                    routing.solver().Add(routing.ActiveVar(idx_of[node]) == 0)
            if len(allowed) < nv:
                # ``SetAllowedVehiclesForIndex`` is not usable from Python in OR-Tools
                # 9.15 (its absl::Span argument has no SWIG typemap); restricting the
                # vehicle variable is equivalent and is checked by the routing
                # vehicle-var filter during local search.  -1 = unperformed.
                for node in (*picks, *drops):
                    routing.VehicleVar(idx_of[node]).SetValues([-1, *allowed])
            dp = routing.AddDisjunction([idx_of[x] for x in picks], penalty, 1)
            dd = routing.AddDisjunction([idx_of[x] for x in drops], 0, 1)
            if len(picks) == 1 and len(drops) == 1:
                routing.AddPickupAndDelivery(idx_of[picks[0]], idx_of[drops[0]])
            else:
                routing.AddPickupAndDeliverySets(dp, dd)
            if r.max_ride_s is not None:
                limit = int(r.max_ride_s)

                def _limit(_p: int, _d: int, _lim: int = limit) -> int:
                    return _lim

                self._keep_alive.append(_limit)
                tdim.SetPickupToDeliveryLimitFunctionForPair(_limit, pair_index)
        weight = effective_fairness_weight(problem, params)
        if weight:
            # Fairness (module docstring): cumul at a pickup = rides the driver
            # already has; a soft upper bound 0 charges weight x that cumul.
            is_pickup = [0] * n
            for _ri, picks, _drops in rider_nodes:
                for node in picks:
                    is_pickup[node] = 1
            rides_cb = routing.RegisterUnaryTransitVector(is_pickup)
            most = max(d.rides_before for d in problem.drivers) + len(rider_nodes) + 1
            routing.AddDimension(rides_cb, 0, most, False, "rides")
            rdim = routing.GetDimensionOrDie("rides")
            for v, d in enumerate(problem.drivers):
                rdim.CumulVar(routing.Start(v)).SetValue(d.rides_before)
            for _ri, picks, _drops in rider_nodes:
                for node in picks:
                    rdim.SetCumulVarSoftUpperBound(idx_of[node], 0, weight)
        # No cumul finalizers: reported times are recomputed exactly from the
        # stop order (see ``build_result``), so the search needs none.
        routing.CloseModelWithParameters(_search_parameters(params))
        self._build_s = time.perf_counter() - t0

    def solve(
        self,
        initial: Result | None = None,
        *,
        time_limit_s: float | None = None,
        solution_limit: int | None = None,
        local_search_metaheuristic: str | None = None,
    ) -> Result:
        """Search the model, optionally from a previous (possibly partial) plan.

        Parameters
        ----------
        initial
            Warm start; stops of riders or drivers that are not allowed are
            ignored, riders missing from it start unserved.
        time_limit_s, solution_limit, local_search_metaheuristic
            Override the corresponding :class:`SolveParams` fields for this
            search only.

        Returns
        -------
        Result
            Routes, assignments, unserved riders with reasons and statistics.
            ``wall_time_s`` of the first search includes building the model.
        """
        t0 = time.perf_counter()
        extra_s = 0.0 if self._searched else self._build_s
        self._searched = True
        problem, params, pr = self.problem, self.params, self._pruning
        nv = len(problem.drivers)
        unserved: dict[str, UnservedReason] = dict(pr.reasons)
        if self._trivial:
            active_ids = [problem.riders[i].id for i in self._active]
            return build_result(
                problem,
                [[] for _ in range(nv)],
                {**unserved, **dict.fromkeys(active_ids, UnservedReason.NOT_CHOSEN)},
                objective=_empty_plan_cost(problem, params)
                + _outside_cost(problem, params, [*pr.reasons, *active_ids]),
                wall_time_s=time.perf_counter() - t0 + extra_s,
                status=SolveStatus.TRIVIAL,
            )
        overrides: dict[str, object] = {}
        if time_limit_s is not None:
            overrides["time_limit_s"] = time_limit_s
        if solution_limit is not None:
            overrides["solution_limit"] = solution_limit
        if local_search_metaheuristic is not None:
            overrides["local_search_metaheuristic"] = local_search_metaheuristic
        sp = _search_parameters(dataclasses.replace(params, **overrides))  # type: ignore[arg-type]
        routing = self._routing
        solution = None
        if initial is None and self._insertion_start():
            initial = self._greedy_plan()
        if initial is not None:
            init_routes = _initial_routes(
                problem, initial, self._rider_nodes, self._idx_of, pr.allowed
            )
            # RoutesToAssignment only sets the next variables; the search
            # restores (propagates) it itself.  ReadAssignmentFromRoutes is
            # avoided: after a previous search on the same model it rejects
            # valid plans (state left from that search).
            assignment = routing.solver().Assignment()
            if routing.RoutesToAssignment(init_routes, True, True, assignment):
                solution = routing.SolveFromAssignmentWithParameters(assignment, sp)
            else:  # pragma: no cover - routes are built from allowed nodes
                solution = routing.SolveWithParameters(sp)
        else:
            solution = routing.SolveWithParameters(sp)
        status_code = routing.status()

        if solution is None:
            st = (
                SolveStatus.INVALID
                if _STATUS.get(status_code) is SolveStatus.INVALID
                else SolveStatus.NO_SOLUTION
            )
            for ri, _p, _d in self._rider_nodes:
                unserved[problem.riders[ri].id] = UnservedReason.NOT_CHOSEN
            return build_result(
                problem,
                [[] for _ in range(nv)],
                unserved,
                objective=_empty_plan_cost(problem, params)
                + _outside_cost(problem, params, list(unserved)),
                wall_time_s=time.perf_counter() - t0 + extra_s,
                status=st,
            )

        sequences: list[list[SeqStop]] = []
        served: set[str] = set()
        for v in range(nv):
            seq: list[SeqStop] = []
            index = solution.Value(routing.NextVar(routing.Start(v)))
            while not routing.IsEnd(index):
                ni = self._info[self._manager.IndexToNode(index)]
                assert ni is not None
                seq.append((ni.rider, ni.kind, ni.cand))
                served.add(ni.rider.id)
                index = solution.Value(routing.NextVar(index))
            sequences.append(seq)
        arrays: DriverArrays | None = None
        for ri, _p, _d in self._rider_nodes:
            r = problem.riders[ri]
            if r.id in served:
                continue
            if _alone_feasible(problem, r, pr.allowed[ri]):
                unserved[r.id] = UnservedReason.NOT_CHOSEN
            else:
                arrays = arrays if arrays is not None else DriverArrays.of(problem)
                reason = stage_reason(driver_stages(problem, arrays, r)[list(pr.allowed[ri])])
                unserved[r.id] = (
                    UnservedReason.DETOUR_TOO_LARGE
                    if reason is UnservedReason.NOT_CHOSEN
                    else reason
                )
        return build_result(
            problem,
            sequences,
            unserved,
            objective=int(solution.ObjectiveValue())
            + _outside_cost(problem, params, list(pr.reasons)),
            wall_time_s=time.perf_counter() - t0 + extra_s,
            status=_STATUS.get(status_code, SolveStatus.FEASIBLE),
        )

    def _insertion_start(self) -> bool:
        c = self.params.construction
        if c == "auto":
            return len(self.problem.drivers) * len(self._info) > _AUTO_INSERTION_PAIRS
        return c == "insertion"

    def _greedy_plan(self) -> Result:
        """Insert riders one by one (priority, then earliest pickup) cheapest-first."""
        from matching.insertion import apply_insertion, insert_cheapest

        problem = self.problem
        params = self.params
        nv = len(problem.drivers)
        plan = build_result(
            problem,
            [[] for _ in range(nv)],
            {},
            objective=0,
            wall_time_s=0.0,
            status=SolveStatus.TRIVIAL,
        )
        order = sorted(
            self._active,
            key=lambda i: (-problem.riders[i].priority, problem.riders[i].earliest_pickup_s, i),
        )
        locked_first = sorted(
            order, key=lambda i: problem.locked_driver(problem.riders[i].id) is None
        )
        for ri in locked_first:
            r = problem.riders[ri]
            allowed = {problem.drivers[v].id for v in self._pruning.allowed[ri]}
            view = dataclasses.replace(
                plan, routes=tuple(rt for rt in plan.routes if rt.driver_id in allowed)
            )
            ins = insert_cheapest(problem, view, r, params=params)
            if ins is not None:
                plan = apply_insertion(plan, ins)
        return plan


def solve(
    problem: Problem,
    params: SolveParams | None = None,
    *,
    seed: int = 0,
    initial: Result | None = None,
) -> Result:
    """Match riders to drivers.

    The greedy insertion plan (:func:`~matching.insert_cheapest` rider by
    rider) is always built first; it is valid by construction and is the
    floor of what is returned.  Small models (at most 100 000 vehicle x node
    pairs and at most 400 rider nodes) are then searched with OR-Tools for
    the rest of ``time_limit_s``; larger ones, where OR-Tools' search does
    not honour its time limit (see the module docstring), are improved from
    the greedy plan by :func:`matching.lns.solve_lns` (compiled ruin and
    recreate with simulated annealing; meeting points are chosen there too).
    The better valid plan (by objective, verified with :func:`matching.check`)
    is returned.

    ``time_limit_s`` bounds the whole call (pruning, greedy plan, search and
    the unserved reasons; in a new process the first large model also pays
    for loading or compiling the kernel, see :func:`matching.lns.warm_up`);
    with ``solution_limit`` the ruin-and-recreate search runs at most that
    many iterations, so a result that is not cut short by the time limit is
    deterministic per seed.

    Parameters
    ----------
    problem
        The instance.
    params
        Solver parameters (defaults: :class:`SolveParams` ``()``).
    seed
        Permutes the order in which riders enter the model (0 = input order)
        and drives the ruin-and-recreate choices.
    initial
        Optional previous result used as a warm start of the OR-Tools search;
        stops of riders or drivers that are not allowed any more are ignored.
        Large models start from the greedy plan.

    Returns
    -------
    Result
        Routes, assignments, unserved riders with reasons and statistics.
    """
    t0 = time.perf_counter()
    params = params if params is not None else SolveParams()
    deadline = t0 + params.time_limit_s
    pr = prune(problem, hard_only=not params.prune)
    active = [i for i, allowed in enumerate(pr.allowed) if allowed]
    nv = len(problem.drivers)
    if not active or nv == 0:
        return Solver(problem, params, seed=seed).solve(initial)
    rider_nodes = sum(
        len(problem.riders[i].pickups) + len(problem.riders[i].dropoffs) for i in active
    )
    greedy = _greedy(problem, pr, active, params)
    small = nv * (2 * nv + rider_nodes) <= _AUTO_INSERTION_PAIRS and rider_nodes <= _SMALL_NODES
    best_plan = greedy
    best_status = SolveStatus.FEASIBLE
    if small:
        solver = Solver(problem, params, seed=seed)
        left = deadline - time.perf_counter()
        if left > 0.01:
            res = solver.solve(initial, time_limit_s=left)
            if not check(problem, res) and res.objective <= _plan_cost(
                problem, params, greedy, active
            ) + _outside_cost(problem, params, list(pr.reasons)):
                return dataclasses.replace(res, wall_time_s=time.perf_counter() - t0)
    else:
        from matching.lns import LnsParams, solve_lns

        # The compiled ruin and recreate (SISR) from the greedy plan, for what is left of the
        # budget (less a margin for the unserved reasons below).
        left = t0 + 0.95 * params.time_limit_s - time.perf_counter()
        if left > 0.01:
            best_plan = solve_lns(
                problem,
                dataclasses.replace(params, time_limit_s=left),
                seed=seed,
                initial=greedy,
                pruning=pr,
                lns=LnsParams(iterations=params.solution_limit),
            )
    served = set(best_plan.assignments)
    unserved: dict[str, UnservedReason] = dict(pr.reasons)
    unserved.update(
        _active_reasons(problem, pr, [i for i in active if problem.riders[i].id not in served])
    )
    return dataclasses.replace(
        best_plan,
        unserved=unserved,
        objective=_plan_cost(problem, params, best_plan, active)
        + _outside_cost(problem, params, list(pr.reasons)),
        wall_time_s=time.perf_counter() - t0,
        status=best_status,
    )


#: :func:`solve` runs OR-Tools only on models with at most this many rider nodes.
_SMALL_NODES = 400


def _plan_cost(problem: Problem, params: SolveParams, plan: Result, active: Sequence[int]) -> int:
    """The OR-Tools objective of ``plan`` over the riders in ``active``."""
    cost = 0
    weight = effective_fairness_weight(problem, params)
    for route, d in zip(plan.routes, problem.drivers, strict=True):
        if route.stops or problem.direct_s(d) > 0:
            cost += params.arc_cost_weight * route.driving_s + params.vehicle_fixed_cost
        if weight and route.stops:
            riders = sum(1 for s in route.stops if s.kind is StopKind.PICKUP)
            cost += fairness_cost(weight, d.rides_before, riders)
    for i in active:
        r = problem.riders[i]
        if r.id not in plan.assignments:
            locked = problem.locked_driver(r.id) is not None
            cost += params.confirmed_drop_penalty if locked else params.drop_penalty * r.priority
    return cost


def _active_reasons(
    problem: Problem, pr: Pruning, unserved_active: Sequence[int]
) -> dict[str, UnservedReason]:
    """Why riders who survived pruning are unserved (not chosen, or too large a detour)."""
    out: dict[str, UnservedReason] = {}
    arrays: DriverArrays | None = None
    for ri in unserved_active:
        r = problem.riders[ri]
        if _alone_feasible(problem, r, pr.allowed[ri]):
            out[r.id] = UnservedReason.NOT_CHOSEN
        else:
            arrays = arrays if arrays is not None else DriverArrays.of(problem)
            reason = stage_reason(driver_stages(problem, arrays, r)[list(pr.allowed[ri])])
            out[r.id] = (
                UnservedReason.DETOUR_TOO_LARGE if reason is UnservedReason.NOT_CHOSEN else reason
            )
    return out


def _empty_plan(problem: Problem) -> Result:
    return build_result(
        problem,
        [[] for _ in problem.drivers],
        {},
        objective=0,
        wall_time_s=0.0,
        status=SolveStatus.FEASIBLE,
    )


def _insert_all(
    problem: Problem,
    pr: Pruning,
    plan: Result,
    order: Sequence[int],
    deadline: float | None,
    params: SolveParams | None = None,
) -> Result:
    """Insert the riders in ``order`` cheapest-first (by ``params``' objective weights),
    each only on its allowed drivers."""
    from matching.insertion import apply_insertion, insert_cheapest

    nv = len(problem.drivers)
    for ri in order:
        if deadline is not None and time.perf_counter() >= deadline:
            break
        r = problem.riders[ri]
        allowed = pr.allowed[ri]
        if len(allowed) < nv:
            ids = {problem.drivers[v].id for v in allowed}
            view = dataclasses.replace(
                plan, routes=tuple(rt for rt in plan.routes if rt.driver_id in ids)
            )
        else:
            view = plan
        ins = insert_cheapest(problem, view, r, params=params)
        if ins is not None:
            plan = apply_insertion(plan, ins)
    return plan


def _greedy(
    problem: Problem, pr: Pruning, active: Sequence[int], params: SolveParams | None = None
) -> Result:
    """Greedy plan: confirmed riders first, then by priority, fewest drivers, earliest pickup."""
    order = sorted(
        active,
        key=lambda i: (
            problem.locked_driver(problem.riders[i].id) is None,
            -problem.riders[i].priority,
            len(pr.allowed[i]),
            problem.riders[i].earliest_pickup_s,
            i,
        ),
    )
    return _insert_all(problem, pr, _empty_plan(problem), order, None, params)


def _initial_routes(
    problem: Problem,
    initial: Result,
    rider_nodes: list[tuple[int, list[int], list[int]]],
    idx_of: list[int],
    allowed: tuple[tuple[int, ...], ...],
) -> list[list[int]]:
    node_for: dict[tuple[str, StopKind, int], int] = {}
    rider_pos: dict[str, int] = {}
    for ri, picks, drops in rider_nodes:
        r = problem.riders[ri]
        rider_pos[r.id] = ri
        for node, c in zip(picks, r.pickups, strict=True):
            node_for[(r.id, StopKind.PICKUP, c.location)] = node
        for node, c in zip(drops, r.dropoffs, strict=True):
            node_for[(r.id, StopKind.DROPOFF, c.location)] = node
    by_driver = {rt.driver_id: rt for rt in initial.routes}
    used: set[str] = set()
    out: list[list[int]] = []
    for v, d in enumerate(problem.drivers):
        rt = by_driver.get(d.id)
        if rt is None:
            out.append([])
            continue
        ok: set[str] = set()
        for s in rt.stops:
            key = (s.rider_id, s.kind, s.location)
            if key in node_for and v in allowed[rider_pos[s.rider_id]] and s.rider_id not in used:
                ok.add(s.rider_id) if s.kind is StopKind.PICKUP else None
        kinds: dict[str, int] = {}
        for s in rt.stops:
            if s.rider_id in ok and (s.rider_id, s.kind, s.location) in node_for:
                kinds[s.rider_id] = kinds.get(s.rider_id, 0) + 1
        keep = {rid for rid, k in kinds.items() if k == 2}
        out.append(
            [
                idx_of[node_for[(s.rider_id, s.kind, s.location)]]
                for s in rt.stops
                if s.rider_id in keep
            ]
        )
        used |= keep
    return out
