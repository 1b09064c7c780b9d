"""Compiled core of :mod:`matching.lns`: SISR-style ruin and recreate in numba.

Everything here works on flat numpy arrays (built by :mod:`matching.lns`) and
is compiled with ``numba.njit(cache=True)``; nothing here knows about
:class:`matching.Problem`.  See :mod:`matching.lns` for the algorithm.

Arrays
------
A *node* is one candidate place of one rider (pickup or drop-off).  A route
``v`` is ``route[v, :rlen[v]]`` (node ids) between the driver's start and end;
*positions* count ``0`` = start, ``1..n`` = stops, ``n + 1`` = end.  For every
route the state keeps, per position, the earliest arrival ``ea`` (departing
at the earliest departure), the latest arrival ``zl`` that keeps the rest of
the route feasible (windows only) and the load after the stop, so that a
pair insertion is tested for windows and seats in O(1) per (pickup gap,
drop-off gap) while the drop-off gap advances.  Ride-time and trip-duration
limits are not captured by those slacks: when a problem has any, the best
candidate is verified exactly (bound propagation on the difference
constraints, as :mod:`matching._schedule` does) before it is accepted.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numba import njit

#: "Unbounded" in integer time arithmetic (same value as ``matching._schedule.INF``).
INF = 1 << 50

NDArray = Any  # numba-compiled code sees numpy arrays; keep the signatures readable


class Data(NamedTuple):
    """Problem arrays (read-only during the search)."""

    tt: NDArray  # (L, L) int64 travel times
    node_loc: NDArray  # (N,) int64
    node_lo: NDArray  # (N,) int64 earliest vehicle time at the node
    node_hi: NDArray  # (N,) int64 latest vehicle time at the node
    node_svc: NDArray  # (N,) int64 dwell
    node_rider: NDArray  # (N,) int64
    node_pick: NDArray  # (N,) bool
    r_pick0: NDArray  # (R,) first pickup node
    r_npick: NDArray  # (R,) number of pickup nodes
    r_drop0: NDArray  # (R,) first drop-off node
    r_ndrop: NDArray  # (R,) number of drop-off nodes
    r_dem: NDArray  # (R,) passengers
    r_maxride: NDArray  # (R,) max ride time (INF = none)
    r_penalty: NDArray  # (R,) cost of leaving the rider unserved
    r_locked: NDArray  # (R,) driver the rider is confirmed with, or -1
    r_active: NDArray  # (R,) bool: has at least one allowed driver
    r_tw: NDArray  # (R,) int64 width of the pickup window (for sorting)
    r_len: NDArray  # (R,) int64 direct pickup -> drop-off time (for sorting)
    allowed: NDArray  # (R, V) bool
    neigh: NDArray  # (R, K) int64 related riders, most related first (the rider itself first)
    d_start: NDArray  # (V,) start location
    d_end: NDArray  # (V,) end location
    d_ed: NDArray  # (V,) earliest departure
    d_ld: NDArray  # (V,) latest departure
    d_la: NDArray  # (V,) latest arrival
    d_cap: NDArray  # (V,) seats
    d_maxdur: NDArray  # (V,) trip duration limit (INF = none)
    d_always: NDArray  # (V,) bool: the driver drives (and costs) even when empty
    ride_cost: NDArray  # (V, W) cost of carrying k riders (k < W; linear beyond)
    arc_w: int  # cost per second of driving
    fixed: int  # cost per used driver
    exact: bool  # some ride-time or duration limit needs exact verification


class State(NamedTuple):
    """A solution with its per-route caches (mutable)."""

    route: NDArray  # (V, C) int64 node ids
    rlen: NDArray  # (V,) int64
    ea: NDArray  # (V, C + 2) earliest arrival per position
    zl: NDArray  # (V, C + 2) latest arrival per position
    load: NDArray  # (V, C + 2) load after each position
    ploc: NDArray  # (V, C + 2) location of each position
    psvc: NDArray  # (V, C + 2) dwell at each position
    dist: NDArray  # (V,) driving time
    nride: NDArray  # (V,) riders on the route
    rcost: NDArray  # (V,) route cost
    r_route: NDArray  # (R,) route of the rider or -1
    enabled: NDArray  # (V,) bool: the route may be used


@njit(cache=True)
def _rand(rng: NDArray) -> float:
    """xorshift64* in ``rng[0]``: a float in [0, 1)."""
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    return float((x * np.uint64(2685821657736338717)) >> np.uint64(11)) / 9007199254740992.0


@njit(cache=True)
def _randint(rng: NDArray, n: int) -> int:
    """Uniform integer in [0, n)."""
    v = int(_rand(rng) * n)
    return v if v < n else n - 1


@njit(cache=True)
def ride_cost_of(d: Data, v: int, k: int) -> int:
    """Cost of ``k`` riders on driver ``v`` (the fairness hook; convex in ``k``)."""
    w = d.ride_cost.shape[1]
    if k < w:
        return int(d.ride_cost[v, k])
    if w == 1:
        return int(d.ride_cost[v, 0])
    step = d.ride_cost[v, w - 1] - d.ride_cost[v, w - 2]
    return int(d.ride_cost[v, w - 1] + step * (k - w + 1))


@njit(cache=True)
def update_route(d: Data, st: State, v: int) -> bool:
    """Recompute the caches of route ``v``; return whether its windows and seats hold."""
    n = st.rlen[v]
    ok = True
    st.ea[v, 0] = d.d_ed[v]
    st.load[v, 0] = 0
    st.ploc[v, 0] = d.d_start[v]
    st.psvc[v, 0] = 0
    st.ploc[v, n + 1] = d.d_end[v]
    st.psvc[v, n + 1] = 0
    prev = d.d_start[v]
    svc = 0
    dist = 0
    t = d.d_ed[v]
    load = 0
    riders = 0
    for k in range(1, n + 1):
        node = st.route[v, k - 1]
        loc = d.node_loc[node]
        dist += d.tt[prev, loc]
        t = t + svc + d.tt[prev, loc]
        if t < d.node_lo[node]:
            t = d.node_lo[node]
        if t > d.node_hi[node]:
            ok = False
        st.ea[v, k] = t
        st.ploc[v, k] = loc
        st.psvc[v, k] = d.node_svc[node]
        if d.node_pick[node]:
            load += d.r_dem[d.node_rider[node]]
            riders += 1
        else:
            load -= d.r_dem[d.node_rider[node]]
        if load > d.d_cap[v]:
            ok = False
        st.load[v, k] = load
        prev = loc
        svc = d.node_svc[node]
    dist += d.tt[prev, d.d_end[v]]
    t = t + svc + d.tt[prev, d.d_end[v]]
    st.ea[v, n + 1] = t
    st.load[v, n + 1] = 0
    if t > d.d_la[v]:
        ok = False
    # Latest arrivals, backwards.
    z = d.d_la[v]
    st.zl[v, n + 1] = z
    nxt = d.d_end[v]
    for k in range(n, 0, -1):
        node = st.route[v, k - 1]
        loc = d.node_loc[node]
        z = z - d.node_svc[node] - d.tt[loc, nxt]
        if z > d.node_hi[node]:
            z = d.node_hi[node]
        st.zl[v, k] = z
        nxt = loc
    z = z - d.tt[d.d_start[v], nxt]
    if z > d.d_ld[v]:
        z = d.d_ld[v]
    st.zl[v, 0] = z
    if z < d.d_ed[v]:
        ok = False
    st.dist[v] = dist
    st.nride[v] = riders
    cost = d.arc_w * dist + ride_cost_of(d, v, riders)
    if riders > 0 or d.d_always[v]:
        cost += d.fixed
    st.rcost[v] = cost
    return ok


@njit(cache=True)
def _exact_route(d: Data, st: State, v: int, pn: int, i: int, dn: int, j: int) -> bool:
    """Exact feasibility of route ``v`` (with pickup node ``pn`` after position ``i``
    and drop-off node ``dn`` after position ``j >= i``, if ``pn >= 0``).

    Bound propagation to a fixpoint on windows, chain gaps, ride-time and
    trip-duration limits (difference constraints): feasible iff no window
    empties.
    """
    n = st.rlen[v]
    m = n + (2 if pn >= 0 else 0)
    size = m + 2
    seq = np.empty(m, dtype=np.int64)
    c = 0
    if pn >= 0 and i == 0:
        seq[c] = pn
        c += 1
        if j == 0:
            seq[c] = dn
            c += 1
    for k in range(1, n + 1):
        seq[c] = st.route[v, k - 1]
        c += 1
        if pn >= 0 and k == i:
            seq[c] = pn
            c += 1
            if j == i:
                seq[c] = dn
                c += 1
        elif pn >= 0 and k == j:
            seq[c] = dn
            c += 1
    lo = np.empty(size, dtype=np.int64)
    hi = np.empty(size, dtype=np.int64)
    gap = np.empty(size - 1, dtype=np.int64)
    lo[0] = d.d_ed[v]
    hi[0] = d.d_ld[v]
    prev = d.d_start[v]
    svc = 0
    nmg = 0
    mg_i = np.empty(m + 1, dtype=np.int64)
    mg_j = np.empty(m + 1, dtype=np.int64)
    mg_l = np.empty(m + 1, dtype=np.int64)
    for k in range(1, m + 1):
        node = seq[k - 1]
        loc = d.node_loc[node]
        gap[k - 1] = svc + d.tt[prev, loc]
        lo[k] = d.node_lo[node]
        hi[k] = d.node_hi[node]
        r = d.node_rider[node]
        if not d.node_pick[node] and d.r_maxride[r] < INF:
            for q in range(k - 1, 0, -1):
                if d.node_rider[seq[q - 1]] == r:
                    mg_i[nmg] = q
                    mg_j[nmg] = k
                    mg_l[nmg] = d.r_maxride[r]
                    nmg += 1
                    break
        prev = loc
        svc = d.node_svc[node]
    gap[m] = svc + d.tt[prev, d.d_end[v]]
    lo[m + 1] = -INF
    hi[m + 1] = d.d_la[v]
    if d.d_maxdur[v] < INF:
        mg_i[nmg] = 0
        mg_j[nmg] = m + 1
        mg_l[nmg] = d.d_maxdur[v]
        nmg += 1
    for _ in range(2 * size + 2):
        changed = False
        for k in range(size - 1):
            x = lo[k] + gap[k]
            if x > lo[k + 1]:
                lo[k + 1] = x
                changed = True
        for k in range(size - 2, -1, -1):
            x = hi[k + 1] - gap[k]
            if x < hi[k]:
                hi[k] = x
                changed = True
        for g in range(nmg):
            x = lo[mg_j[g]] - mg_l[g]
            if x > lo[mg_i[g]]:
                lo[mg_i[g]] = x
                changed = True
            x = hi[mg_i[g]] + mg_l[g]
            if x < hi[mg_j[g]]:
                hi[mg_j[g]] = x
                changed = True
        for k in range(size):
            if lo[k] > hi[k]:
                return False
        if not changed:
            return True
    return False


@njit(cache=True)
def best_insertion(d: Data, st: State, r: int, blink: float, rng: NDArray, out: NDArray) -> int:
    """Cheapest feasible insertion of rider ``r`` (skipping positions with probability
    ``blink``); writes ``(v, pickup node, i, drop-off node, j)`` to ``out`` and
    returns the added cost, or ``INF`` if the rider fits nowhere.  The pickup
    goes after position ``i`` and the drop-off after position ``j >= i``."""
    best = INF
    nv = st.rlen.shape[0]
    dem = d.r_dem[r]
    tt = d.tt
    w = d.arc_w
    dcost = np.empty(st.ploc.shape[1], dtype=np.int64)
    for v in range(nv):
        if not d.allowed[r, v] or not st.enabled[v]:
            continue
        cap = d.d_cap[v]
        if dem > cap:
            continue
        n = st.rlen[v]
        extra = ride_cost_of(d, v, st.nride[v] + 1) - ride_cost_of(d, v, st.nride[v])
        if st.nride[v] == 0 and not d.d_always[v]:
            extra += d.fixed
        if extra >= best:
            continue
        ploc = st.ploc[v]
        psvc = st.psvc[v]
        ea = st.ea[v]
        zl = st.zl[v]
        load = st.load[v]
        for dn in range(d.r_drop0[r], d.r_drop0[r] + d.r_ndrop[r]):
            ld = d.node_loc[dn]
            lo_d = d.node_lo[dn]
            hi_d = d.node_hi[dn]
            svc_d = d.node_svc[dn]
            # Added driving of the drop-off alone in every gap.
            for j in range(n + 1):
                dcost[j] = tt[ploc[j], ld] + tt[ld, ploc[j + 1]] - tt[ploc[j], ploc[j + 1]]
            for pn in range(d.r_pick0[r], d.r_pick0[r] + d.r_npick[r]):
                lp = d.node_loc[pn]
                lo_p = d.node_lo[pn]
                hi_p = d.node_hi[pn]
                svc_p = d.node_svc[pn]
                t_pd = tt[lp, ld]
                for i in range(n + 1):
                    if load[i] + dem > cap:
                        continue
                    if blink > 0.0 and _rand(rng) < blink:
                        continue
                    li = ploc[i]
                    nxt = ploc[i + 1]
                    ap = ea[i] + psvc[i] + tt[li, lp]
                    if ap < lo_p:
                        ap = lo_p
                    if ap > hi_p:
                        continue
                    base_i = tt[li, nxt]
                    # Drop-off right after the pickup.
                    cost = w * (tt[li, lp] + t_pd + tt[ld, nxt] - base_i) + extra
                    if cost < best:
                        ad = ap + svc_p + t_pd
                        if ad < lo_d:
                            ad = lo_d
                        if (
                            ad <= hi_d
                            and ad + svc_d + tt[ld, nxt] <= zl[i + 1]
                            and (not d.exact or _exact_route(d, st, v, pn, i, dn, i))
                        ):
                            best = cost
                            out[0] = v
                            out[1] = pn
                            out[2] = i
                            out[3] = dn
                            out[4] = i
                    if i == n:
                        continue
                    dp = w * (tt[li, lp] + tt[lp, nxt] - base_i) + extra
                    if dp >= best:
                        continue
                    a = ap + svc_p + tt[lp, nxt]
                    if a < ea[i + 1]:
                        a = ea[i + 1]
                    if a > zl[i + 1]:
                        continue
                    for j in range(i + 1, n + 1):
                        if load[j] + dem > cap:
                            break
                        cost = dp + w * dcost[j]
                        if cost < best and not (blink > 0.0 and _rand(rng) < blink):
                            lj = ploc[j]
                            ad = a + psvc[j] + tt[lj, ld]
                            if ad < lo_d:
                                ad = lo_d
                            if (
                                ad <= hi_d
                                and ad + svc_d + tt[ld, ploc[j + 1]] <= zl[j + 1]
                                and (not d.exact or _exact_route(d, st, v, pn, i, dn, j))
                            ):
                                best = cost
                                out[0] = v
                                out[1] = pn
                                out[2] = i
                                out[3] = dn
                                out[4] = j
                        if j < n:
                            a2 = a + psvc[j] + tt[ploc[j], ploc[j + 1]]
                            if a2 < ea[j + 1]:
                                a2 = ea[j + 1]
                            if a2 > zl[j + 1]:
                                break
                            a = a2
    return best


@njit(cache=True)
def apply_insertion(d: Data, st: State, r: int, ins: NDArray) -> None:
    """Insert rider ``r`` as described by ``ins`` (from :func:`best_insertion`)."""
    v, pn, i, dn, j = ins[0], ins[1], ins[2], ins[3], ins[4]
    n = st.rlen[v]
    # New order: stops 1..i, pn, stops i+1..j, dn, stops j+1..n.
    for k in range(n - 1, j - 1, -1):
        st.route[v, k + 2] = st.route[v, k]
    st.route[v, j + 1] = dn
    for k in range(j - 1, i - 1, -1):
        st.route[v, k + 1] = st.route[v, k]
    st.route[v, i] = pn
    st.rlen[v] = n + 2
    st.r_route[r] = v
    update_route(d, st, v)


@njit(cache=True)
def remove_rider(d: Data, st: State, r: int) -> None:
    """Take rider ``r`` out of its route (caches are not updated)."""
    v = st.r_route[r]
    n = st.rlen[v]
    c = 0
    for k in range(n):
        node = st.route[v, k]
        if d.node_rider[node] != r:
            st.route[v, c] = node
            c += 1
    st.rlen[v] = c
    st.r_route[r] = -1


@njit(cache=True)
def total_cost(d: Data, st: State) -> int:
    """Objective: route costs plus penalties of unserved active riders."""
    c = 0
    for v in range(st.rlen.shape[0]):
        c += st.rcost[v]
    for r in range(st.r_route.shape[0]):
        if d.r_active[r] and st.r_route[r] < 0:
            c += d.r_penalty[r]
    return c


@njit(cache=True)
def copy_state(src: State, dst: State) -> None:
    """Copy every array of ``src`` into ``dst``."""
    dst.route[:] = src.route
    dst.rlen[:] = src.rlen
    dst.ea[:] = src.ea
    dst.zl[:] = src.zl
    dst.load[:] = src.load
    dst.ploc[:] = src.ploc
    dst.psvc[:] = src.psvc
    dst.dist[:] = src.dist
    dst.nride[:] = src.nride
    dst.rcost[:] = src.rcost
    dst.r_route[:] = src.r_route
    dst.enabled[:] = src.enabled


@njit(cache=True)
def _copy_route(src: State, dst: State, v: int) -> None:
    n = src.rlen[v]
    dst.route[v, :n] = src.route[v, :n]
    dst.rlen[v] = n
    dst.ea[v, : n + 2] = src.ea[v, : n + 2]
    dst.zl[v, : n + 2] = src.zl[v, : n + 2]
    dst.load[v, : n + 2] = src.load[v, : n + 2]
    dst.ploc[v, : n + 2] = src.ploc[v, : n + 2]
    dst.psvc[v, : n + 2] = src.psvc[v, : n + 2]
    dst.dist[v] = src.dist[v]
    dst.nride[v] = src.nride[v]
    dst.rcost[v] = src.rcost[v]


@njit(cache=True)
def _sort_keys(d: Data, rem: NDArray, nrem: int, rng: NDArray) -> None:
    """Order riders to re-insert: locked first, then by a random SISR criterion."""
    keys = np.empty(nrem, dtype=np.float64)
    u = _rand(rng)
    for k in range(nrem):
        r = rem[k]
        if u < 0.4:
            key = _rand(rng)
        elif u < 0.7:
            key = -float(d.r_dem[r]) + 0.001 * _rand(rng)
        elif u < 0.85:
            key = -float(d.r_len[r]) + 0.001 * _rand(rng)
        else:
            key = float(d.r_tw[r]) + 0.001 * _rand(rng)
        if d.r_locked[r] >= 0:
            key -= 1e30
        keys[k] = key
    order = np.argsort(keys)
    tmp = rem[:nrem].copy()
    for k in range(nrem):
        rem[k] = tmp[order[k]]


@njit(cache=True)
def recreate(d: Data, st: State, rem: NDArray, nrem: int, blink: float, rng: NDArray) -> int:
    """Insert the riders ``rem[:nrem]`` one by one at their best place; return how
    many stay out (they are moved to the front of ``rem``)."""
    _sort_keys(d, rem, nrem, rng)
    ins = np.empty(5, dtype=np.int64)
    out = 0
    for k in range(nrem):
        r = rem[k]
        c = best_insertion(d, st, r, blink, rng, ins)
        if c >= INF:
            rem[out] = r
            out += 1
            continue
        apply_insertion(d, st, r, ins)
    return out


@njit(cache=True)
def ruin(
    d: Data,
    st: State,
    rem: NDArray,
    touched: NDArray,
    ntouched: NDArray,
    avg_remove: float,
    max_string: int,
    rng: NDArray,
) -> int:
    """SISR string removal: remove riders on strings of stops of several routes
    near a random seed rider.  Returns how many riders were appended to ``rem``
    (whose first ``ntouched[1]`` entries are kept)."""
    nr = st.r_route.shape[0]
    nv = st.rlen.shape[0]
    nrem = ntouched[1]
    # Average stops per used route -> maximum string length.
    used = 0
    stops = 0
    for v in range(nv):
        if st.rlen[v] > 0:
            used += 1
            stops += st.rlen[v]
    if used == 0:
        return 0
    ls_max = min(float(max_string), stops / used)
    ks_max = 4.0 * avg_remove / (1.0 + ls_max) - 1.0
    ks = int(_rand(rng) * ks_max) + 1
    # Seed: a random served, unlocked rider.
    seed = -1
    for _ in range(50):
        c = _randint(rng, nr)
        if st.r_route[c] >= 0 and d.r_locked[c] < 0:
            seed = c
            break
    if seed < 0:
        return 0
    strings = 0
    for q in range(d.neigh.shape[1]):
        if strings >= ks:
            break
        c = d.neigh[seed, q]
        if c < 0:
            break
        v = st.r_route[c]
        if v < 0 or d.r_locked[c] >= 0:
            continue
        seen = False
        for t in range(ntouched[0]):
            if touched[t] == v:
                seen = True
                break
        if seen:
            continue
        touched[ntouched[0]] = v
        ntouched[0] += 1
        strings += 1
        n = st.rlen[v]
        lmax = min(float(n), ls_max)
        ln = int(_rand(rng) * lmax) + 1
        # Position of one of c's stops.
        pos = 0
        want_pick = _rand(rng) < 0.5
        for k in range(n):
            node = st.route[v, k]
            if d.node_rider[node] == c and d.node_pick[node] == want_pick:
                pos = k
                break
        split = _rand(rng) < 0.5 and ln < n
        keep = 0
        total = ln
        if split:
            keep = 1
            while ln + keep < n and _rand(rng) < 0.5:
                keep += 1
            total = ln + keep
        lo_s = max(0, pos - total + 1)
        hi_s = min(pos, n - total)
        start = lo_s + _randint(rng, hi_s - lo_s + 1)
        keep_at = start + _randint(rng, total - keep + 1) if split else -1
        # Collect riders with a stop in the string (outside the kept part).
        for k in range(start, start + total):
            if split and keep_at <= k < keep_at + keep:
                continue
            r = d.node_rider[st.route[v, k]]
            if d.r_locked[r] >= 0:
                continue
            dup = False
            for t in range(ntouched[1], nrem):
                if rem[t] == r:
                    dup = True
                    break
            if not dup:
                rem[nrem] = r
                nrem += 1
    for t in range(ntouched[1], nrem):
        remove_rider(d, st, rem[t])
    return int(nrem - ntouched[1])


@njit(cache=True)
def restrict_to_used(st: State) -> None:
    """Disable every empty route (a fixed fleet for the rest of the search)."""
    for v in range(st.rlen.shape[0]):
        if st.rlen[v] == 0:
            st.enabled[v] = False


@njit(cache=True)
def route_ok(d: Data, st: State, v: int) -> bool:
    """Whether route ``v`` is feasible (caches must be current)."""
    n = st.rlen[v]
    for k in range(n + 2):
        if st.ea[v, k] > st.zl[v, k]:
            return False
        if st.load[v, k] > d.d_cap[v]:
            return False
    if d.exact and n > 0:
        return _exact_route(d, st, v, -1, -1, -1, -1)
    return True


@njit(cache=True)
def _take_route_away(d: Data, st: State) -> bool:
    """Fleet minimisation: empty and disable the route with the fewest riders
    (ties at random; never a route with confirmed riders)."""
    nv = st.rlen.shape[0]
    vic = -1
    few = 1 << 60
    rng_key = 0
    for v in range(nv):
        if not st.enabled[v] or st.nride[v] == 0:
            continue
        locked = False
        for k in range(st.rlen[v]):
            if d.r_locked[d.node_rider[st.route[v, k]]] >= 0:
                locked = True
                break
        if locked:
            continue
        rng_key = (rng_key * 1103515245 + 12345 + v) % 1000
        key = st.nride[v] * 1000 + rng_key
        if key < few:
            few = key
            vic = v
    if vic < 0:
        return False
    for k in range(st.rlen[vic]):
        node = st.route[vic, k]
        if d.node_pick[node]:
            st.r_route[d.node_rider[node]] = -1
    st.rlen[vic] = 0
    st.enabled[vic] = False
    update_route(d, st, vic)
    return True


@njit(cache=True)
def search(
    d: Data,
    cur: State,
    best: State,
    backup: State,
    rng: NDArray,
    stats: NDArray,
    absence: NDArray,
    iterations: int,
    prog_a: float,
    prog_b: float,
    t0: float,
    tf: float,
    fleet_mode: bool,
    avg_remove: float,
    max_string: int,
    blink: float,
) -> None:
    """Run ``iterations`` ruin-and-recreate steps on ``cur`` (``backup`` must equal it).

    ``stats`` holds ``[current cost, best cost, iterations done, fleet
    successes, riders out of the current plan, fleet mode still on]``.  The
    temperature is ``t0 * (tf / t0) ** progress`` with progress
    ``(prog_a + it) * prog_b`` at iteration ``it`` (so that a run split into
    chunks is the same as one call).  Simulated annealing accepts a plan
    whose cost is below ``current - T ln U``.  In fleet mode the current plan
    may leave riders out (the ejection pool) and is accepted by SISR's rule:
    fewer riders out, or a smaller sum of their absence counters; whenever the
    pool is empty the plan becomes the best one and its smallest route is
    taken away.
    """
    nr = cur.r_route.shape[0]
    nv = cur.rlen.shape[0]
    rem = np.empty(nr, dtype=np.int64)
    touched = np.empty(nv, dtype=np.int64)
    ntouched = np.zeros(2, dtype=np.int64)
    pool = np.empty(nr, dtype=np.int64)
    cur_cost = stats[0]
    best_cost = stats[1]
    pool_cap = int(2.0 * avg_remove) + 1
    for it in range(iterations):
        prog = (prog_a + it) * prog_b
        if prog > 1.0:
            prog = 1.0
        temp = t0 * (tf / t0) ** prog
        npool = 0
        for r in range(nr):
            if d.r_active[r] and cur.r_route[r] < 0:
                pool[npool] = r
                npool += 1
        if fleet_mode and npool == 0:
            if _take_route_away(d, cur):
                copy_changed(cur, backup)
                cur_cost = total_cost(d, cur)
                for r in range(nr):
                    if d.r_active[r] and cur.r_route[r] < 0:
                        pool[npool] = r
                        npool += 1
            else:
                fleet_mode = False
        # Riders out of the plan join the re-insertion: all of them in fleet
        # mode, a random sample otherwise (a large unservable pool would
        # dominate the run time while it cannot change the cost).
        nsel = npool
        if not fleet_mode and npool > pool_cap:
            for k in range(pool_cap):
                x = k + _randint(rng, npool - k)
                tmp = pool[k]
                pool[k] = pool[x]
                pool[x] = tmp
            nsel = pool_cap
        for k in range(nsel):
            rem[k] = pool[k]
        ntouched[0] = 0
        ntouched[1] = nsel
        nrm = ruin(d, cur, rem, touched, ntouched, avg_remove, max_string, rng)
        feasible = True
        for t in range(ntouched[0]):
            update_route(d, cur, touched[t])
            if not route_ok(d, cur, touched[t]):
                feasible = False
        if not feasible:  # only with a matrix that breaks the triangle inequality
            copy_changed(backup, cur)
            continue
        nleft = recreate(d, cur, rem, nsel + nrm, blink, rng)
        new_cost = total_cost(d, cur)
        threshold = cur_cost - temp * math.log(_rand(rng) + 1e-300)
        if fleet_mode:
            abs_new = 0.0
            abs_old = 0.0
            for k in range(nleft):
                abs_new += absence[rem[k]]
            for k in range(npool):
                abs_old += absence[pool[k]]
            if nleft != npool or abs_new != abs_old:
                accept = nleft < npool or abs_new < abs_old
            else:
                accept = new_cost < threshold
        else:
            accept = new_cost < threshold
        if accept:
            copy_changed(cur, backup)
            cur_cost = new_cost
            if fleet_mode:
                if nleft == 0:
                    copy_state(cur, best)
                    best_cost = cur_cost
                    stats[3] += 1
            elif new_cost < best_cost:
                copy_state(cur, best)
                best_cost = new_cost
        else:
            copy_changed(backup, cur)
        if fleet_mode:
            for r in range(nr):
                if d.r_active[r] and cur.r_route[r] < 0:
                    absence[r] += 1.0
    stats[0] = cur_cost
    stats[1] = best_cost
    stats[2] += iterations
    stats[4] = 0
    for r in range(nr):
        if d.r_active[r] and cur.r_route[r] < 0:
            stats[4] += 1
    stats[5] = 1 if fleet_mode else 0


@njit(cache=True)
def construct(d: Data, st: State, order: NDArray) -> int:
    """Insert the riders of ``order`` (confirmed riders are moved first) into
    ``st`` at their cheapest places; return how many fit nowhere."""
    ins = np.empty(5, dtype=np.int64)
    rng = np.ones(1, dtype=np.uint64)
    left = 0
    for pass_locked in (True, False):
        for k in range(order.shape[0]):
            r = order[k]
            if (d.r_locked[r] >= 0) != pass_locked or st.r_route[r] >= 0:
                continue
            if best_insertion(d, st, r, 0.0, rng, ins) >= INF:
                left += 1
                continue
            apply_insertion(d, st, r, ins)
    return left


@njit(cache=True)
def copy_changed(src: State, dst: State) -> None:
    """Make ``dst`` equal to ``src``, copying only the routes that differ."""
    nv = src.rlen.shape[0]
    for v in range(nv):
        n = src.rlen[v]
        same = n == dst.rlen[v] and src.enabled[v] == dst.enabled[v]
        if same:
            for k in range(n):
                if src.route[v, k] != dst.route[v, k]:
                    same = False
                    break
        if not same:
            _copy_route(src, dst, v)
            dst.enabled[v] = src.enabled[v]
    dst.r_route[:] = src.r_route
