"""Named errors of the engine; the CLI and the server map them to messages and status codes."""

from __future__ import annotations


class GoldkeyError(Exception):
    """Base class: a problem a user or client caused, with a message fit to show them."""

    code = "error"

    def __init__(self, message: str, details: list[dict] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(GoldkeyError):
    code = "not_found"


class Forbidden(GoldkeyError):
    code = "forbidden"


class Conflict(GoldkeyError):
    """The task was already done or the instance changed under us; nothing was written."""

    code = "conflict"


class Unavailable(GoldkeyError):
    """The database cannot be reached (a PostgreSQL server down or refusing); nothing was written."""

    code = "unavailable"


class Invalid(GoldkeyError):
    """Input failed validation; `details` is `[{field, message}]`."""

    code = "invalid"


class DefinitionError(GoldkeyError):
    """Definitions do not load or lint clean; `problems` holds every `Problem`."""

    code = "definition"

    def __init__(self, problems: list) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class ExpressionError(GoldkeyError):
    """An expression failed at run time (a missing value, a type mismatch, a limit)."""

    code = "expression"
