"""Adapter for the Li & Lim PDPTW benchmark instances (pure: parses text, reads no files).

Format: the first line is ``K Q speed`` (vehicles, capacity, speed); every
further line is ``id x y demand ready due service pickup_idx delivery_idx``.
Node 0 is the depot; a pickup has ``demand > 0`` and names its delivery in
``delivery_idx``; a delivery has ``demand < 0`` and names its pickup.

Distances are Euclidean and travel time equals distance.  OR-Tools needs
integers, so coordinates, time windows and service times are multiplied by
``scale`` and travel times rounded to the nearest integer; the reported
distance (:func:`distance`) is recomputed in floating point from the
coordinates.  Every pickup/delivery pair becomes a :class:`~matching.Rider`
(passengers = demand, ``board_s``/``alight_s`` = service times, node windows
as pickup/drop-off windows) and the ``K`` vehicles become identical
:class:`~matching.Driver` s at the depot with unlimited detour and ride time.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching.model import Candidate, Driver, Problem, Rider
from matching.result import Result

__all__ = ["LiLimInstance", "distance", "parse"]


@dataclass(frozen=True, eq=False)
class LiLimInstance:
    """A parsed Li & Lim instance.

    Parameters
    ----------
    problem
        The instance as a matching :class:`~matching.Problem` (location = node id).
    coords
        Node coordinates, shape ``(n, 2)``, unscaled.
    scale
        Factor applied to times before rounding.
    num_vehicles, capacity
        ``K`` and ``Q`` from the header.
    """

    problem: Problem
    coords: npt.NDArray[np.float64]
    scale: int
    num_vehicles: int
    capacity: int


def parse(text: str, *, scale: int = 1000, num_vehicles: int | None = None) -> LiLimInstance:
    """Parse the text of a Li & Lim instance.

    Parameters
    ----------
    text
        The file content.
    scale
        Multiplier for coordinates/times before rounding to integers (> 0).
    num_vehicles
        Override the number of vehicles (default: ``K`` from the header).

    Returns
    -------
    LiLimInstance
        The instance.

    Raises
    ------
    ValueError
        If the text is malformed.
    """
    if scale <= 0:
        raise ValueError("scale: must be > 0")
    lines = [ln.split() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) < 2 or len(lines[0]) < 2:
        raise ValueError("text: missing header")
    k = int(lines[0][0])
    q = int(lines[0][1])
    rows = []
    for ln in lines[1:]:
        if len(ln) < 9:
            raise ValueError(f"text: malformed line {' '.join(ln)!r}")
        rows.append([float(x) for x in ln[:9]])
    data = np.asarray(rows, dtype=np.float64)
    ids = data[:, 0].astype(np.int64)
    if not np.array_equal(ids, np.arange(len(ids))):
        raise ValueError("text: node ids must be 0..n-1 in order")
    coords = data[:, 1:3].copy()
    diff = coords[:, None, :] - coords[None, :, :]
    dist = np.sqrt((diff**2).sum(axis=2))
    matrix = np.rint(dist * scale).astype(np.int64)
    demand = data[:, 3].astype(np.int64)
    ready = np.rint(data[:, 4] * scale).astype(np.int64)
    due = np.rint(data[:, 5] * scale).astype(np.int64)
    service = np.rint(data[:, 6] * scale).astype(np.int64)
    delivery_of = data[:, 8].astype(np.int64)
    nveh = k if num_vehicles is None else num_vehicles
    drivers = tuple(
        Driver(
            id=f"v{i}",
            person_id=f"vehicle-{i}",
            start=0,
            end=0,
            earliest_departure_s=int(ready[0]),
            latest_departure_s=int(due[0]),
            latest_arrival_s=int(due[0]),
            seats=q,
            max_detour_s=None,
            max_detour_pct=None,
        )
        for i in range(nveh)
    )
    riders = []
    for p in range(1, len(ids)):
        if demand[p] <= 0:
            continue
        dn = int(delivery_of[p])
        if not 0 < dn < len(ids) or demand[dn] != -demand[p]:
            raise ValueError(f"text: pickup {p} has an invalid delivery {dn}")
        riders.append(
            Rider(
                id=f"r{p}",
                person_id=f"request-{p}",
                pickups=(Candidate(p),),
                dropoffs=(Candidate(dn),),
                earliest_pickup_s=int(ready[p]),
                latest_pickup_s=int(due[p]),
                earliest_dropoff_s=int(ready[dn]),
                latest_dropoff_s=int(due[dn]),
                passengers=int(demand[p]),
                board_s=int(service[p]),
                alight_s=int(service[dn]),
            )
        )
    problem = Problem(matrix, drivers, tuple(riders))
    return LiLimInstance(problem, coords, scale, k, q)


def distance(instance: LiLimInstance, result: Result) -> float:
    """Return the total Euclidean distance of a result, in unscaled units.

    Parameters
    ----------
    instance
        The parsed instance.
    result
        A result for ``instance.problem``.

    Returns
    -------
    float
        Sum over used routes of the depot-to-depot Euclidean length.
    """
    c = instance.coords
    total = 0.0
    for route in result.routes:
        if not route.stops:
            continue
        path = [0, *(s.location for s in route.stops), 0]
        for a, b in itertools.pairwise(path):
            total += math.hypot(c[a, 0] - c[b, 0], c[a, 1] - c[b, 1])
    return total
