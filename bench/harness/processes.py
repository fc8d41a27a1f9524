"""The real processes of the Procfile, started for a benchmark: uvicorn and a Celery worker,
and the CPU time their process trees spend."""

import os
import subprocess
import time
from pathlib import Path

from bench.harness.environment import (
    BASE_DIR,
    BIN_DIR,
    START_TIMEOUT_SECONDS,
    STOP_TIMEOUT_SECONDS,
    Bench,
    port_is_free,
)
from bench.harness.httpclient import HttpClient


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its live descendants (Linux /proc), with what
    their reaped children used."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended while we read
        # The command name may hold spaces and parentheses: fields start after the last ")".
        fields = text[text.rindex(")") + 2 :].split()
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        # utime, stime, cutime, cstime: fields 14-17 of proc(5), 12-15 after the name.
        ticks[child] = sum(int(value) for value in fields[11:15])
    tree, frontier = set(), {pid}
    while frontier:
        tree |= frontier
        frontier = {child for child, parent in parents.items() if parent in frontier} - tree
    return sum(ticks.get(member, 0) for member in tree) / os.sysconf("SC_CLK_TCK")


class _Process:
    """A child process of the bench, its output in a log file under the bench's var dir,
    stopped (SIGTERM, then SIGKILL) when the `with` block ends."""

    name = "process"

    def __init__(self, bench: Bench):
        self.bench = bench
        self.log = bench.var_dir / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self):
        env = {**os.environ, **self.bench.environ()}
        env["PATH"] = os.pathsep.join([str(BIN_DIR), env.get("PATH", "")])
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.command(), cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start; see {self.log}")
            time.sleep(0.1)
        return self

    def cpu_seconds(self) -> float:
        """CPU time (user + system) this process and its children have used so far: on a
        shared machine a steadier cost than wall time, which other people's load stretches."""
        return process_tree_cpu_seconds(self.proc.pid) if self.proc else 0.0

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class Server(_Process):
    """The `web` process of the Procfile: uvicorn serving helpdesk.asgi on 127.0.0.1."""

    name = "web"

    @property
    def port(self) -> int:
        return self.bench.port

    def command(self) -> list[str]:
        return [
            str(BIN_DIR / "uvicorn"),
            "helpdesk.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--lifespan",
            "off",
            "--workers",
            str(self.bench.web_workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]

    def start(self):
        # Otherwise another bench's server would answer the readiness probe, and the requests.
        if not port_is_free(self.port):
            raise RuntimeError(f"port {self.port} is taken: choose another with --port")
        return super().start()

    def ready(self) -> bool:
        try:
            status, _body, _seconds = HttpClient(self.port).request("GET", "/healthz")
        except OSError:
            return False
        return status == 200


class Worker(_Process):
    """The `worker` process of the Procfile: Celery prefork on the bench's own queue."""

    name = "worker"

    def command(self) -> list[str]:
        return [
            str(BIN_DIR / "celery"),
            "-A",
            "helpdesk",
            "worker",
            "--loglevel",
            "INFO",
            "--pool",
            "prefork",
            "--concurrency",
            str(self.bench.worker_concurrency),
            "--hostname",
            f"bench-{self.bench.name}@%h",
            "--without-gossip",
            "--without-mingle",
        ]

    def ready(self) -> bool:
        return b" ready." in self.log.read_bytes()
