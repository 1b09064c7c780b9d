"""The bundled GTFS feeds, and altered copies of them for tests of broken or unusual feeds."""

from __future__ import annotations

import zipfile
from pathlib import Path

from maas.settings import PROJECT_DIR

GTFS_DIR = PROJECT_DIR / "data" / "gtfs"
BUS_781 = GTFS_DIR / "only-bronntor-bus-stop.gtfs.zip"
"""VVS town bus 781 in Herrenberg: a loop ZOB – Bronntor – Benzstraße – Stadtwerke –
Porschestraße – Daimlerstraße – Affstätter Tal – Stadthalle – Bronntor – ZOB, Monday to Friday
from 2020-04-27 to 2020-12-12 except on the weekdays up to 2020-09-02 (school holidays)."""
BUS_751 = GTFS_DIR / "vvs-bus-751-only.gtfs.zip"

# Places near the stops of route 781 (inside testland's west community and the demo region).
NEAR_ZOB = (8.8648, 48.5943)  # 7 m from "Herrenb. ZOB Bahnhofstraße"
NEAR_STADTWERKE = (8.8746, 48.6044)  # 1 m from "Herrenberg Stadtwerke"


def read_member(feed: Path, name: str) -> str:
    with zipfile.ZipFile(feed) as archive:
        return archive.read(name).decode("utf-8-sig")


def altered_feed(
    target: Path,
    *,
    source: Path = BUS_781,
    replace: dict[str, str] | None = None,
    append: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> Path:
    """A copy of ``source`` with whole files replaced, lines appended or files left out."""
    replace, append = replace or {}, append or {}
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for name in original.namelist():
            if name in drop:
                continue
            text = replace.get(name, original.read(name).decode("utf-8-sig"))
            if name in append:
                text = text.rstrip("\n") + "\n" + append[name]
            copy.writestr(name, text)
        for name, text in replace.items():
            if name not in original.namelist():
                copy.writestr(name, text)
    return target
