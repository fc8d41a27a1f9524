"""Request bodies larger than REQUEST_MAX_BYTES are refused before routing: a declared length at
once, without the client sending the body; a chunked body as soon as it passes the cap, before
Django spools it. 413 in the API's error shape under /api/, the site's page elsewhere; the same
at the WSGI entry."""

import asyncio
import io
import json
import socket
import time
import wsgiref.util

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from tests.doors.web import web_process
from tickets.attachments import MAX_FILES_PER_MESSAGE

HUNDRED_MB = 100 * 1024 * 1024
CHUNK = 64 * 1024


def raw_head(port: int, path: str, headers: dict[str, str]) -> tuple[bytes, float]:
    """Send a request's head only, never its body; the answer and how long it took."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    return answer, time.monotonic() - started


def parsed(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        log = tmp_path_factory.mktemp("body-cap") / "web.log"
        with web_process(log) as port:
            yield port


@pytest.mark.parametrize("path", ["/api/v1/tickets/", "/api/v1/no-such-endpoint/"])
def test_a_100_mb_api_body_is_refused_at_once_without_being_sent(web, path):
    answer, seconds = raw_head(
        web, path, {"Content-Type": "application/json", "Content-Length": str(HUNDRED_MB)}
    )

    status, headers, body = parsed(answer)
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "detail": "The request body is too large.",
        "code": "request_too_large",
    }
    assert seconds < 2


def test_a_100_mb_form_is_refused_with_the_sites_page(web):
    answer, seconds = raw_head(
        web,
        "/tickets/new/",
        {
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(HUNDRED_MB),
            "Accept-Language": "it",
        },
    )

    status, headers, body = parsed(answer)
    assert status == 413
    assert headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in headers["content-security-policy"]
    page = body.decode()
    assert '<html lang="it">' in page and "troppo grande" in page
    assert seconds < 2


# --- A body without a declared length, through the product's ASGI application ----------------


def http_scope(path: str) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/api/v1/tickets/", "application/json"), ("/tickets/new/", "text/html")],
)
def test_an_endless_chunked_body_is_stopped_once_it_passes_the_cap(settings, path, content_type):
    from helpdesk.asgi import application

    settings.REQUEST_MAX_BYTES = 1024 * 1024
    pulled = 0
    sent = []

    async def receive():
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": True}

    async def send(message):
        sent.append(message)

    async def scenario():
        await asyncio.wait_for(application(http_scope(path), receive, send), timeout=10)

    async_to_sync(scenario)()

    assert pulled == settings.REQUEST_MAX_BYTES // CHUNK + 1
    start = sent[0]
    assert start["type"] == "http.response.start" and start["status"] == 413
    assert dict(start["headers"])[b"content-type"].decode().startswith(content_type)


# --- The WSGI entry ---------------------------------------------------------------------------


class Untouchable(io.RawIOBase):
    """A request body that must not be read."""

    def read(self, size=-1):
        raise AssertionError("the body was read")

    readline = readinto = read


def wsgi_call(path: str, length: int, body=None) -> tuple[str, dict[str, str], bytes]:
    from helpdesk.wsgi import application

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(length),
        "wsgi.input": Untouchable() if body is None else body,
        "HTTP_HOST": "testserver",
    }
    wsgiref.util.setup_testing_defaults(environ)
    answered = {}

    def start_response(status, headers, exc_info=None):
        answered["status"], answered["headers"] = status, dict(headers)

    body = b"".join(application(environ, start_response))
    return answered["status"], answered["headers"], body


# A WSGI request closes the database connection when it ends: nothing may be left uncommitted.
@pytest.mark.django_db(transaction=True)
def test_the_wsgi_entry_refuses_a_declared_100_mb_body_unread():
    status, headers, body = wsgi_call("/api/v1/tickets/", HUNDRED_MB)

    assert status.startswith("413")
    assert json.loads(body)["code"] == "request_too_large"

    status, headers, _body = wsgi_call("/accounts/login/", HUNDRED_MB)
    assert status.startswith("413") and headers["Content-Type"].startswith("text/html")


@pytest.mark.django_db(transaction=True)
def test_a_body_within_the_cap_goes_through():
    assert settings.REQUEST_MAX_BYTES == (
        settings.ATTACHMENT_MAX_BYTES * MAX_FILES_PER_MESSAGE + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    )
    body = json.dumps({"username": "nobody", "password": "guess"}).encode()

    status, _headers, answer = wsgi_call("/api/v1/auth/token/", len(body), io.BytesIO(body))

    assert status.startswith("400") and json.loads(answer)["code"] != "request_too_large"
