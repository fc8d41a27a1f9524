"""What the fault tests of faults-b start beside themselves: a PostgreSQL cluster of their own
(its data directory, its port, stopped by its PID, never the machine's server on 5432) and the
product's processes as the Procfile runs them (`python -m helpdesk.run web|worker|beat`), each
in its own process group, stopped by its PID."""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2
import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
START_SECONDS = 60  # a pass takes a few; the machine may be loaded by other suites
STOP_SECONDS = 30

needs_postgres_binaries = pytest.mark.skipif(
    not (PG_BIN / "postgres").exists(), reason=f"PostgreSQL binaries not found in {PG_BIN}"
)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = START_SECONDS) -> None:
    """Poll what a real process does, with a bound."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting until {what}")
        time.sleep(0.05)


class Postgres:
    """A cluster of the test's own, trust authentication on 127.0.0.1:`port`.

    PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` account, in
    a directory of its own under /tmp (pytest's tmp_path is root's alone and the server could
    not enter it), removed by `remove()`. Otherwise it lives in `base` (the test's tmp_path)."""

    def __init__(self, base: Path, port: int):
        self.port = port
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            self.home = Path(tempfile.mkdtemp(prefix="hd-faults-pg-"))
            account = pwd.getpwnam(self.user)
            os.chown(self.home, account.pw_uid, account.pw_gid)
        else:
            self.home = base / "postgres"
            self.home.mkdir()
        self.data = self.home / "data"
        self.log = base / "postgres.log"
        self.proc: subprocess.Popen | None = None

    def init(self) -> "Postgres":
        subprocess.run(
            [
                *(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust"),
                *("-E", "UTF8", "--no-sync", "--no-instructions"),
            ],
            check=True,
            capture_output=True,
            user=self.user,
            cwd=self.home,
        )
        return self

    def start(self) -> None:
        """The postmaster as a child of the test, on the same data directory and port each time;
        returns once it accepts connections."""
        command = [PG_BIN / "postgres", "-D", self.data, "-p", str(self.port), "-k", self.home]
        # Durability is not what these tests prove: a crash of the machine is not among them.
        for setting in ("listen_addresses=127.0.0.1", "fsync=off", "full_page_writes=off"):
            command += ["-c", setting]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=log,
                user=self.user,
                cwd=self.home,
                start_new_session=True,
            )
        wait_for(self.answers, f"PostgreSQL answers on port {self.port}")

    def answers(self) -> bool:
        assert self.proc.poll() is None, f"postgres exited:\n{self.log.read_text()[-2000:]}"
        try:
            psycopg2.connect(self.url("postgres"), connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def stop(self) -> None:
        """Fast shutdown by the postmaster's PID: open sessions are cut, as in a restart."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def remove(self) -> None:
        self.stop()
        if self.user:
            shutil.rmtree(self.home, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        connection = psycopg2.connect(self.url("postgres"))
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()

    def query(self, database: str, sql: str) -> list[tuple]:
        connection = psycopg2.connect(self.url(database), connect_timeout=5)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        finally:
            connection.close()


class Process:
    """One process of the Procfile (`python -m helpdesk.run <name>`), in its own process group
    so that a signal reaches its children too (uvicorn's, the worker's pool)."""

    def __init__(self, name: str, env: dict[str, str], log: Path):
        self.name, self.log = name, log
        bin_dir = str(Path(sys.executable).parent)
        env = {**env, "PATH": os.pathsep.join([bin_dir, env.get("PATH", "")])}
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "helpdesk.run", name],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.signal_group(signal.SIGCONT)  # a frozen process cannot hear SIGTERM
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.proc.wait()


def python(*args: str, env: dict[str, str], log: Path, script: str | None = None) -> str:
    """`python <args>` as a child in the project's directory (`python - ` reads `script`); its
    output goes to `log` as well, and its stdout is returned."""
    command = [sys.executable, *args]
    done = subprocess.run(
        command, cwd=ROOT, env=env, input=script, capture_output=True, text=True, timeout=180
    )
    with log.open("a") as out:
        out.write(done.stdout + done.stderr)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr[-3000:]}"
    return done.stdout
