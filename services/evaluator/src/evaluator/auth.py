"""Bearer-token authentication of every EvaluatorService call.

`AuthGuard` wraps the servicer: each RPC first reads the caller's ``authorization`` metadata
("Bearer <token>") and compares it with MAESTRO_API_TOKEN in constant time (`hmac.compare_digest`);
a missing or wrong token answers UNAUTHENTICATED before the servicer method runs, so nothing is
executed and no job is created. Failures are counted (maestro_evaluator_auth_failures_total).

The gRPC health service and reflection stay open: Kubernetes probes and load balancers call health
without credentials, and reflection only describes the public contract (proto/), no data.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from maestro_common.errors import Unauthenticated

AUTH_METADATA_KEY = "authorization"
SCHEME = "bearer "


def bearer_token(metadata) -> str | None:
    """The token of an "authorization: Bearer <token>" metadata entry, or None."""
    for key, value in metadata or ():
        if key.lower() == AUTH_METADATA_KEY and isinstance(value, str) and value.lower().startswith(SCHEME):
            return value[len(SCHEME):].strip()
    return None


class TokenCheck:
    """Compares callers' tokens with the configured one; `expected` None means authentication is off."""

    def __init__(self, expected: str | None, on_failure: Callable[[str], None] = lambda reason: None):
        self._expected = expected.encode() if expected else None
        self._on_failure = on_failure

    @property
    def enabled(self) -> bool:
        return self._expected is not None

    def check(self, context) -> None:
        """Raise Unauthenticated unless the call carries the expected bearer token."""
        if self._expected is None:
            return
        token = bearer_token(context.invocation_metadata())
        if token is None:
            self._on_failure("missing")
            raise Unauthenticated("no bearer token: send metadata 'authorization: Bearer <token>' with the "
                                  "evaluator's API token (MAESTRO_API_TOKEN on the client)")
        if not hmac.compare_digest(token.encode(), self._expected):
            self._on_failure("wrong")
            raise Unauthenticated("the bearer token is not valid for this evaluator; check MAESTRO_API_TOKEN")


def guard(servicer, check: TokenCheck, methods: tuple[str, ...]):
    """A servicer whose `methods` check the token before delegating to `servicer`."""

    class AuthGuard(type(servicer)):
        def __init__(self) -> None:  # no parent init: the wrapped servicer holds the state
            pass

        def __getattr__(self, name):
            return getattr(servicer, name)

    wrapped = AuthGuard()

    def make(name: str):
        inner = getattr(servicer, name)

        def method(request, context):
            check.check(context)
            return inner(request, context)

        method.__name__ = name
        return method

    for name in methods:
        setattr(wrapped, name, make(name))
    return wrapped
