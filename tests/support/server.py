"""The real service in its own process, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from maas.settings import PROJECT_DIR, Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env.update(
        MAAS_DATABASE_URL=settings.database_url,
        MAAS_DATA_DIR=str(settings.data_dir),
        MAAS_HOST="127.0.0.1",
        # One server process (several would each load the road network, and a request could
        # reach one that is not ready yet) and no background work unless the test asks for it
        # (the service's defaults switch the scheduler, webhooks and instant answers on).
        MAAS_WORKERS="1",
        MAAS_MATCHING_INTERVAL_S="0",
        MAAS_WEBHOOK_INTERVAL_S="0",
        MAAS_INSTANT_ANSWERS="0",
    )
    env.update(extra)
    return env


def run_cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m maas ARGS`` as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "maas", *args],
        cwd=PROJECT_DIR,
        env=service_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


@dataclass
class LiveServer:
    process: subprocess.Popen[str]
    base_url: str
    log_path: Path
    log_file: IO[str]

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        """Send SIGTERM (unless it has exited) and wait for the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait()

    def wait(self) -> int:
        """Wait for the process to exit by itself; its exit status."""
        try:
            return self.process.wait(timeout=60)
        finally:
            self.log_file.close()


def start_server(settings: Settings, log_path: Path, **env: str) -> LiveServer:
    import urllib.request

    port = free_port()
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "maas", "serve"],
        cwd=PROJECT_DIR,
        env=service_env(settings, MAAS_PORT=str(port), **env),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = LiveServer(process, f"http://127.0.0.1:{port}", log_path, log_file)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_file.close()
            raise RuntimeError(f"the service exited with {process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.base_url + "/healthz", timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"the service did not answer within 60 s:\n{server.log()}")
