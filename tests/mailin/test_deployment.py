"""The receiver is for the MTA in front, not for the Internet: loopback by default wherever it
runs (Procfile, `make run`, the image), and never published on the host by compose."""

import os
import re
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from tests.processes import child_env

ROOT = settings.BASE_DIR
READY_SECONDS = 60


def test_compose_publishes_no_mail_port_and_listens_on_its_network_only():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]

    assert all("2525" not in str(service.get("ports", "")) for service in services.values())
    mail = services["mail"]
    assert "ports" not in mail
    assert mail["environment"]["MAIL_HOST"] == "0.0.0.0"  # noqa: S104 (the compose network)
    # The rest of the environment is the helpdesk's, not replaced by the override.
    assert mail["environment"]["DATABASE_URL"] == services["web"]["environment"]["DATABASE_URL"]
    assert "EMAIL_AUTHSERV_ID" in mail["environment"]


def test_the_image_and_the_procfile_default_to_loopback():
    dockerfile = (ROOT / "Dockerfile").read_text()
    procfile = (ROOT / "Procfile").read_text()

    assert re.search(r"^\s+MAIL_HOST=127\.0\.0\.1\s*$", dockerfile, re.MULTILINE)
    assert "2525" not in "".join(line for line in dockerfile.splitlines() if "EXPOSE" in line)
    [mail] = [line for line in procfile.splitlines() if line.startswith("mail:")]
    assert "--host ${MAIL_HOST:-127.0.0.1}" in mail and "${HOST" not in mail


def test_a_container_serving_web_on_every_interface_keeps_mail_on_loopback(tmp_path):
    """`python -m helpdesk.run mail` as the image runs it: HOST=0.0.0.0, no MAIL_HOST."""
    env = child_env(HOST="0.0.0.0", MAIL_PORT="0")  # noqa: S104 (web's, as in the image)
    env.pop("MAIL_HOST", None)
    # The Procfile's `python` is this environment's, as on the image's PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    with (tmp_path / "mail.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "helpdesk.run", "mail"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        try:
            with selectors.DefaultSelector() as ready:
                ready.register(proc.stdout, selectors.EVENT_READ)
                line = proc.stdout.readline().decode() if ready.select(READY_SECONDS) else ""
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

    if "listening on" not in line:
        pytest.fail(f"mail_receiver did not start: {line!r}\n{(tmp_path / 'mail.log').read_text()}")
    assert re.search(r"listening on 127\.0\.0\.1:\d+ ", line), line


def test_make_run_keeps_mail_on_loopback_whatever_host_serves_web():
    from helpdesk.run import LOCAL_DEFAULTS

    assert LOCAL_DEFAULTS["MAIL_HOST"] == "127.0.0.1"
