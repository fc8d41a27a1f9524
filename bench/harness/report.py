"""The arithmetic and the text of a report: percentiles, queries of a call, the machine."""

import datetime
import os
import platform
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench.harness.environment import BASE_DIR


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0-100) of unsorted samples."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    return {
        "p50_ms": percentile(seconds, 50) * 1000,
        "p95_ms": percentile(seconds, 95) * 1000,
        "p99_ms": percentile(seconds, 99) * 1000,
        "max_ms": max(seconds) * 1000 if seconds else float("nan"),
    }


def queries_of(call) -> tuple[int, list[str]]:
    """SQL statements one call sends to the database (django's CaptureQueriesContext, which
    counts every execute of this process's connection, inside or outside the ORM)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        call()
    return len(context.captured_queries), [q["sql"] for q in context.captured_queries]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine_notes() -> str:
    """CPU, memory, load and versions: what a reader needs to compare figures."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {total_kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    return (
        f"{os.cpu_count()} CPUs ({cpu}){memory}; load average {load_average()}; "
        f"Python {platform.python_version()}, PostgreSQL {postgres}"
    )


def rerun_command(argv: Iterable[str] | None = None) -> str:
    """The command that runs this benchmark again with the same options."""
    argv = list(sys.argv if argv is None else argv)
    module = Path(argv[0]).with_suffix("").relative_to(BASE_DIR).as_posix().replace("/", ".")
    return shlex.join([".venv/bin/python", "-m", module, *argv[1:]])


def report_header(title: str) -> str:
    today = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return "\n".join(
        [
            f"== {title} ({today})",
            f"machine: {machine_notes()}",
            f"rerun:   {rerun_command()}",
        ]
    )
