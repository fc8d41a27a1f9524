"""The deployment files: production settings pass Django's deploy checks, the Compose file has
the run topology of docs/architecture.md, the image runs as an unprivileged user."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ("web", "worker", "beat", "mail")


def production_env(tmp_path: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        # The test settings relax these in this process's environment; production does not.
        if name not in {"DEBUG", "SECURE_SSL_REDIRECT", "SECURE_COOKIES", "SECURE_HSTS_SECONDS"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="helpdesk.settings",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="help.example.com",
        HELPDESK_VAR_DIR=str(tmp_path),
    )
    return env


def test_check_deploy_passes_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_run_topology():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", *PROCESSES}
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["beat"]["deploy"]["replicas"] == 1
    for name in ("web", "worker"):
        assert "replicas" not in services[name].get("deploy", {}), name


def test_compose_defines_the_helpdesk_image_once():
    text = (ROOT / "docker-compose.yml").read_text()
    assert text.count("build:") == 1
    services = compose()["services"]
    for name in ("migrate", *PROCESSES):
        assert services[name]["build"] == ".", name
        assert services[name]["image"] == "helpdesk:latest", name
    for name in PROCESSES:
        assert services[name]["command"] == ["python", "-m", "helpdesk.run", name]


def test_compose_health_checks_and_start_order():
    services = compose()["services"]
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"], name
    assert services["web"]["healthcheck"]["test"][-1] == "--healthcheck"
    for name in ("migrate", *PROCESSES):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    for name in PROCESSES:
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert "migrate" in " ".join(services["migrate"]["command"])
    assert "setup_support" in " ".join(services["migrate"]["command"])


def test_compose_environment():
    services = compose()["services"]
    for name in ("migrate", *PROCESSES):
        env = services[name]["environment"]
        for variable in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS"):
            assert env[variable], (name, variable)
        assert (
            env["DATABASE_URL"].startswith("postgres://")
            and "@postgres:5432/" in env["DATABASE_URL"]
        )
        assert env["REDIS_URL"].startswith("redis://redis:6379/")
        # No secret is baked into the file: Compose refuses to start without it.
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_compose_processes_are_the_procfile_ones():
    from helpdesk.run import procfile_processes

    assert set(procfile_processes()) == set(PROCESSES)


def test_image_runs_unprivileged_from_python_311_slim():
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    assert any("collectstatic" in line for line in lines)


def test_image_dependencies_are_read_from_pyproject():
    """The Dockerfile installs the list that this one-liner prints: it must be pyproject's."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    one_liner = dockerfile.split('python -c "', 1)[1].split('" >', 1)[0]
    # The shell passes a double-quoted string as is: the same text reaches Python here.
    printed = subprocess.run(
        [sys.executable, "-c", one_liner], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert "Django>=5.2,<5.3" in printed
    assert len(printed) > 5
