"""A keep-alive HTTP client from the standard library: the load a benchmark puts on the server."""

import http.client
import json
import time
import urllib.parse


class HttpClient:
    """One keep-alive connection, as a browser or an API client holds one. Standard library
    only, so the client costs the shared CPUs as little as it can."""

    def __init__(self, port: int, *, token: str | None = None, cookie: str | None = None):
        self.port = port
        self.headers = {"Host": "127.0.0.1", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Token {token}"
        if cookie:
            self.headers["Cookie"] = cookie
            self.headers["Accept"] = "text/html"
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes, float]:
        """Status, body and seconds from sending the request to the last byte of the answer."""
        headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (http.client.HTTPException, ConnectionError):
            self.connection.close()  # the server closed a kept-alive connection: once more
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        return response.status, data, time.perf_counter() - started

    def close(self) -> None:
        self.connection.close()


def path_with(path: str, **params: str) -> str:
    return f"{path}?{urllib.parse.urlencode(params)}" if params else path
