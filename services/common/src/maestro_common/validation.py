"""Request checks shared by the servicers. Each raises InvalidArgument naming the field."""

from __future__ import annotations

import re

from maestro_common.errors import InvalidArgument

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_TEXT = 64 * 1024
"""Longest free-text field accepted (characters)."""
MAX_REQUEST_ID = 128


def require_range(field: str, value: int | float, low: int | float, high: int | float, *, zero_means: str = "") -> None:
    """`value` must lie in [low, high]; when `zero_means` is given, 0 is also accepted (a default)."""
    if zero_means and value == 0:
        return
    if not low <= value <= high:
        default = f" (or 0 for {zero_means})" if zero_means else ""
        raise InvalidArgument(field, f"{value} is out of range; use {low}..{high}{default}")


def require_artifact(field: str, ref, *, required: bool = True) -> bool:
    """Check an ArtifactRef message; returns whether one was given."""
    if not ref.uri and not ref.sha256:
        if required:
            raise InvalidArgument(field, "required: give the uri and sha256 of an artifact")
        return False
    if not ref.uri:
        raise InvalidArgument(f"{field}.uri", "required")
    if len(ref.uri) > 4096:
        raise InvalidArgument(f"{field}.uri", "longer than 4096 characters")
    if not _SHA256.match(ref.sha256):
        raise InvalidArgument(f"{field}.sha256", "must be 64 lowercase hex digits (the artifact's sha256)")
    return True


def require_text(field: str, value: str, *, required: bool = False, max_len: int = MAX_TEXT) -> None:
    if required and not value.strip():
        raise InvalidArgument(field, "required")
    if len(value) > max_len:
        raise InvalidArgument(field, f"{len(value)} characters is over the limit of {max_len}")


def require_request_id(value: str) -> str | None:
    """The idempotency key, or None when absent."""
    require_text("request_id", value, max_len=MAX_REQUEST_ID)
    return value or None
