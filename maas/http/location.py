"""The ``Location`` header of an answer that created a resource (RFC 9110 §10.2.2).

Creating handlers answer through :func:`maas.http.common.idempotent`, which also returns the
stored answer of a retried request without running the handler's action again; taking the id
from the answer's body gives a replay the same ``Location`` as the first answer.
"""

from __future__ import annotations

import json

from aiohttp import web


def located(response: web.Response, template: str) -> web.Response:
    """``response`` with ``Location: template`` (``{id}`` filled in from the body's ``id``) if
    it is a 201 Created; any other answer is returned as it is."""
    if response.status == 201 and response.text is not None:
        created = json.loads(response.text)
        response.headers["Location"] = template.format(id=created["id"])
    return response
