"""RFC 9457 problem documents: the only place domain errors become HTTP responses."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from maas import db
from maas.errors import MaasError, UnavailableError
from maas.logs import request_id_var

log = logging.getLogger("maas.http")

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://maas.example/problems/"
REQUEST_ID_HEADER = "X-Request-Id"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    type_slug: str,
    instance: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + type_slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    request_id = request_id_var.get()
    if request_id is not None:
        body["request_id"] = request_id
    if extra:
        body.update(extra)
    return web.json_response(
        body, status=status, content_type=PROBLEM_CONTENT_TYPE, headers=headers
    )


def error_response(error: MaasError, request: web.Request) -> web.Response:
    """The problem document for a domain error; the field it concerns is named."""
    extra: dict[str, Any] = dict(error.extra)
    if error.field is not None:
        extra["field"] = error.field
        extra.setdefault("errors", [{"field": error.field, "detail": error.detail}])
    return problem_response(
        error.status,
        error.title,
        str(error),
        type_slug=error.type_slug,
        instance=request.path,
        extra=extra,
    )


RETRY_AFTER_S = 1  # after a database restart, new connections succeed within seconds

_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
}


@web.middleware
async def request_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give each request an id (or keep the caller's), time it, log it, and turn errors into
    problem documents."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else None
    request_id = request_id or uuid.uuid4().hex
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    response: web.StreamResponse
    try:
        try:
            response = await handler(request)
        except MaasError as error:
            if error.status >= 500:
                log.error("request failed: %s", error, exc_info=error)
            response = error_response(error, request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            slug = _HTTP_SLUGS.get(exc.status, "http-error")
            response = problem_response(
                exc.status,
                exc.reason,
                exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason,
                type_slug=slug,
                instance=request.path,
                headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
            )
        except db.DATABASE_UNAVAILABLE as exc:
            # A restart or failover. A retry may repeat a write whose commit the drop cut
            # off; a client that must not repeat one sends an Idempotency-Key.
            log.warning("database unavailable in %s %s: %r", request.method, request.path, exc)
            response = error_response(
                UnavailableError("the database is unreachable or restarting; retry shortly"),
                request,
            )
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            response = problem_response(
                500,
                "Internal error",
                "An unexpected error occurred; the request id identifies it in the logs.",
                type_slug="internal",
                instance=request.path,
            )
        response.headers[REQUEST_ID_HEADER] = request_id
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return response
    finally:
        request_id_var.reset(token)
