"""The REST API, `/api/v1/`, per resource, with its OpenAPI document; and the public shapes of
API.md that the live sockets render too. An interface: it parses, checks, calls the use
cases and selectors, and renders."""
