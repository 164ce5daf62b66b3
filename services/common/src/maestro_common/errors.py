"""Domain errors, and the one table that maps them to gRPC status codes.

Logic modules raise these (they never import grpc); the shared servicer wrapper in
`maestro_common.runtime` turns them into the status code named here, with the message as details.
Every message should tell a person what to change.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service reports to its caller. `code` is a gRPC status name."""

    code = "INTERNAL"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """The request is malformed; `field` names the offending field (dotted path)."""

    code = "INVALID_ARGUMENT"

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(DomainError):
    """An id or URI that the caller gave does not exist."""

    code = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    """The request is well-formed but the system is not in a state to do it."""

    code = "FAILED_PRECONDITION"


class CorruptArtifact(DomainError):
    """An artifact's bytes do not match the sha256 it was referenced with: refused, never used."""

    code = "DATA_LOSS"


class ResourceExhausted(DomainError):
    """Out of a resource (disk, queue slots, quota)."""

    code = "RESOURCE_EXHAUSTED"


class Unavailable(DomainError):
    """A dependency (another service, the LLM endpoint) cannot be reached right now; retrying may help."""

    code = "UNAVAILABLE"


class Unimplemented(DomainError):
    """The RPC is part of the contract but this release does not serve it yet."""

    code = "UNIMPLEMENTED"


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Cancelled(DomainError):
    """Raised inside a job handler when the job was cancelled; the job ends CANCELLED."""

    code = "CANCELLED"


class DeadlineExceeded(DomainError):
    code = "DEADLINE_EXCEEDED"


class Internal(DomainError):
    code = "INTERNAL"


# The one table from domain error to gRPC status name. Anything not a DomainError is INTERNAL.
STATUS_BY_ERROR: dict[type[DomainError], str] = {
    cls: cls.code
    for cls in (
        InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, CorruptArtifact,
        ResourceExhausted, Unavailable, Unimplemented, PermissionDenied, Unauthenticated,
        Cancelled, DeadlineExceeded, Internal,
    )
}


def status_name(error: BaseException) -> str:
    """The gRPC status name for an exception (INTERNAL for anything that is not a DomainError)."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return "INTERNAL"

