"""Stopping background tasks reliably."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended.

    Python 3.11's ``asyncio.wait_for`` can swallow a cancellation that arrives just as the
    awaited thing finishes, so a loop built on it may go on after one ``cancel()``; this cancels
    again until the task is really done.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()
