"""Hand-built contexts for tests of generated code (the contract's own helpers)."""

from maestro_common.generated.contract import BASE_SNAPSHOT, make_context, make_snapshot

snapshot = make_snapshot
context = make_context

__all__ = ["BASE_SNAPSHOT", "context", "snapshot"]
