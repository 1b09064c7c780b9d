"""Bus timetables from GTFS feeds, for the fallback when no driver is found.

:mod:`~maas.gtfs.feed` reads and checks a feed, :mod:`~maas.gtfs.importer` stores it for a
region (``python -m maas import-timetable``), :mod:`~maas.gtfs.connections` finds the next direct
bus connection for a request, with the time and calendar rules of
:mod:`~maas.gtfs.timetable`.
"""
