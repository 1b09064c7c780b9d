"""The OpenAPI 3.1 document, assembled from the route table and the JSON Schemas, and a
self-contained HTML page that renders it (no scripts, nothing fetched from elsewhere).

Nothing is copied by hand: request bodies are the files in ``schemas/``; paths, parameters and
roles come from the route table in :func:`maas.app.api_routes`. ``schemas/openapi.json`` is the
same document, checked in for clients (a test keeps it current; ``python -m maas openapi
--write`` regenerates it).
"""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from maas import appkeys
from maas.schemas import SchemaRegistry

API_VERSION = "1.0.0"
"""The API's own version (paths are under /v1/)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LIST_PARAMETERS: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    "cursor": {"type": "string", "description": "next_cursor of the previous page"},
    "community_id": {"type": "string", "format": "uuid"},
    "status": {"type": "string"},
    "from": {"type": "string", "format": "date-time", "description": "window start (RFC 3339)"},
    "to": {"type": "string", "format": "date-time", "description": "window end (RFC 3339)"},
    "bbox": {
        "type": "string",
        "pattern": r"^-?\d+(\.\d+)?,-?\d+(\.\d+)?,-?\d+(\.\d+)?,-?\d+(\.\d+)?$",
        "description": "minlon,minlat,maxlon,maxlat (WGS84)",
    },
    "region": {
        "type": "string",
        "pattern": "^[a-z0-9][a-z0-9_-]*$",
        "description": "an imported region's name",
    },
    "kind": {"type": "string", "enum": ["mitfahrbank", "bus_stop", "parking", "other"]},
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; field and errors name the offending input.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "field": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}

_ERROR_TEXT = {
    "400": "Malformed request (e.g. the body is not JSON)",
    "401": "No valid token",
    "403": "The role does not allow this",
    "404": "Not found or not visible to the caller",
    "409": "Conflicts with the current state or a reused Idempotency-Key",
    "413": "Body too large",
    "415": "Body is not application/json",
    "422": "Invalid input; the problem names the field",
    "503": "not ready: the road network or the region is not loaded yet (see /readyz)",
}


DB_DOWN = "the database is unreachable or restarting: retry after Retry-After seconds"

_BODY_TYPE = {
    "application/json": "object",
    "application/geo+json": "object",
    "text/html": "string",
    "text/event-stream": "string",
}
SSE_STREAM_DESCRIPTION = (
    "Server-Sent Events (text/event-stream). Each event is three lines and a blank one: "
    "`id: <the stream's position after it, <transaction>-<Event.id>>`, "
    "`event: <Event.kind>`, `data: <the Event as one line of JSON, with its position>`. "
    "The first frame is "
    "`retry:` (the reconnection delay in milliseconds) and `id:` (the position the stream "
    "starts at) only. Lines starting with `:` are comments (sent when connected and as "
    "keep-alives). The stream does not end by itself."
)


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One operation: where it is, who may call it, what it takes."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    roles: str = "any signed-in person"
    body: str | None = None
    body_required: bool = True
    query: Sequence[str] = ()
    statuses: Sequence[str] = ()
    ok: str = "200"
    public: bool = False
    media_type: str = "application/json"
    response: str | None = None
    """The answer's schema in ``schemas/responses/`` (a page of them if ``page``; for an event
    stream, the schema of each event's data)."""
    page: bool = False
    params: Sequence[dict[str, Any]] = ()
    """More OpenAPI parameter objects: path parameters that are not UUIDs (a path parameter
    given here replaces the default), and query or header parameters of this route alone."""
    idempotent: bool = False
    """Whether the operation honours ``Idempotency-Key`` (retry-safe creation)."""
    needs_roads: bool = False
    """Whether the operation needs the road network or the imported region (503 until then)."""
    unavailable: str | None = None
    """Why else the operation may answer 503 (documented with that text)."""
    location: str | None = None
    """The created resource's URL, e.g. ``/v1/people/{id}`` (``{id}`` is the answer's id); the
    answer then carries it as ``Location``."""


def _schema_name(file_stem: str) -> str:
    return "".join(part.capitalize() for part in file_stem.split("-"))


