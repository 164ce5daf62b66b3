"""codegen settings (environment variables with the MAESTRO_ prefix)."""

from __future__ import annotations

from maestro_common.settings import settings_for


class CodegenSettings(settings_for("codegen")):
    """Only the shared settings so far; code generation adds its own here."""
