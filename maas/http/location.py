"""The ``Location`` header of an answer that created a resource (RFC 9110 §10.2.2).

Creating handlers answer through :func:`maas.http.common.idempotent`, which also returns the
stored answer of a retried request without running the handler's action again; taking the id
from the answer's body gives a replay the same ``Location`` as the first answer. A handler that
built the answer itself and knows the id sets it with :func:`set_location`.
"""

from __future__ import annotations

import json
import uuid

from aiohttp import web


def set_location(response: web.Response, template: str, resource_id: uuid.UUID | str) -> None:
    """``Location: template`` with ``{id}`` filled in."""
    response.headers["Location"] = template.format(id=resource_id)


def located(response: web.Response, template: str) -> web.Response:
    """``response`` with ``Location: template`` (``{id}`` filled in from the body's ``id``) if
    it is a 201 Created; any other answer is returned as it is."""
    if response.status == 201 and response.text is not None:
        set_location(response, template, json.loads(response.text)["id"])
    return response
