"""A webhook receiver for tests: an HTTP server on 127.0.0.1 that records what it is sent."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

TIMEOUT_S = 15.0


class Receiver:
    """Records each POST to ``url``; ``status`` is its answer."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        self.arrived.set()
        return web.Response(status=self.status)

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    async def next(self) -> tuple[dict[str, str], bytes]:
        await asyncio.wait_for(self.arrived.wait(), TIMEOUT_S)
        self.arrived.clear()
        return self.received[-1]

    async def event_with_kind(self, kind: str) -> dict[str, object]:
        """Wait until an event of this kind has arrived (it may be the first or a later one)."""
        while True:
            for _, body in self.received:
                sent = json.loads(body)
                if sent["kind"] == kind:
                    assert isinstance(sent, dict)
                    return sent
            await self.next()

    def kinds(self) -> list[str]:
        return [json.loads(body)["kind"] for _, body in self.received]