def _rewrite_refs(node: Any, base: str) -> Any:
    """Local ``#/$defs/x`` references, pointed at the schema's place in the document, and
    ``other.json`` references at that schema's component."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                out[key] = base + value[1:]
            elif key == "$ref" and isinstance(value, str) and value.endswith(".json"):
                out[key] = "#/components/schemas/" + _schema_name(value.removesuffix(".json"))
            else:
                out[key] = _rewrite_refs(value, base)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, base) for v in node]
    return node


def _success(route: ApiRoute) -> dict[str, Any]:
    """The documented success answer: its body (none for 204) and its ``Location``."""
    answer: dict[str, Any] = {"description": "Success"}
    if route.location is not None:
        answer["description"] = "Created; Location is its URL"
        if route.ok == "202":
            answer["description"] = "Accepted; Location is the URL to poll"
        answer["headers"] = {
            "Location": {
                "description": f"The resource's URL: {route.location}",
                "required": True,
                "schema": {"type": "string", "format": "uri-reference"},
            }
        }
    if route.idempotent:
        answer.setdefault("headers", {})["Idempotent-Replayed"] = {
            "description": "true: the stored answer to an earlier request with this "
            "Idempotency-Key (nothing was done again)",
            "required": False,
            "schema": {"type": "string", "enum": ["true"]},
        }
    if route.ok == "204":
        return answer
    media: dict[str, Any] = {"schema": {"type": _BODY_TYPE[route.media_type]}}
    if route.media_type == "text/event-stream":
        media["schema"]["description"] = SSE_STREAM_DESCRIPTION
        if route.response is not None:
            # OpenAPI 3.1 has no schema for the items of a stream (3.2 adds ``itemSchema``);
            # this extension has 3.2's form, so each event's data is still documented.
            media["x-itemSchema"] = {
                "type": "object",
                "properties": {
                    "id": {
                        "type": "string",
                        "description": "the stream's position after this event "
                        "(`<transaction>-<Event.id>`, or `<transaction>-<Event.id>-<floor>` "
                        "after a plain Last-Event-ID), also the data's `position`; send it "
                        "back as Last-Event-ID when reconnecting",
                    },
                    "event": {"type": "string", "description": "Event.kind"},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {
                            "$ref": f"#/components/schemas/{_schema_name(route.response)}"
                        },
                    },
                },
                "required": ["id", "event", "data"],
            }
    elif route.response is not None:
        name = _schema_name(route.response) + ("Page" if route.page else "")
        media["schema"] = {"$ref": f"#/components/schemas/{name}"}
    answer["content"] = {route.media_type: media}
    return answer


def _webhooks() -> dict[str, Any]:
    """What a subscribed app back end receives (``POST /v1/webhooks``)."""
    return {
        "event": {
            "post": {
                "operationId": "webhook_event",
                "summary": "One event, posted to each subscription it concerns",
                "description": "Sent for each event of the subscribed community (its "
                "`payload.community_id`) or person. Answer 2xx within the timeout; anything "
                "else is retried with exponential back-off and then listed as dead "
                "(GET /v1/webhook-deliveries?status=dead).",
                "tags": ["events"],
                "parameters": [
                    {
                        "name": "Maas-Signature",
                        "in": "header",
                        "required": True,
                        "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of "
                        '"<t>.<body>" with the subscription\'s secret>',
                        "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"},
                    },
                    {
                        "name": "Maas-Event-Id",
                        "in": "header",
                        "required": True,
                        "description": "The event's id (the same event may arrive again)",
                        "schema": {"type": "string", "pattern": "^[0-9]+$"},
                    },
                    {
                        "name": "Maas-Delivery-Id",
                        "in": "header",
                        "required": True,
                        "description": "This delivery's id (for a replay)",
                        "schema": {"type": "string", "pattern": "^[0-9]+$"},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Event"}}
                    },
                },
                "responses": {"2XX": {"description": "Received"}},
            }
        }
    }


def build_document(routes: Sequence[ApiRoute], registry: SchemaRegistry) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these routes."""
    schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    for stem, schema in sorted({**registry.schemas, **registry.responses}.items()):
        name = _schema_name(stem)
        body = {k: v for k, v in copy.deepcopy(schema).items() if k != "$schema"}
        schemas[name] = _rewrite_refs(body, f"#/components/schemas/{name}")
    for stem in sorted({r.response for r in routes if r.page and r.response is not None}):
        name = _schema_name(stem)
        schemas[name + "Page"] = {
            "type": "object",
            "description": f"One page of {name} items; pass next_cursor as cursor for the next.",
            "properties": {
                "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}},
                "next_cursor": {"type": ["string", "null"]},
            },
            "required": ["items", "next_cursor"],
            "additionalProperties": False,
        }
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "operationId": route.handler.__name__,
            "summary": route.summary,
            "description": f"Allowed for: {route.roles}.",
            "tags": [route.tag],
        }
        given = {(p["in"], p["name"]): p for p in route.params}
        params: list[dict[str, Any]] = [
            given.get(
                ("path", name),
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                },
            )
            for name in re.findall(r"\{(\w+)\}", route.path)
        ]
        params += [p for p in route.params if p["in"] != "path"]
        for name in route.query:
            schema = dict(LIST_PARAMETERS[name])
            if name == "status" and route.statuses:
                schema["enum"] = list(route.statuses)
            params.append({"name": name, "in": "query", "required": False, "schema": schema})
        if route.idempotent:
            params.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "Retry-safe POST: the same key and body return the first "
                    "answer; the same key with another body is a 409.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                }
            )
        if params:
            operation["parameters"] = params
        if route.body is not None:
            operation["requestBody"] = {
                "required": route.body_required,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{_schema_name(route.body)}"}
                    }
                },
            }
        responses: dict[str, Any] = {route.ok: _success(route)}
        if not route.public:
            problem = {"$ref": "#/components/schemas/Problem"}
            for status, text in _ERROR_TEXT.items():
                if status in ("413", "415") and route.body is None:
                    continue
                if status == "503":
                    reasons = (route.unavailable, text if route.needs_roads else None, DB_DOWN)
                    text = "; or ".join(r for r in reasons if r)
                    text = text[0].upper() + text[1:]
                responses[status] = {
                    "description": text,
                    "content": {"application/problem+json": {"schema": problem}},
                }
        operation["responses"] = responses
        if route.public:
            operation["security"] = []
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "maas — rural ridesharing API",
            "version": API_VERSION,
            "description": "Ride offers of volunteer drivers, ride requests of village riders, "
            "communities, meeting points, people and matches; every change as an event on each "
            "person's stream (GET /v1/me/events) and as signed webhook deliveries (see "
            "webhooks). Times are RFC 3339; answers are in UTC. A 201 gives the created "
            "resource's URL in Location. Errors are RFC 9457 problem documents.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "security": [{"bearer": []}],
        "paths": paths,
        **({"webhooks": _webhooks()} if "event" in registry.responses else {}),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API token"}
            },
        },
    }


