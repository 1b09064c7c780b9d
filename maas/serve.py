"""``python -m maas serve``: one HTTP server process, or several sharing the port.

With ``workers`` > 1 (``--workers``, ``MAAS_WORKERS``; by default one per CPU) a supervising
parent starts that many server processes, each a complete service (its connection pool, its
road network — memory-mapped, so the pages are shared — and its matching worker pool) listening
on the same port with ``SO_REUSEPORT``, so that the kernel spreads connections over them. The
parent forwards SIGTERM and SIGINT to them once (each finishes its in-flight requests within
``shutdown_timeout_s``) and exits 0 when all have stopped. A server process that exits while
the service is not stopping ends the service: the parent stops the others and exits 1, so
that systemd or the container runtime restarts it whole.

What runs where:

* **every server process**: the HTTP API; event streams, with their own event poll;
  matching runs and what-if replays started through that process, in its own worker pool
  (``MAAS_WORKER_PROCESSES`` is per server process). Runs of one community exclude each other
  through the database (an advisory lock), whichever process starts them.
* **one background process** (``maas-background``, no port): the matching scheduler (answer
  deadlines, scheduled runs, cut-off notices), instant answers and the webhook sender. Each
  is safe against a second copy (locks, claims with ``SKIP LOCKED``) but would do its work
  twice or, for instant answers, answer every request once per process; and
  ``webhook_concurrency`` stays the bound for the whole service. Apart from the server
  processes, their reads of whole days (thousands of requests) never hold up an HTTP
  answer, and at a lower CPU priority (nice :data:`BACKGROUND_NICE`) they take what the API
  leaves: under overload instant answers come later (or, past their limit, not at all) and
  requests are still taken. It is started only when one of them is switched on.

With one process (``--workers 1``) that process does everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import errno
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from types import FrameType

from maas.errors import ConfigError, MaasError
from maas.logs import configure_logging
from maas.settings import Settings

log = logging.getLogger("maas.serve")

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
KILL_GRACE_S = 10.0
"""After ``shutdown_timeout_s`` a server process gets this much longer before SIGKILL."""


def worker_count(settings: Settings, requested: int | None = None) -> int:
    """``--workers``, else ``MAAS_WORKERS``, else the CPUs this process may run on."""
    if requested is not None:
        if not 1 <= requested <= 256:
            raise ConfigError(f"--workers={requested} is out of range (1 to 256)")
        return requested
    if settings.workers is not None:
        return settings.workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


BACKGROUND_NICE = 5
"""How much lower the background process's CPU priority is than the server processes'."""


def worker_settings(settings: Settings) -> Settings:
    """A server process's settings when there are several: the background tasks are off
    (they run in the background process)."""
    return dataclasses.replace(
        settings, matching_interval_s=0.0, webhook_interval_s=0.0, instant_answers=False
    )


def has_background(settings: Settings) -> bool:
    """Whether any background task is switched on."""
    return (
        settings.matching_interval_s > 0
        or settings.webhook_interval_s > 0
        or settings.instant_answers
    )


def serve(settings: Settings, workers: int | None = None) -> int:
    """Run the service until it is stopped; the exit status."""
    count = worker_count(settings, workers)
    if count == 1:
        run_server(settings)
        return 0
    return supervise(settings, count)


def _listen_error(settings: Settings, exc: OSError) -> ConfigError | None:
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(
            f"port {settings.port} on {settings.host} is already in use; stop the other "
            "process or set MAAS_PORT to a free port"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError(
            f"cannot listen on {settings.host}: no such address here; check MAAS_HOST"
        )
    return None


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it exists (not on Windows): the loop's own work is a good part of a small
    request's CPU time, and uvloop's is smaller (bench/load.py)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _freeze_started(_app: object) -> None:
    """Once a process has started, move what start-up left (the road network, modules,
    caches: some 140,000 objects) out of the garbage collector's view. A full collection
    traverses them all, about 60 ms in which the process answers nobody; after the freeze it
    traverses only what serving creates. Nothing frozen is ever freed, so the garbage of
    start-up is collected first."""
    gc.collect()
    gc.freeze()


def run_server(settings: Settings, *, reuse_port: bool = False) -> None:
    """One server process, until SIGTERM or SIGINT."""
    from aiohttp import web

    from maas.app import create_app

    app = create_app(settings)
    app.on_startup.append(_freeze_started)
    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            reuse_port=reuse_port or None,
            loop=_event_loop(),
            shutdown_timeout=settings.shutdown_timeout_s,
            access_log=None,
            print=lambda text: logging.getLogger("maas").info(text.strip()),
        )
    except OSError as exc:
        error = _listen_error(settings, exc)
        if error is not None:
            raise error from exc
        raise


def run_background(settings: Settings) -> None:
    """The service without a port: only its background tasks, until SIGTERM or SIGINT."""
    from aiohttp import web

    from maas import appkeys
    from maas.app import create_app

    loop = _event_loop()
    asyncio.set_event_loop(loop)

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        app = create_app(settings)
        app[appkeys.BACKGROUND] = True
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await _freeze_started(app)
        log.info("background tasks running")
        try:
            await stop.wait()
        finally:
            # Each task bounds its own stop by shutdown_timeout_s; the supervisor kills what
            # is still running KILL_GRACE_S later.
            await runner.cleanup()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


def _check_port_free(settings: Settings) -> None:
    """Bind the address once without ``SO_REUSEPORT``: this fails if anything (another maas
    with ``SO_REUSEPORT`` too) listens there, which the server processes would not notice."""
    try:
        addresses = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {settings.host}: {exc}; check MAAS_HOST") from exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                error = _listen_error(settings, exc)
                if error is not None:
                    raise error from exc
                raise


def _prctl(option: int, value: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(option, value)


def _children() -> list[int]:
    """This process's children (Linux ``/proc``; elsewhere none are known)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.scandir(f"/proc/{os.getpid()}/task"):
            with open(os.path.join(task.path, "children")) as listing:
                found += [int(pid) for pid in listing.read().split()]
    return found


