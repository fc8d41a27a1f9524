"""Errors a use case raises for its caller to turn into a 4xx: one vocabulary for all
interfaces (pages, API, email, sockets)."""


class ServiceError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, detail: str, *, code: str | None = None, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        if code:
            self.code = code


class NotAllowed(ServiceError):
    """The caller may see the ticket but may not do this to it."""

    status = 403
    code = "permission_denied"


class Conflict(ServiceError):
    """The ticket's state does not allow this now (e.g. replying to a closed ticket)."""

    status = 409
    code = "conflict"
