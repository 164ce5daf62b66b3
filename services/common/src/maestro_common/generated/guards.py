"""Run-time guards that instrumented generated code calls: the step budget and size checks.

The loader rewrites generated code so that every function call and loop iteration calls a step
counter, and so that ``*``, ``**``, ``<<`` and ``+`` go through the size-checked functions below;
`range` is replaced by a length-capped one. A call that goes over a limit raises `BudgetExceeded`.
What these do not bound: the time or memory of one builtin call on objects built within the limits
(for instance ``str`` of a deeply shared nested list). Unit tests run in the sandbox process, with
OS limits, before code is loaded in-process; these guards stop runaway loops and accidental
blow-ups on the hot path, they are not a substitute for that sandbox.
"""

from __future__ import annotations

from collections.abc import Callable

from maestro_common.errors import ResourceExhausted

DEFAULT_STEP_LIMIT = 10_000
"""Function calls plus loop iterations (comprehensions included) allowed in one call."""
MAX_SEQUENCE_LENGTH = 100_000
"""Longest str, list, tuple or range that `*`, `+` or `range` may produce."""
MAX_INT_BITS = 4_096
"""Largest integer, in bits, that `*`, `**` or `<<` may produce."""

_SEQUENCES = (str, list, tuple, bytes)


class BudgetExceeded(ResourceExhausted):
    """Generated code went over its per-call step budget or a size limit."""


def step_counter(limit: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """(tick, reset): `tick` counts one step and raises past `limit`; `reset` starts a new call."""
    remaining = limit

    def tick() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining < 0:
            raise BudgetExceeded(f"more than {limit} steps (loop iterations plus function calls) in one "
                                 f"call; make loops shorter or end them")

    def reset() -> None:
        nonlocal remaining
        remaining = limit

    return tick, reset


def _check_length(length: int, operation: str) -> None:
    """Refuses a sequence longer than `MAX_SEQUENCE_LENGTH`."""
    if length > MAX_SEQUENCE_LENGTH:
        raise BudgetExceeded(f"{operation} would build a sequence of {length} elements; the limit is "
                             f"{MAX_SEQUENCE_LENGTH}")


def _check_bits(bits: int, operation: str) -> None:
    """Refuses an integer wider than `MAX_INT_BITS`."""
    if bits > MAX_INT_BITS:
        raise BudgetExceeded(f"{operation} would build an integer of about {bits} bits; the limit is {MAX_INT_BITS}")


def guarded_mul(a: object, b: object) -> object:
    """a * b, refusing huge repeated sequences and huge integers."""
    if isinstance(a, _SEQUENCES) and isinstance(b, int):
        _check_length(len(a) * b, "'*'")
    elif isinstance(b, _SEQUENCES) and isinstance(a, int):
        _check_length(len(b) * a, "'*'")
    elif isinstance(a, int) and isinstance(b, int):
        _check_bits(a.bit_length() + b.bit_length(), "'*'")
    return a * b  # type: ignore[operator]


def guarded_pow(a: object, b: object) -> object:
    """a ** b, refusing huge integers."""
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        _check_bits(a.bit_length() * b, "'**'")
    return a ** b  # type: ignore[operator]


def guarded_lshift(a: object, b: object) -> object:
    """a << b, refusing huge integers."""
    if isinstance(a, int) and isinstance(b, int) and b > 0:
        _check_bits(a.bit_length() + b, "'<<'")
    return a << b  # type: ignore[operator]


def guarded_add(a: object, b: object) -> object:
    """a + b, refusing sequences longer than the limit."""
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _check_length(len(a) + len(b), "'+'")
    return a + b  # type: ignore[operator]


def capped_range(*args: int) -> range:
    """range(...) refusing more than `MAX_SEQUENCE_LENGTH` elements."""
    values = range(*args)
    try:
        length = len(values)
    except OverflowError:
        length = MAX_SEQUENCE_LENGTH + 1
    _check_length(length, "range(...)")
    return values
