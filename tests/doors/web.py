"""The web process of the Procfile, run by a test as production runs it (`sh -c "exec <web>"`,
one uvicorn), on the test database, with raw HTTP clients that pick their source address."""

import contextlib
import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from helpdesk.run import procfile_processes
from tests.processes import child_env, free_port

READY_SECONDS = 60


@contextlib.contextmanager
def web_process(log: Path, **env: str) -> Iterator[int]:
    """The Procfile's `web` line on a free port of 127.0.0.1; yields the port. Without
    FORWARDED_ALLOW_IPS in `env`, the Procfile's default."""
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    environment = child_env(
        HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="1", LOG_LEVEL="WARNING", **env
    )
    if "FORWARDED_ALLOW_IPS" not in env:
        environment.pop("FORWARDED_ALLOW_IPS", None)
    environment["PATH"] = f"{bin_dir}:{environment.get('PATH', '')}"
    environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {procfile_processes()['web']}"],
            cwd=settings.BASE_DIR,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(proc, port, log)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"web exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"web did not listen in {READY_SECONDS} s:\n{log.read_text()}")


def request(
    port: int,
    method: str,
    path: str,
    *,
    source: str = "127.0.0.1",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request from `source` (any 127.x address is this machine's loopback)."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()
