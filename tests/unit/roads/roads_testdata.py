"""Test data for the road package: the demo extract's path and tiny OSM XML files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from maas.settings import PROJECT_DIR

DEMO_PBF = PROJECT_DIR / "data" / "demo" / "herrenberg.osm.pbf"


def write_osm(
    path: Path,
    nodes: Sequence[tuple[int, float, float]] | Sequence[tuple[int, float, float, dict[str, str]]],
    ways: Sequence[tuple[int, Sequence[int], Mapping[str, str]]] = (),
) -> Path:
    """Nodes as (id, lon, lat[, tags]), ways as (id, node ids, tags)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for node in nodes:
        node_id, lon, lat = node[0], node[1], node[2]
        tags: Mapping[str, str] = node[3] if len(node) > 3 else {}
        attrs = f'id="{node_id}" version="1" lat="{lat}" lon="{lon}"'
        if tags:
            lines.append(f"<node {attrs}>")
            lines.extend(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
            lines.append("</node>")
        else:
            lines.append(f"<node {attrs}/>")
    for way_id, refs, way_tags in ways:
        lines.append(f'<way id="{way_id}" version="1">')
        lines.extend(f'<nd ref="{r}"/>' for r in refs)
        lines.extend(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in way_tags.items())
        lines.append("</way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines))
    return path
