"""Matching runs: the service side of :mod:`matching`.

* :mod:`.params` — a community's matching parameters with their defaults;
* :mod:`.plan` — the plain data that crosses into worker processes, and the pure translation
  to and from :class:`matching.Problem`;
* :mod:`.worker` — the process-pool side: snapping, matrix, solve, check, route geometry;
* :mod:`.service` — runs on the event loop: locks, inputs from PostGIS, the worker call, the
  one transaction that writes the results, and the periodic scheduler.
"""