def _end_orphans(timeout_s: float = 5.0) -> None:
    """Stop what the server processes left behind (a killed one's matching workers were
    handed to the supervisor, a subreaper), so that nothing outlives the service. The
    multiprocessing resource tracker ends by itself once everyone has let go of it."""
    deadline = time.monotonic() + timeout_s
    while True:
        orphans = []
        for pid in _children():
            with contextlib.suppress(OSError):
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    if b"resource_tracker" in cmdline.read():
                        continue
                orphans.append(pid)
        if not orphans:
            return
        sig = signal.SIGTERM if time.monotonic() < deadline else signal.SIGKILL
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(0.05)
        for pid in orphans:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def _end_with_parent(parent: int) -> None:
    """Let the kernel send SIGTERM when the supervisor dies (even by SIGKILL), so that no
    server process is left holding the port."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before that took effect
        sys.exit(1)


def _child_process(settings: Settings, background: bool, parent: int) -> None:
    """A server process, or with ``background`` the background process."""
    _end_with_parent(parent)
    # Its own process group: a Ctrl-C in a terminal reaches the supervisor only, which stops
    # each server once (a second signal would cut a graceful shutdown short).
    os.setpgrp()
    configure_logging(settings.log_level)
    try:
        if background:
            # Stopped while still starting: nothing is running yet, so just end.
            signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
            os.nice(BACKGROUND_NICE)
            run_background(settings)
        else:
            run_server(worker_settings(settings), reuse_port=True)
    except MaasError as error:
        print(f"maas: error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def supervise(settings: Settings, count: int) -> int:
    """Start ``count`` server processes (and the background process) and watch them; the
    exit status (module docstring)."""
    _check_port_free(settings)
    # Orphans of a server process that died come to the supervisor, which ends them.
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=_child_process,
            args=(settings, False, os.getpid()),
            name=f"maas-http-{index}",
        )
        for index in range(count)
    ]
    if has_background(settings):
        processes.append(
            context.Process(
                target=_child_process,
                args=(settings, True, os.getpid()),
                name="maas-background",
            )
        )
    stopping_since: float | None = None

    def stop(reason: str) -> None:
        nonlocal stopping_since
        if stopping_since is not None:
            return
        stopping_since = time.monotonic()
        log.info("stopping %d process(es): %s", len(processes), reason)
        for process in processes:
            if process.pid is not None and process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        for process in processes:
            if stopping_since is None:
                process.start()
        log.info(
            "serving on %s:%d with %d server processes%s",
            settings.host,
            settings.port,
            count,
            " and a background process" if len(processes) > count else "",
        )
        running = [p for p in processes if p.pid is not None]
        while running:
            timeout = None
            if stopping_since is not None:
                deadline = stopping_since + settings.shutdown_timeout_s + KILL_GRACE_S
                timeout = max(0.0, deadline - time.monotonic())
            ready = multiprocessing.connection.wait([p.sentinel for p in running], timeout)
            if not ready and stopping_since is not None:
                for process in running:
                    log.error("%s did not stop in time; killing it", process.name)
                    process.kill()
                    process.join()
                status = 1
                break
            for process in [p for p in running if p.sentinel in ready]:
                process.join()
                running.remove(process)
                if stopping_since is None:
                    log.error(
                        "%s exited with status %s; stopping the service",
                        process.name,
                        process.exitcode,
                    )
                    status = 1
                    stop(f"{process.name} exited")
                elif process.exitcode != 0:
                    status = 1
        _end_orphans()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