def dumps(document: dict[str, Any]) -> str:
    """The checked-in form: stable key order, two-space indent, final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document."""
    return web.json_response(request.app[appkeys.OPENAPI])


async def docs_page(request: web.Request) -> web.Response:
    """A readable page of the OpenAPI document."""
    return web.Response(text=render_html(request.app[appkeys.OPENAPI]), content_type="text/html")


_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b}h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}
.op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}
.m{font-weight:700;display:inline-block;min-width:4.5rem}.GET{color:#0a5}.POST{color:#06c}
.PATCH{color:#a60}.DELETE{color:#c22}code,pre{background:#f5f5f5;border-radius:4px}
pre{padding:.6rem;overflow:auto;font-size:13px}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
"""


def render_html(document: dict[str, Any]) -> str:
    """The whole document as one HTML page; every value is escaped."""
    e = html.escape
    info = document["info"]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{e(info['title'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(info['title'])} <small>{e(info['version'])}</small></h1>",
        f"<p>{e(info['description'])}</p>",
        "<p>Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>. "
        'The machine-readable document is at <a href="/openapi.json">/openapi.json</a>.</p>',
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            by_tag.setdefault(op["tags"][0], []).append((method.upper(), path, op))
    for name, methods in document.get("webhooks", {}).items():
        for method, op in methods.items():
            where = f"(webhook '{name}': to your subscription's url)"
            by_tag.setdefault(op["tags"][0], []).append((method.upper(), where, op))
    for tag, ops in by_tag.items():
        parts.append(f"<h2>{e(tag)}</h2>")
        for method, path, op in ops:
            parts.append(f'<div class=op id="{e(op["operationId"])}">')
            parts.append(f"<p><span class='m {method}'>{method}</span><code>{e(path)}</code></p>")
            parts.append(f"<p>{e(op['summary'])} {e(op.get('description', ''))}</p>")
            params = op.get("parameters", [])
            if params:
                parts.append("<table><tr><th>parameter</th><th>in</th><th>schema</th></tr>")
                for p in params:
                    schema = json.dumps(p["schema"], ensure_ascii=False)
                    parts.append(
                        f"<tr><td>{e(p['name'])}</td><td>{e(p['in'])}</td>"
                        f"<td><code>{e(schema)}</code></td></tr>"
                    )
                parts.append("</table>")
            body = op.get("requestBody")
            if body:
                ref = body["content"]["application/json"]["schema"]["$ref"]
                name = ref.rsplit("/", 1)[-1]
                schema = document["components"]["schemas"][name]
                parts.append(f"<details><summary>Body: {e(name)}</summary><pre>")
                parts.append(e(json.dumps(schema, indent=2, ensure_ascii=False)))
                parts.append("</pre></details>")
            for code, answer in op["responses"].items():
                if not code.startswith("2"):
                    continue
                for kind, media in answer.get("content", {}).items():
                    if "x-itemSchema" in media:
                        parts.append(f"<p>{e(media['schema'].get('description', ''))}</p>")
                    item = media.get("x-itemSchema", {}).get("properties", {}).get("data", {})
                    ref = media["schema"].get("$ref") or item.get("contentSchema", {}).get("$ref")
                    if ref:
                        name = ref.rsplit("/", 1)[-1]
                        schema = document["components"]["schemas"][name]
                        what = f"each event's data: {name}" if item else name
                        parts.append(
                            f"<details><summary>Answer {e(code)} ({e(kind)}), {e(what)}"
                            "</summary><pre>"
                        )
                        parts.append(e(json.dumps(schema, indent=2, ensure_ascii=False)))
                        parts.append("</pre></details>")
                for header, spec in answer.get("headers", {}).items():
                    parts.append(
                        f"<p>Header <code>{e(header)}</code>: {e(spec['description'])}</p>"
                    )
            statuses = ", ".join(
                f"{code} {resp['description']}" for code, resp in op["responses"].items()
            )
            parts.append(f"<p><small>Responses: {e(statuses)}</small></p></div>")
    parts.append("</body></html>")
    return "".join(parts)
